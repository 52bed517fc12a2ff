// Input adapters: each source's own payload -> canonical BounceEvents. One Decoder per worker
// thread: it reuses one simdjson parser, one padded buffer and one arena across messages.
#ifndef BOUNCESTREAM_STREAM_DECODE_H_
#define BOUNCESTREAM_STREAM_DECODE_H_

#include <expected>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "classify/event.h"
#include "stream/arena.h"

namespace bouncestream::stream {

enum class InputFormat {
  kAuto,
  kCanonical,
  kKumo,
  kPowerMta,
  kPostfix,
  kPostal,
  kSes,
  kSendgrid,
  kMailgun,
  kPostmark,
  kSparkpost,
};
std::string_view ToString(InputFormat format);
std::optional<InputFormat> ParseInputFormat(std::string_view name);

// Why a payload could not be decoded. `kind` is a short stable token from a closed set (used for
// dead-letter headers and metric labels); `detail` is for people and never holds an address.
struct DecodeError {
  std::string_view kind;  // "json_syntax", "not_object", "missing_field", "bad_field",
                          // "unknown_format", "too_large", "empty", ...
  std::string detail;
};

class Decoder {
 public:
  Decoder();
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  // Decodes one payload (one Kafka message or one input line) into zero or more events appended
  // to `out`. Returns the format that was used. The events' views stay valid until Reset().
  std::expected<InputFormat, DecodeError> Decode(std::string_view payload, InputFormat format,
                                                 std::vector<classify::BounceEvent>* out);
  // Forgets every event decoded so far and recycles their memory.
  void Reset();

  static constexpr std::size_t kMaxPayloadBytes = 4 * 1024 * 1024;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_DECODE_H_
