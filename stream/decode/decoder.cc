// Decoder front: format names, detection, dispatch and the shared readers.
#include <array>
#include <charconv>
#include <chrono>
#include <cstring>

#if defined(__AVX2__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "stream/internal/decode_formats.h"
#include "stream/internal/decode_impl.h"

namespace bouncestream::stream {

namespace {
constexpr std::array<std::string_view, 11> kFormatNames{
    "auto", "canonical", "kumomta", "powermta", "postfix",  "postal",
    "ses",  "sendgrid",  "mailgun", "postmark", "sparkpost"};
}  // namespace

std::string_view ToString(InputFormat format) {
  return kFormatNames[static_cast<std::size_t>(format)];
}

std::optional<InputFormat> ParseInputFormat(std::string_view name) {
  for (std::size_t i = 0; i < kFormatNames.size(); ++i) {
    if (kFormatNames[i] == name) return static_cast<InputFormat>(i);
  }
  if (name == "kumo") return InputFormat::kKumo;
  if (name == "pmta") return InputFormat::kPowerMta;
  if (name == "json") return InputFormat::kCanonical;
  return std::nullopt;
}

simdjson::simdjson_result<simdjson::ondemand::document> Decoder::Impl::Iterate(
    std::string_view payload) {
  // One copy with simdjson's padding, in the arena: string values without escapes are read as
  // views into it. The padding is zeroed so the wide reads past the end never see stale bytes.
  const std::size_t capacity = payload.size() + simdjson::SIMDJSON_PADDING;
  char* copy = arena.Allocate(capacity);
  if (!payload.empty()) std::memcpy(copy, payload.data(), payload.size());
  std::memset(copy + payload.size(), 0, simdjson::SIMDJSON_PADDING);
  return parser.iterate(copy, payload.size(), capacity);
}

Decoder::Decoder() : impl_(std::make_unique<Impl>()) {}
Decoder::~Decoder() = default;

void Decoder::Reset() { impl_->arena.Reset(); }

std::expected<InputFormat, DecodeError> Decoder::Decode(std::string_view payload,
                                                        InputFormat format,
                                                        std::vector<classify::BounceEvent>* out) {
  if (payload.size() > kMaxPayloadBytes) {
    return std::unexpected(
        decode::Error("too_large", "payload of " + std::to_string(payload.size()) +
                                       " bytes exceeds " + std::to_string(kMaxPayloadBytes)));
  }
  std::size_t first = 0;
  while (first < payload.size() && (payload[first] == ' ' || payload[first] == '\t' ||
                                    payload[first] == '\r' || payload[first] == '\n')) {
    ++first;
  }
  if (first == payload.size()) return std::unexpected(decode::Error("empty", "empty payload"));
  if (format == InputFormat::kAuto) format = decode::Detect(payload.substr(first));
  const std::size_t before = out->size();
  DecodeStatus status;
  switch (format) {
    case InputFormat::kCanonical:
      status = decode::Canonical(*impl_, payload, out);
      break;
    case InputFormat::kKumo:
      status = decode::Kumo(*impl_, payload, out);
      break;
    case InputFormat::kPowerMta:
      status = decode::PowerMta(*impl_, payload, out);
      break;
    case InputFormat::kPostfix:
      status = decode::Postfix(*impl_, payload, out);
      break;
    case InputFormat::kPostal:
      status = decode::Postal(*impl_, payload, out);
      break;
    case InputFormat::kSes:
      status = decode::Ses(*impl_, payload, out);
      break;
    case InputFormat::kSendgrid:
      status = decode::Sendgrid(*impl_, payload, out);
      break;
    case InputFormat::kMailgun:
      status = decode::Mailgun(*impl_, payload, out);
      break;
    case InputFormat::kPostmark:
      status = decode::Postmark(*impl_, payload, out);
      break;
    case InputFormat::kSparkpost:
      status = decode::Sparkpost(*impl_, payload, out);
      break;
    default:
      status = std::unexpected(decode::Error(
          "unknown_format", "no adapter for format '" + std::string(ToString(format)) + "'"));
  }
  if (!status) {
    out->resize(before);  // all or nothing per payload
    return std::unexpected(std::move(status.error()));
  }
  return format;
}

namespace decode {

DecodeError Error(std::string_view kind, std::string detail) { return {kind, std::move(detail)}; }

DecodeError JsonError(simdjson::error_code code, std::string_view where) {
  std::string_view kind = "json_syntax";
  if (code == simdjson::INCORRECT_TYPE) kind = "bad_field";
  if (code == simdjson::NO_SUCH_FIELD) kind = "missing_field";
  if (code == simdjson::UTF8_ERROR) kind = "invalid_utf8";
  if (code == simdjson::DEPTH_ERROR) kind = "too_deep";
  std::string detail(where);
  detail += ": ";
  detail += simdjson::error_message(code);
  return {kind, std::move(detail)};
}

simdjson::error_code StringValue(simdjson::ondemand::value value, Arena* arena,
                                 std::string_view* out) {
  // The token starts at the opening quote. Stage 1 saw its closing quote and the document is
  // padded, so one scan for the first '"' or '\\' after it stays inside the buffer: a '"' first
  // means the string holds no escape and ends there.
  const char* const raw = value.raw_json_token().data();
  if (raw[0] == '"') {
    const std::size_t n = QuoteOrBackslash(raw + 1);
    if (raw[1 + n] == '"') {
      // Nothing to unescape, and UTF-8 was validated with the document. Consuming the value
      // (without unescaping) lets the iterator step over it instead of skipping it later.
      simdjson::ondemand::raw_json_string ignored;
      if (auto err = value.get_raw_json_string().get(ignored)) return err;
      *out = std::string_view(raw + 1, n);
      return simdjson::SUCCESS;
    }
  }
  std::string_view s;
  if (auto err = value.get_string().get(s)) return err;
  *out = arena != nullptr ? arena->Copy(s) : s;
  return simdjson::SUCCESS;
}

simdjson::error_code ReadText(simdjson::ondemand::value value, Arena& arena,
                              std::string_view* out) {
  simdjson::ondemand::json_type type;
  if (auto err = value.type().get(type)) return err;
  switch (type) {
    case simdjson::ondemand::json_type::string:
      return StringValue(value, &arena, out);
    case simdjson::ondemand::json_type::number:
    case simdjson::ondemand::json_type::boolean: {
      std::string_view raw = value.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\t' ||
                              raw.back() == '\r')) {
        raw.remove_suffix(1);
      }
      *out = raw;  // a view into the document's copy, which lives until Reset()
      return simdjson::SUCCESS;
    }
    case simdjson::ondemand::json_type::null:
      *out = {};
      return simdjson::SUCCESS;
    default:
      return simdjson::INCORRECT_TYPE;
  }
}

