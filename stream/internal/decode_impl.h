// Shared machinery of the input adapters (one file per format in stream/decode/).
#ifndef BOUNCESTREAM_STREAM_INTERNAL_DECODE_IMPL_H_
#define BOUNCESTREAM_STREAM_INTERNAL_DECODE_IMPL_H_

#include <simdjson.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <array>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "classify/event.h"
#include "stream/arena.h"
#include "stream/decode.h"

namespace bouncestream::stream {

using classify::BounceEvent;
using DecodeStatus = std::expected<void, DecodeError>;

// PowerMTA accounting CSV: the column layout of the last header line this Decoder saw. It
// survives Reset() (which only recycles event bytes), so a file's header applies to its records.
struct PowerMtaLayout {
  static constexpr std::size_t kRoles = 16;  // decode::PmtaRole in powermta.cc
  bool seen = false;
  std::size_t columns = 0;
  std::array<int, kRoles> column{};  // column index of each role, -1 when absent
};

struct Decoder::Impl {
  simdjson::ondemand::parser parser;
  Arena arena;
  PowerMtaLayout pmta;

  // Copies `payload` into the arena with simdjson's padding and starts an On-Demand document.
  // The copy lives until Reset(), so string values without escapes are read as views into it
  // (ReadString, ReadText) instead of being unescaped and copied again.
  simdjson::simdjson_result<simdjson::ondemand::document> Iterate(std::string_view payload);
  // The same for a JSON document held in a string (SES: the SNS `Message`); the parser's
  // previous document must be finished.
  simdjson::simdjson_result<simdjson::ondemand::document> IterateNested(std::string_view json) {
    return Iterate(json);
  }
};

namespace decode {

DecodeError Error(std::string_view kind, std::string detail);
DecodeError JsonError(simdjson::error_code code, std::string_view where);

// Reads a JSON string value (unescaped): a view into the document's padded copy when the string
// holds no escape, else unescaped into the arena; valid until Reset(). Numbers and booleans are
// accepted too and kept as their raw text (a view into the copy), since producers disagree on
// types (e.g. smtp codes as strings).
simdjson::error_code ReadText(simdjson::ondemand::value value, Arena& arena, std::string_view* out);
// A value known to be a string: a view into the document's copy when it holds no escape, else
// unescaped by simdjson and, when `arena` is given, copied into it (else a view into the
// parser's string buffer, valid until the next document).
simdjson::error_code StringValue(simdjson::ondemand::value value, Arena* arena,
                                 std::string_view* out);
// Reads an integer given as a number or a numeric string.
simdjson::error_code ReadInt(simdjson::ondemand::value value, std::int64_t* out);
// Event time from a JSON value: Unix seconds or milliseconds (number or numeric string) or an
// RFC 3339 / "YYYY-MM-DD HH:MM:SS" string. Returns false when it cannot be read.
bool ReadTime(simdjson::ondemand::value value, std::int64_t* ms);
bool ParseTimeText(std::string_view text, std::int64_t* ms);
// Reads exactly `len` decimal digits at `pos`; false if any is missing or not a digit.
bool FixedDigits(std::string_view s, std::size_t pos, std::size_t len, int* out);

// Splits "550 5.1.1 text" into code, enhanced code (views into `text`).
void SplitReply(std::string_view text, int* code, std::string_view* enhanced);

// --- Helpers shared by the MTA/ESP adapters (stream/decode/common.cc) ---

// A JSON string (as ReadText reads it: valid until Reset()), or null (empty). Unlike ReadText,
// numbers, booleans, arrays and objects are INCORRECT_TYPE: for addresses and host names a
// number is a bug.
simdjson::error_code ReadString(simdjson::ondemand::value value, Arena& arena,
                                std::string_view* out);
// A JSON string or null without copying into the arena: a view into the document's copy, or,
// for a string with escapes, into the parser's string buffer, valid until the parser starts the
// next document. For discriminators that are compared on the spot.
simdjson::error_code PeekString(simdjson::ondemand::value value, std::string_view* out);
// True when the value is JSON null (the value is consumed then).
bool IsNull(simdjson::ondemand::value value);
// The document as a top-level object, or not_object / json_syntax.
DecodeStatus RootObject(simdjson::ondemand::document& doc, std::string_view what,
                        simdjson::ondemand::object* obj);
// After the top-level value was consumed: an error unless only whitespace follows.
DecodeStatus ExpectEnd(simdjson::ondemand::document& doc);

// Webhooks that post one event object or an array of them (SendGrid, SparkPost): calls `one`
// for the object, or for each element of a non-empty array of objects; `shape` is the error
// detail when the document is neither.
using EventObjectFn = DecodeStatus (*)(simdjson::ondemand::value, Arena&,
                                       std::vector<BounceEvent>*);
DecodeStatus ForEachEventObject(Decoder::Impl& impl, std::string_view payload,
                                std::string_view shape, EventObjectFn one,
                                std::vector<BounceEvent>* out);
// Builds a time_ms from a JSON value, or a bad_field error naming `field`.
DecodeStatus ReadTimeField(simdjson::ondemand::value value, std::string_view field,
                           std::int64_t* ms);

bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string_view Trim(std::string_view s);
// Drops an RFC 3464 diagnostic-type prefix: "smtp; 550 ..." -> "550 ...", "dns; mx.example".
std::string_view StripDiagnosticType(std::string_view s);
// "192.0.2.1:25" -> "192.0.2.1", "[2001:db8::1]:25" -> "2001:db8::1"; a bare IPv6 is kept.
std::string_view StripPort(std::string_view s);
// "mx.example.com." -> "mx.example.com".
std::string_view StripTrailingDot(std::string_view s);
// True for a dotted-quad or an address with two or more ':' (IPv6).
bool LooksLikeIp(std::string_view s);
// True for "d.d.d" status codes (class 2, 4 or 5).
bool LooksLikeEnhancedCode(std::string_view s);
// The code if it is a plausible SMTP reply code (200..599), else 0.
int SmtpCodeOrZero(std::int64_t code);
// "550" + "5.1.1" + "content" -> "550 5.1.1 content" in the arena (one allocation); empty or
// zero parts are left out and nothing is prefixed when `content` already starts with the code.
// `content` must already live in the arena (it is returned as it is when nothing is prefixed).
std::string_view ComposeReply(Arena& arena, int code, std::string_view enhanced,
                              std::string_view content);
// Fills smtp_code and enhanced_code from `text` where the source gave none.
void FillReplyCodes(BounceEvent* ev);
// "host.example (192.0.2.1)" or "192.0.2.1:25 (host.example)" -> host and address.
void SplitHostAndAddress(std::string_view s, std::string_view* host, std::string_view* address);

// Copies every field of `tmpl` into `ev` where `ev` has none (empty view, zero number); the type
// always comes from `tmpl`. For sources that list recipients apart from the shared fields.
void MergeMissing(const BounceEvent& tmpl, BounceEvent* ev);

// Status-returning wrappers of the readers above; `field` names the field in the error.
DecodeStatus GetString(simdjson::ondemand::value value, Arena& arena, std::string_view field,
                       std::string_view* out);
DecodeStatus GetText(simdjson::ondemand::value value, Arena& arena, std::string_view field,
                     std::string_view* out);
DecodeStatus GetPeek(simdjson::ondemand::value value, std::string_view field,
                     std::string_view* out);
DecodeStatus GetInt(simdjson::ondemand::value value, std::string_view field, std::int64_t* out);

// Index of the first '"' or '\\' in p[0..], scanning 16 bytes at a time. The caller guarantees
// that one of them occurs inside the padded document (stage 1 saw the closing quote of every
// string), so the reads never leave the padded buffer.
inline std::size_t QuoteOrBackslash(const char* p) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  for (std::size_t i = 0;; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const unsigned mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash))));
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(mask));
  }
