// JSON log lines for `bouncestream devbroker`, in the format of stream/log.h
// ({"ts":...,"level":...,"msg":...,<fields>}) but with arbitrary (nested) fields, and with
// errors mirrored to stderr. One object per line on stdout, flushed at once. Thread-safe:
// librdkafka's log callback and the forwarder/control threads log too.
#ifndef BOUNCESTREAM_STREAM_DEVBROKER_LOG_H_
#define BOUNCESTREAM_STREAM_DEVBROKER_LOG_H_

#include <functional>
#include <string_view>

#include "stream/json_writer.h"
#include "stream/log.h"

namespace bouncestream::stream::devbroker {

// Writes extra fields after "msg" (call w.Field(...) etc.).
using LogFields = std::function<void(JsonWriter&)>;

void LogLine(LogLevel level, std::string_view msg, const LogFields& fields = nullptr);

inline void LogInfo(std::string_view msg, const LogFields& fields = nullptr) {
  LogLine(LogLevel::kInfo, msg, fields);
}
inline void LogWarn(std::string_view msg, const LogFields& fields = nullptr) {
  LogLine(LogLevel::kWarn, msg, fields);
}
inline void LogError(std::string_view msg, const LogFields& fields = nullptr) {
  LogLine(LogLevel::kError, msg, fields);
}

}  // namespace bouncestream::stream::devbroker

#endif  // BOUNCESTREAM_STREAM_DEVBROKER_LOG_H_
