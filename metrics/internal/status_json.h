// The /api/status document: figures summed from a registry snapshot, plus server state and the
// latest decisions. Kept apart from the server so it can be tested without HTTP.
#ifndef BOUNCESTREAM_METRICS_INTERNAL_STATUS_JSON_H_
#define BOUNCESTREAM_METRICS_INTERNAL_STATUS_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "metrics/status_board.h"

namespace prometheus {
struct MetricFamily;
}  // namespace prometheus

namespace bouncestream::metrics::internal {

struct StatusState {
  std::int64_t now_ms = 0;  // Unix ms
  std::int64_t uptime_ms = 0;
  bool ready = false;
  std::string ready_reason;
  bool healthy = false;
  std::int64_t heartbeat_age_ms = 0;
  std::vector<DecisionNote> decisions;  // newest first
  // (Unix ms, input records per second since the previous sample), oldest first.
  std::vector<std::pair<std::int64_t, double>> input_rates;
};

std::string BuildStatusJson(const std::vector<prometheus::MetricFamily>& families,
                            const StatusState& state);

}  // namespace bouncestream::metrics::internal

#endif  // BOUNCESTREAM_METRICS_INTERNAL_STATUS_JSON_H_
