// JSON log lines on stdout: {"ts":"…","level":"info","msg":"…",…}. Never pass an email address
// as a field: log a keyed hash or a domain bucket instead.
#ifndef BOUNCESTREAM_STREAM_LOG_H_
#define BOUNCESTREAM_STREAM_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace bouncestream::stream {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

using LogValue = std::variant<std::string_view, std::int64_t, double, bool>;
struct LogField {
  std::string_view key;
  LogValue value;
};

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});
void SetLogStream(std::FILE* out);  // default stdout

// Logs the first occurrence of each kind and then at most once per `interval_ms`, with the
// number suppressed in between, so a flood of bad records cannot flood the log.
class RateLimitedLog {
 public:
  explicit RateLimitedLog(std::int64_t interval_ms = 10000) : interval_ms_(interval_ms) {}
  void Log(LogLevel level, std::string_view kind, std::string_view msg,
           std::initializer_list<LogField> fields = {});

 private:
  struct Slot {
    std::string kind;
    std::int64_t last_ms = 0;
    std::int64_t suppressed = 0;
  };
  std::int64_t interval_ms_;
  Slot slots_[32];
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_LOG_H_
