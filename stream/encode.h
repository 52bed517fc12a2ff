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

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_ENCODE_H_
