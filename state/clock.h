// Injected time. Windows and decisions read time only through a Clock, so tests drive a FakeClock.
#ifndef BOUNCESTREAM_STATE_CLOCK_H_
#define BOUNCESTREAM_STATE_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace bouncestream::state {

class Clock {
 public:
  virtual ~Clock() = default;
  // Unix time in milliseconds.
  virtual std::int64_t NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::int64_t start_ms = 0) : now_ms_(start_ms) {}
  std::int64_t NowMs() const override { return now_ms_.load(std::memory_order_relaxed); }
  void Set(std::int64_t ms) { now_ms_.store(ms, std::memory_order_relaxed); }
  void Advance(std::int64_t ms) { now_ms_.fetch_add(ms, std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

}  // namespace bouncestream::state

#endif  // BOUNCESTREAM_STATE_CLOCK_H_
