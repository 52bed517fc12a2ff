// The JSON record of a classified event: the canonical event plus its classification.
#ifndef BOUNCESTREAM_STREAM_ENCODE_H_
#define BOUNCESTREAM_STREAM_ENCODE_H_

#include <string>

#include "classify/classification.h"
#include "classify/event.h"
#include "stream/json_writer.h"

namespace bouncestream::stream {

void WriteEvent(JsonWriter& w, const classify::BounceEvent& ev);  // the members, no braces
void WriteClassification(JsonWriter& w, const classify::Classification& c);  // an object
// {"id":…,…,"classification":{…}} appended to `out`.
void EncodeClassified(const classify::BounceEvent& ev, const classify::Classification& c,
                      std::string* out);

// Where a classified event came from (the `source` object of the classified topic's record).
struct SourceRef {
  std::string_view topic;
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  std::string_view format;
};
// The value of a `bouncestream.classified` record: the event, its classification and its source.
// `header`, when given, receives the record's observation header (kObservationHeader in
// stream/observe.h): what the decision stage needs from the record, as references into the JSON
// appended to `out` (or inline bytes), so that it does not parse the JSON again. It is left empty
// when the JSON had to repair a byte (invalid UTF-8 anywhere in the event) or when escaped strings
// would make it larger than 16 KiB: that record goes without one.
void EncodeClassifiedRecord(const classify::BounceEvent& ev, const classify::Classification& c,
                            const SourceRef& source, std::string* out,
                            std::string* header = nullptr);

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_ENCODE_H_
