// The latest decisions, for the status page (/api/status). The processor pushes each decision it
// publishes; the board keeps the newest N. Thread-safe.
#ifndef BOUNCESTREAM_METRICS_STATUS_BOARD_H_
#define BOUNCESTREAM_METRICS_STATUS_BOARD_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bouncestream::metrics {

struct DecisionNote {
  std::int64_t time_ms = 0;  // when it was decided (Unix ms)
  std::string kind;          // suppress, lift, pause, resume, alert
  std::string scope;         // tenant, sender, domain, ip_vendor
  std::string reason;        // classifier reason or policy rule
  std::string party;
  std::string vendor;
  // What it is about, e.g. "198.51.100.7 -> mimecast" or "acme/news.example -> b***@example.org".
  // The caller masks addresses; the board masks any local part left (x@y -> ***@y) anyway.
  std::string subject;
};

// Replaces the local part of anything that looks like an address with "***" ("bob@x.org" ->
// "***@x.org"); the domain stays. Exposed for tests and for callers that want the same rule.
std::string MaskAddresses(std::string_view text);

class StatusBoard {
 public:
  explicit StatusBoard(std::size_t capacity = 50);

  // Fields are cut to 64 bytes (subject: 256) and the subject is passed through MaskAddresses.
  void AddDecision(DecisionNote note);
  // Newest first.
  std::vector<DecisionNote> Latest() const;
  std::size_t capacity() const { return capacity_; }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::deque<DecisionNote> notes_;  // newest at the front
};

}  // namespace bouncestream::metrics

#endif  // BOUNCESTREAM_METRICS_STATUS_BOARD_H_
