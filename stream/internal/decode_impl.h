// Shared machinery of the input adapters (one file per format in stream/decode/).
#ifndef BOUNCESTREAM_STREAM_INTERNAL_DECODE_IMPL_H_
#define BOUNCESTREAM_STREAM_INTERNAL_DECODE_IMPL_H_

#include <simdjson.h>

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "classify/event.h"
#include "stream/arena.h"
#include "stream/decode.h"

namespace bouncestream::stream {

using classify::BounceEvent;
using DecodeStatus = std::expected<void, DecodeError>;

struct Decoder::Impl {
  simdjson::ondemand::parser parser;
  std::string padded;  // payload copy with simdjson's padding
  Arena arena;

  // Copies `payload` into the padded buffer and starts an On-Demand document.
  simdjson::simdjson_result<simdjson::ondemand::document> Iterate(std::string_view payload);
};

namespace decode {

DecodeError Error(std::string_view kind, std::string detail);
DecodeError JsonError(simdjson::error_code code, std::string_view where);

// Reads a JSON string value into the arena (unescaped). Numbers and booleans are accepted too
// and kept as their raw text, since producers disagree on types (e.g. smtp codes as strings).
simdjson::error_code ReadText(simdjson::ondemand::value value, Arena& arena, std::string_view* out);
// Reads an integer given as a number or a numeric string.
simdjson::error_code ReadInt(simdjson::ondemand::value value, std::int64_t* out);
// Event time from a JSON value: Unix seconds or milliseconds (number or numeric string) or an
// RFC 3339 / "YYYY-MM-DD HH:MM:SS" string. Returns false when it cannot be read.
bool ReadTime(simdjson::ondemand::value value, std::int64_t* ms);
bool ParseTimeText(std::string_view text, std::int64_t* ms);

// Splits "550 5.1.1 text" into code, enhanced code (views into `text`).
void SplitReply(std::string_view text, int* code, std::string_view* enhanced);

// Each adapter: decodes one payload, appends events.
DecodeStatus Canonical(Decoder::Impl& impl, std::string_view payload,
                       std::vector<BounceEvent>* out);

// Guesses the format of a payload from cheap byte checks.
InputFormat Detect(std::string_view payload);

}  // namespace decode
}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_INTERNAL_DECODE_IMPL_H_