simdjson::error_code ReadInt(simdjson::ondemand::value value, std::int64_t* out) {
  simdjson::ondemand::json_type type;
  if (auto err = value.type().get(type)) return err;
  if (type == simdjson::ondemand::json_type::number) {
    double d;
    if (value.get_int64().get(*out) == simdjson::SUCCESS) return simdjson::SUCCESS;
    if (auto err = value.get_double().get(d)) return err;
    if (!(d > -9.2e18 && d < 9.2e18)) return simdjson::NUMBER_OUT_OF_RANGE;  // cast would be UB
    *out = static_cast<std::int64_t>(d);
    return simdjson::SUCCESS;
  }
  if (type == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (auto err = StringValue(value, nullptr, &s)) return err;
    if (s.empty()) {
      *out = 0;
      return simdjson::SUCCESS;
    }
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    if (ec != std::errc{} || p != s.data() + s.size()) return simdjson::INCORRECT_TYPE;
    return simdjson::SUCCESS;
  }
  if (type == simdjson::ondemand::json_type::null) {
    *out = 0;
    return simdjson::SUCCESS;
  }
  return simdjson::INCORRECT_TYPE;
}

namespace {

bool FromUnixNumber(double v, std::int64_t* ms) {
  // Seconds until the year 5138; anything larger is taken as milliseconds.
  const double m = v < 1e11 ? v * 1000.0 : v;
  // NaN, infinities and values outside int64 are refused (the cast would be undefined).
  if (!(m > -9.2e18 && m < 9.2e18)) return false;
  *ms = static_cast<std::int64_t>(m);
  return true;
}

}  // namespace

