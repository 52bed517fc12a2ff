// The stream processor behind `bouncestream run`: a consumer-group member that decodes and
// classifies every input record and produces it to the classified topic (or, when it cannot be
// decoded, to the dead-letter topic), at least once.
//
// Offsets: enable.auto.offset.store=false. An input offset is stored only when every record it
// produced has been acknowledged by the broker (idempotent producer, acks=all); stored offsets
// are committed every 200 ms, on revoke and on shutdown. A delivery that fails for good stops
// the processor without storing past it, so a restart re-reads the record.
#ifndef BOUNCESTREAM_STREAM_PROCESSOR_H_
#define BOUNCESTREAM_STREAM_PROCESSOR_H_

#include <atomic>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>

#include "classify/classifier.h"
#include "stream/config.h"

namespace bouncestream::stream {

struct ProcessorCounters {
  std::atomic<std::int64_t> records_in{0};
  std::atomic<std::int64_t> events_out{0};
  std::atomic<std::int64_t> dead_letters{0};
  std::atomic<std::int64_t> delivery_errors{0};
  std::atomic<std::int64_t> offset_resets{0};
  std::atomic<std::int64_t> rebalances{0};
  // Decision stage.
  std::atomic<std::int64_t> state_records{0};   // classified records read back
  std::atomic<std::int64_t> decisions_out{0};
  std::atomic<std::int64_t> duplicates{0};
  std::atomic<std::int64_t> late_events{0};
  std::atomic<std::int64_t> state_write_errors{0};
  std::atomic<std::int64_t> restore_records{0};
  std::atomic<std::int64_t> restore_truncated{0};
  std::atomic<std::int64_t> restoring_partitions{0};
  std::atomic<std::int64_t> admin_refused{0};
};

class Processor {
 public:
  static std::expected<std::unique_ptr<Processor>, std::string> Create(
      const Config& config, std::shared_ptr<const classify::Classifier> classifier);
  ~Processor();

  // Runs until `stop` becomes true (then drains, commits and leaves the group) or a fatal error.
  // Returns the process exit code: 0 after a clean stop, 1 after a fatal error.
  int Run(const std::atomic<bool>& stop);

  const ProcessorCounters& counters() const;

  struct Impl;

 private:
  explicit Processor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_PROCESSOR_H_