#else
  std::size_t i = 0;
  while (p[i] != '"' && p[i] != '\\') ++i;
  return i;
#endif
}

// The key of a field: a view into the document when it holds no escape (the usual case: compared
// in place, as the raw-key loop of probe_parse does), else unescaped into the parser's buffer.
inline simdjson::error_code FieldKey(simdjson::ondemand::field& field, std::string_view* key) {
  const char* const raw = field.key().raw();
  // Stage 1 saw the closing quote and the buffer is padded: the scan stops inside the document.
  const std::size_t n = QuoteOrBackslash(raw);
  if (raw[n] == '"') {
    *key = std::string_view(raw, n);
    return simdjson::SUCCESS;
  }
  return field.unescaped_key().get(*key);
}

// Calls fn(key, value) -> DecodeStatus for each field of `obj` (raw-key loop; fields fn does not
// consume are skipped without recursion). Stops at the first error.
template <class Fn>
DecodeStatus ForEachField(simdjson::ondemand::object obj, std::string_view where, Fn&& fn) {
  for (auto result : obj) {
    simdjson::ondemand::field field;
    if (auto err = std::move(result).get(field)) return std::unexpected(JsonError(err, where));
    std::string_view key;
    if (auto err = FieldKey(field, &key)) return std::unexpected(JsonError(err, where));
    if (auto status = fn(key, field.value()); !status) return status;
  }
  return {};
}

// The same for a value that must be an object; null counts as an empty object.
template <class Fn>
DecodeStatus ForEachFieldOf(simdjson::ondemand::value value, std::string_view where, Fn&& fn) {
  if (IsNull(value)) return {};
  simdjson::ondemand::object obj;
  if (auto err = value.get_object().get(obj)) return std::unexpected(JsonError(err, where));
  return ForEachField(obj, where, std::forward<Fn>(fn));
}

// Calls fn(element) -> DecodeStatus for each element of a value that must be an array (null
// counts as empty).
template <class Fn>
DecodeStatus ForEachElement(simdjson::ondemand::value value, std::string_view where, Fn&& fn) {
  if (IsNull(value)) return {};
  simdjson::ondemand::array arr;
  if (auto err = value.get_array().get(arr)) return std::unexpected(JsonError(err, where));
  for (auto element : arr) {
    simdjson::ondemand::value v;
    if (auto err = element.get(v)) return std::unexpected(JsonError(err, where));
    if (auto status = fn(v); !status) return status;
  }
  return {};
}

// Each adapter: decodes one payload, appends events.
DecodeStatus Canonical(Decoder::Impl& impl, std::string_view payload,
                       std::vector<BounceEvent>* out);

// Guesses the format of a payload from cheap byte checks.
InputFormat Detect(std::string_view payload);

}  // namespace decode
}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_INTERNAL_DECODE_IMPL_H_