bool FixedDigits(std::string_view s, std::size_t pos, std::size_t len, int* out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool ParseTimeText(std::string_view s, std::int64_t* ms) {
  if (s.empty()) return false;
  // Unix seconds / milliseconds as text. A text that starts with four digits and a '-' cannot be
  // a number (the '-' follows a digit, so it is neither a sign nor an exponent's): the date path.
  int year_digits;
  if (!(s.size() > 4 && s[4] == '-' && FixedDigits(s, 0, 4, &year_digits))) {
    double v;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc{} && p == s.data() + s.size()) return FromUnixNumber(v, ms);
  }
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!FixedDigits(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !FixedDigits(s, 5, 2, &mo) ||
      s[7] != '-' || !FixedDigits(s, 8, 2, &d)) {
    return false;
  }
  std::size_t p = 10;
  if (p < s.size() && (s[p] == 'T' || s[p] == ' ')) {
    if (!FixedDigits(s, p + 1, 2, &h) || s.size() < p + 9 || s[p + 3] != ':' ||
        !FixedDigits(s, p + 4, 2, &mi) || s[p + 6] != ':' || !FixedDigits(s, p + 7, 2, &sec)) {
      return false;
    }
    p += 9;
  }
  int millis = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    int digits = 0;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') {
      if (digits < 3) millis = millis * 10 + (s[p] - '0');
      ++digits;
      ++p;
    }
    for (; digits < 3; ++digits) millis *= 10;
  }
  int offset_min = 0;
  if (p < s.size()) {
    if (s[p] == 'Z' || s[p] == 'z') {
      ++p;
    } else if (s[p] == '+' || s[p] == '-') {
      int oh, om = 0;
      if (!FixedDigits(s, p + 1, 2, &oh)) return false;
      std::size_t q = p + 3;
      if (q < s.size() && s[q] == ':') ++q;
      if (q < s.size() && !FixedDigits(s, q, 2, &om)) return false;
      offset_min = (oh * 60 + om) * (s[p] == '-' ? -1 : 1);
      p = q + (q < s.size() ? 2 : 0);
    } else if (s[p] == ' ') {
      p = s.size();  // trailing zone names are ignored (taken as UTC)
    }
  }
  if (p != s.size() || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return false;
  }
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return false;
  const auto days = sys_days{ymd}.time_since_epoch().count();
  *ms =
      ((static_cast<std::int64_t>(days) * 24 + h) * 3600 + mi * 60 + sec - offset_min * 60) * 1000 +
      millis;
  return true;
}

bool ReadTime(simdjson::ondemand::value value, std::int64_t* ms) {
  simdjson::ondemand::json_type type;
  if (value.type().get(type)) return false;
  if (type == simdjson::ondemand::json_type::number) {
    double v;
    if (value.get_double().get(v)) return false;
    return FromUnixNumber(v, ms);
  }
  if (type == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (StringValue(value, nullptr, &s)) return false;
    return ParseTimeText(s, ms);
  }
  return false;
}

void SplitReply(std::string_view text, int* code, std::string_view* enhanced) {
  std::size_t p = 0;
  while (p < text.size() && text[p] == ' ') ++p;
  if (p + 3 <= text.size() && text[p] >= '2' && text[p] <= '5' && text[p + 1] >= '0' &&
      text[p + 1] <= '9' && text[p + 2] >= '0' && text[p + 2] <= '9' &&
      (p + 3 == text.size() || text[p + 3] == ' ' || text[p + 3] == '-')) {
    *code = (text[p] - '0') * 100 + (text[p + 1] - '0') * 10 + (text[p + 2] - '0');
    p += 4;
    std::size_t q = p;
    while (q < text.size() && ((text[q] >= '0' && text[q] <= '9') || text[q] == '.')) ++q;
    std::string_view candidate = text.substr(p < text.size() ? p : text.size(), q - p);
    if (candidate.size() >= 5 && candidate[1] == '.') *enhanced = candidate;
  }
}

