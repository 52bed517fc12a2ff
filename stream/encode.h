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
void EncodeClassifiedRecord(const classify::BounceEvent& ev, const classify::Classification& c,
                            const SourceRef& source, std::string* out);

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_ENCODE_H_
