#include "stream/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "stream/json_writer.h"

namespace bouncestream::stream {
namespace {

std::mutex g_mu;
std::FILE* g_out = nullptr;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

}  // namespace

void SetLogStream(std::FILE* out) {
  std::lock_guard lock(g_mu);
  g_out = out;
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  const std::int64_t ms = NowMs();
  const std::time_t sec = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&sec, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  std::string line;
  JsonWriter w(&line);
  w.BeginObject();
  w.Field("ts", std::string_view(ts));
  w.Field("level", LevelName(level));
  w.Field("msg", msg);
  for (const auto& f : fields) {
    w.Key(f.key);
    std::visit(
        [&w](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view>) {
            w.String(v);
          } else if constexpr (std::is_same_v<T, std::int64_t>) {
            w.Int(v);
          } else if constexpr (std::is_same_v<T, double>) {
            w.Double(v, 3);
          } else {
            w.Bool(v);
          }
        },
        f.value);
  }
  w.EndObject();
  line.push_back('\n');
  std::lock_guard lock(g_mu);
  std::FILE* out = g_out != nullptr ? g_out : stdout;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

void RateLimitedLog::Log(LogLevel level, std::string_view kind, std::string_view msg,
                         std::initializer_list<LogField> fields) {
  const std::int64_t now = NowMs();
  Slot* slot = nullptr;
  for (auto& s : slots_) {
    if (s.kind == kind) {
      slot = &s;
      break;
    }
    if (s.kind.empty()) {
      s.kind = std::string(kind);
      s.last_ms = now - interval_ms_ - 1;
      slot = &s;
      break;
    }
  }
  if (slot == nullptr) slot = &slots_[31];  // more kinds than slots: share the last one
  if (now - slot->last_ms < interval_ms_) {
    ++slot->suppressed;
    return;
  }
  const std::int64_t suppressed = slot->suppressed;
  slot->suppressed = 0;
  slot->last_ms = now;
  stream::Log(level, msg, fields);
  if (suppressed > 0) {
    stream::Log(level, "similar log lines suppressed", {{"kind", kind}, {"suppressed", suppressed}});
  }
}

}  // namespace bouncestream::stream
