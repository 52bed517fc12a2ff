#include "stream/devbroker/log.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace bouncestream::stream::devbroker {
namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string Timestamp() {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  const auto sec = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&sec, &tm);
  char date[32];
  const std::size_t n = std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string ts(date, n);
  const auto millis = static_cast<int>(ms % 1000);
  ts.push_back('.');
  ts.push_back(static_cast<char>('0' + millis / 100));
  ts.push_back(static_cast<char>('0' + millis / 10 % 10));
  ts.push_back(static_cast<char>('0' + millis % 10));
  ts.push_back('Z');
  return ts;
}

std::mutex& LogMutex() {
  static std::mutex mu;
  return mu;
}

}  // namespace

void LogLine(LogLevel level, std::string_view msg, const LogFields& fields) {
  std::string line;
  JsonWriter w(&line);
  w.BeginObject();
  w.Field("ts", Timestamp());
  w.Field("level", LevelName(level));
  w.Field("msg", msg);
  if (fields) fields(w);
  w.EndObject();
  line.push_back('\n');

  const std::lock_guard lock(LogMutex());
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
  if (level == LogLevel::kError) {
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
}

}  // namespace bouncestream::stream::devbroker
