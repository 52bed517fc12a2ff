// RocksDB plumbing: the window merge operator and the compaction filters (physical cleanup).
#ifndef BOUNCESTREAM_STATE_INTERNAL_ROCKS_H_
#define BOUNCESTREAM_STATE_INTERNAL_ROCKS_H_

#include <rocksdb/compaction_filter.h>
#include <rocksdb/merge_operator.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "state/clock.h"
#include "state/internal/window.h"

namespace bouncestream::state::internal {

// Committed watermark per partition, shared with the compaction filters (background threads).
class WatermarkTable {
 public:
  void Set(std::int32_t partition, std::int64_t watermark_ms) {
    std::lock_guard lock(mu_);
    wm_[partition] = watermark_ms;
  }
  std::unordered_map<std::int32_t, std::int64_t> Snapshot() const {
    std::lock_guard lock(mu_);
    return wm_;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::int32_t, std::int64_t> wm_;
};

std::shared_ptr<rocksdb::MergeOperator> NewWindowMergeOperator(const WindowSpecs& specs);
// Drops window values no read can reach again (newest bucket older than
// watermark - retention - lateness) of partitions whose watermark is known.
std::shared_ptr<rocksdb::CompactionFilterFactory> NewWindowFilterFactory(
    const WindowSpecs& specs, std::int64_t lateness_ms, std::shared_ptr<WatermarkTable> wm);
// Drops dedupe entries seen before min(watermark, clock) - horizon: such an id would not count as
// a duplicate any more, so removing it changes nothing logical.
std::shared_ptr<rocksdb::CompactionFilterFactory> NewDedupeFilterFactory(
    std::int64_t horizon_ms, const Clock* clock, std::shared_ptr<WatermarkTable> wm);

}  // namespace bouncestream::state::internal

#endif  // BOUNCESTREAM_STATE_INTERNAL_ROCKS_H_