namespace {

// The quoted strings that tell the JSON formats apart (keys, and one value: "aws.ses").
enum Marker : unsigned {
  kTopicArn = 1u << 0,
  kMessage = 1u << 1,
  kType = 1u << 2,
  kNotificationType = 1u << 3,
  kEventType = 1u << 4,
  kMail = 1u << 5,
  kDetailType = 1u << 6,
  kAwsSes = 1u << 7,
  kSgId = 1u << 8,
  kEventData = 1u << 9,
  kRecordType = 1u << 10,
  kMsys = 1u << 11,
  kKumo = 1u << 12,
  kPayload = 1u << 13,
  kEvent = 1u << 14,
};

unsigned MarkerOf(std::string_view t) {
  // One switch on the length, then at most two compares.
  auto is = [t](std::string_view name) { return t == name; };
  switch (t.size()) {
    case 4:
      if (is("Type")) return kType;
      if (is("mail")) return kMail;
      if (is("msys")) return kMsys;
      return 0;
    case 5:
      if (is("event")) return kEvent;
      return 0;
    case 7:
      if (is("Message")) return kMessage;
      if (is("aws.ses")) return kAwsSes;
      if (is("payload")) return kPayload;
      return 0;
    case 8:
      if (is("TopicArn")) return kTopicArn;
      return 0;
    case 9:
      if (is("eventType")) return kEventType;
      return 0;
    case 10:
      if (is("RecordType")) return kRecordType;
      if (is("event-data")) return kEventData;
      return 0;
    case 11:
      if (is("detail-type")) return kDetailType;
      if (is("sg_event_id")) return kSgId;
      if (is("egress_pool")) return kKumo;
      return 0;
    case 12:
      if (is("peer_address")) return kKumo;
      if (is("num_attempts")) return kKumo;
      return 0;
    case 13:
      if (is("sg_message_id")) return kSgId;
      if (is("egress_source")) return kKumo;
      return 0;
    case 16:
      if (is("notificationType")) return kNotificationType;
      return 0;
    case 21:
      if (is("bounce_classification")) return kKumo;
      return 0;
    default:
      return 0;
  }
}

// SES comes first in Detect: once one of its marker sets is complete the answer is SES whatever
// else the payload holds, so the scan can stop (an SNS envelope's TopicArn usually precedes the
// long Message).
bool IsSes(unsigned m) {
  auto all = [m](unsigned bits) { return (m & bits) == bits; };
  return all(kTopicArn) || all(kMessage | kType) || all(kNotificationType) ||
         all(kEventType | kMail) || all(kDetailType | kAwsSes);
}

// One pass over the top-level quoted strings of a JSON payload (escaped quotes are skipped, so
// the contents of a JSON-in-a-string such as SNS's Message are not looked into). Outside a string
// only '"' matters; inside, '\\' escapes the next byte and '"' ends it. Only those two bytes
// change the state, so blocks of 32 (AVX2) or 16 (SSE2) bytes are handled from their quote and
// backslash bits alone, in order (no per-byte loop, also for blocks holding escapes).
unsigned JsonMarkers(std::string_view payload) {
  unsigned found = 0;
  const char* const p = payload.data();
  const std::size_t n = payload.size();
  bool in_string = false;
  std::size_t skip = static_cast<std::size_t>(-1);  // the byte after an escaping backslash
  std::size_t open = 0;  // index of the opening quote of the current string
  // One '"' or '\\' at q; true once an SES marker set is complete (nothing later can matter).
  auto step = [&](std::size_t q) {
    if (q == skip) return false;  // escaped
    if (!in_string) {
      if (p[q] == '"') {
        in_string = true;
        open = q;
      }
      return false;
    }
    if (p[q] == '\\') {
      skip = q + 1;
      return false;
    }
    in_string = false;
    const std::size_t len = q - open - 1;
    if (len > 24) return false;
    const unsigned m = MarkerOf(std::string_view(p + open + 1, len));
    if (m == 0) return false;
    found |= m;
    return IsSes(found);
  };
  auto bits = [&](std::size_t base, std::uint32_t mask) {
    while (mask != 0) {
      const std::size_t q = base + static_cast<std::size_t>(__builtin_ctz(mask));
      mask &= mask - 1;
      if (step(q)) return true;
    }
    return false;
  };
  std::size_t i = 0;
#if defined(__AVX2__)
  {
    const __m256i quote = _mm256_set1_epi8('"');
    const __m256i backslash = _mm256_set1_epi8('\\');
    for (; i + 32 <= n; i += 32) {
      const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
      const auto mask = static_cast<std::uint32_t>(_mm256_movemask_epi8(
          _mm256_or_si256(_mm256_cmpeq_epi8(v, quote), _mm256_cmpeq_epi8(v, backslash))));
      if (bits(i, mask)) return found;
    }
  }
#endif
#if defined(__SSE2__)
  {
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    for (; i + 16 <= n; i += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      const auto mask = static_cast<std::uint32_t>(_mm_movemask_epi8(
          _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash))));
      if (bits(i, mask)) return found;
    }
  }
#endif
  for (; i < n; ++i) {
    if ((p[i] == '"' || p[i] == '\\') && step(i)) return found;
  }
  return found;
}

}  // namespace

InputFormat Detect(std::string_view payload) {
  if (payload.empty()) return InputFormat::kCanonical;
  if (payload[0] != '{' && payload[0] != '[') {
    // PowerMTA accounting CSV starts with its record type (or the header's "type" column);
    // anything else that looks like a Postfix syslog line is Postfix.
    auto has = [payload](std::string_view s) { return payload.find(s) != std::string_view::npos; };
    const std::string_view head = payload.substr(0, payload.find(','));
    if (head.size() < payload.size() &&
        (head == "type" || head == "d" || head == "b" || head == "t" || head == "tq" ||
         head == "r" || head == "f" || head == "rb" || head == "rs")) {
      return InputFormat::kPowerMta;
    }
    if (has("status=") || has("postfix/") || has("postfix[")) return InputFormat::kPostfix;
    return InputFormat::kPowerMta;
  }
  const unsigned m = JsonMarkers(payload);
  auto all = [m](unsigned bits) { return (m & bits) == bits; };
  if (IsSes(m)) return InputFormat::kSes;
  if (all(kSgId)) return InputFormat::kSendgrid;
  if (all(kEventData)) return InputFormat::kMailgun;
  if (all(kRecordType)) return InputFormat::kPostmark;
  if (all(kMsys)) return InputFormat::kSparkpost;
  if (all(kKumo)) return InputFormat::kKumo;
  if (all(kPayload | kEvent)) return InputFormat::kPostal;
  return InputFormat::kCanonical;
}

}  // namespace decode
}  // namespace bouncestream::stream
