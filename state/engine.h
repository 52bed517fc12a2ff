// The state engine: windows of evidence and active decisions of the partitions of
// bouncestream.classified, in one RocksDB instance (--state-dir), exactly once.
//
// Contract with the caller (stream/processor.cc), per poll batch and per partition:
//   1. r = Apply(partition, events, next_offset)   // in memory only: nothing is written yet
//   2. publish r.decisions to their topics and r.changelog to the changelog topic's partition
//      `partition`, in order, each changelog record with header "bouncestream.batch" = r.batch_id
//   3. wait until all of them are acknowledged
//   4. Commit(r)                                    // one WriteBatch: state + next_offset
// A crash anywhere re-runs the batch from the last committed state: the same decisions (same
// decision ids) and the same changelog values are produced again. Apply() of the next batch may
// run before Commit() of the previous one (the engine keeps the uncommitted values in memory), but
// Commit() must be called in Apply() order; Forget() drops everything uncommitted.
//
// Determinism: the state after a sequence of events depends only on the sequence, never on how
// it was cut into batches, on the wall clock, or on restarts. Windows use event time; each
// partition has a watermark (the largest event time applied); decisions expire against it.
#ifndef BOUNCESTREAM_STATE_ENGINE_H_
#define BOUNCESTREAM_STATE_ENGINE_H_

#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "state/clock.h"
#include "state/decision.h"
#include "state/observation.h"
#include "state/policy.h"

namespace bouncestream::state {

struct EngineOptions {
  std::string dir;                 // the RocksDB directory (created when missing)
  bool sync_writes = false;        // fsync the WAL on every Commit (power-loss safety)
  // Memory bounds. The state's memory is about block_cache_bytes + write_buffer_bytes +
  // hot_cache_bytes (StoreStats.memory_bytes reports it); each bound is enforced on its own.
  // RocksDB block cache (LRU): data blocks, index and filter blocks (L0's pinned there).
  std::size_t block_cache_bytes = 64u << 20;
  // Every memtable of every column family (one WriteBufferManager, charged to the block cache,
  // whose capacity is block_cache_bytes + write_buffer_bytes); also sizes each family's memtable.
  std::size_t write_buffer_bytes = 128u << 20;
  // Window and decision values kept in memory across batches (estimated heap bytes, keys and
  // containers included); the least recently used committed ones are evicted beyond it.
  std::size_t hot_cache_bytes = 128u << 20;
  std::size_t hot_window_entries = 1u << 20;  // and at most this many window (decision) values
  std::int64_t dedupe_horizon_ms = 3 * kDayMs;  // a repeated event id within this is ignored
  std::int64_t max_lateness_ms = 7 * kDayMs;    // older than watermark - this: dropped (counted)
  PolicySet policy;
  const Clock* clock = nullptr;    // wall clock: operator actions and audit only. Required.
  bool read_only = false;          // open for query/export on a stopped state dir
};

// One record for the changelog topic (`<application.id>-state-changelog`, partition = the
// classified partition). Keys and values are opaque bytes; nullopt = tombstone.
struct ChangelogRecord {
  std::string key;
  std::optional<std::string> value;
};

struct BatchStats {
  std::int64_t applied = 0;     // events counted
  std::int64_t duplicates = 0;  // repeated event ids within the horizon
  std::int64_t late = 0;        // older than the lateness bound
  std::int64_t window_keys = 0; // distinct window keys touched
};

struct PendingWrite;  // opaque: the WriteBatch of one Apply()

struct BatchResult {
  std::int32_t partition = 0;
  std::int64_t next_offset = -1;  // -1: an operator action, the offset does not move
  std::string batch_id;           // header value for every changelog record of this batch
  std::vector<Decision> decisions;          // publish these (suppress, pause, alert, lift, ...)
  std::vector<ChangelogRecord> changelog;   // publish these; the last one is the commit marker
  BatchStats stats;
  std::shared_ptr<PendingWrite> pending;
};

struct PartitionSummary {
  std::int32_t partition = 0;
  std::int64_t next_offset = -1;     // -1: no local state
  std::int64_t watermark_ms = 0;
  std::int64_t window_keys = 0;
  std::int64_t active_decisions = 0;
  std::string hash;  // 16 hex digits over all windows and active decisions of the partition
};

struct StoreStats {  // for metrics
  std::int64_t live_bytes = 0;              // rocksdb.estimate-live-data-size (all CFs)
  std::int64_t sst_bytes = 0;               // rocksdb.total-sst-files-size
  std::int64_t pending_compaction_bytes = 0;
  std::int64_t write_stall_micros = 0;      // cumulative
  // Memory (bytes). memory_bytes = hot_cache_bytes + block_cache_usage + table_readers_bytes:
  // the part of the process's memory the state holds, bounded by the EngineOptions above.
  std::int64_t memory_bytes = 0;
  std::int64_t hot_cache_bytes = 0;      // window and decision values in memory (estimate)
  std::int64_t block_cache_usage = 0;    // blocks + the memtables' reservation (charged to it)
  std::int64_t memtable_bytes = 0;       // rocksdb.size-all-mem-tables (inside block_cache_usage)
  std::int64_t table_readers_bytes = 0;  // rocksdb.estimate-table-readers-mem (outside the cache)
  std::int64_t active_suppressions = 0;
  std::int64_t active_pauses = 0;
  std::int64_t active_alerts = 0;
};

// Applies changelog records of one partition read from `ChangelogStart(partition)` up to the
// end of the changelog partition. Records count only when their batch's commit marker follows
// (a batch cut short by a crash is ignored); batches the local state already has are skipped.
class Restorer {
 public:
  virtual ~Restorer() = default;
  virtual std::expected<void, std::string> Add(std::int64_t changelog_offset,
                                               std::string_view key,
                                               std::optional<std::string_view> value,
                                               std::string_view batch_id) = 0;
  // Writes what was restored; `end_offset` = the changelog's high watermark that was read to.
  virtual std::expected<std::int64_t /*records applied*/, std::string> Finish(
      std::int64_t end_offset) = 0;
};

class Engine {
 public:
  static std::expected<std::unique_ptr<Engine>, std::string> Open(const EngineOptions& options);
  virtual ~Engine() = default;

  // --- partitions ---
  // The classified-topic offset to resume from, or nullopt when there is no local state.
  virtual std::optional<std::int64_t> NextOffset(std::int32_t partition) const = 0;
  // The changelog offset to start restoring from (0 when unknown).
  virtual std::int64_t ChangelogStart(std::int32_t partition) const = 0;
  // Records that the changelog of `partition` is consumed/produced up to `offset` (exclusive)
  // and reflected in local state; persisted with the next Commit or at once when idle.
  virtual void SetChangelogPosition(std::int32_t partition, std::int64_t offset) = 0;
  virtual std::unique_ptr<Restorer> BeginRestore(std::int32_t partition) = 0;
  // Drops in-memory state of a partition that was revoked (uncommitted results are discarded).
  virtual void Forget(std::int32_t partition) = 0;

  // --- processing ---
  // `checkpoint` = false defers the write: the result holds the batch's decisions (publish
  // them) but no changelog, and its Commit() is a no-op; the keys it touched stay in memory and
  // the next Apply of the partition with checkpoint = true closes the checkpoint: its result
  // holds the changelog (the full value of every key changed since the last checkpoint, once)
  // and the WriteBatch of all of them with the offsets. Bigger checkpoints write hot keys once
  // instead of once per Apply. A crash before that Commit re-runs every batch of the checkpoint
  // from the last committed offset (the same decisions again). While a checkpoint is open, Lift,
  // Erase and Import of that partition fail; Forget drops it.
  virtual std::expected<BatchResult, std::string> Apply(std::int32_t partition,
                                                        std::span<const Observation> events,
                                                        std::int64_t next_offset,
                                                        bool checkpoint) = 0;
  // One Apply, one checkpoint.
  std::expected<BatchResult, std::string> Apply(std::int32_t partition,
                                                std::span<const Observation> events,
                                                std::int64_t next_offset) {
    return Apply(partition, events, next_offset, true);
  }
  virtual std::expected<void, std::string> Commit(BatchResult& result) = 0;

  // --- operating (CLI and admin topic) ---
  // Active decisions about a recipient (all scopes), with evidence.
  virtual std::vector<Decision> Query(std::string_view tenant, std::string_view recipient) = 0;
  // Every active decision; `fn` returns false to stop.
  virtual void ForEachActive(const std::function<bool(std::int32_t, const Decision&)>& fn) = 0;
  // Lifts the active decision with this id (suppression or pause); the result holds the lift/
  // resume record and the changelog records. `partitions`: only these are touched (running
  // group: the assigned ones); empty = all local partitions (stopped state dir).
  virtual std::expected<std::vector<BatchResult>, std::string> Lift(
      std::string_view decision_id, std::string_view note, std::span<const std::int32_t> partitions) = 0;
  // GDPR: deletes windows and decisions of the recipient (every tenant when `tenant` is empty);
  // results hold tombstone records for the suppressions topic (kind lift, origin erase).
  virtual std::expected<std::vector<BatchResult>, std::string> Erase(
      std::string_view tenant, std::string_view recipient, std::span<const std::int32_t> partitions) = 0;
  // Imports suppressions (origin import) into `partition` (the caller computes it from the
  // domain); skips recipients already suppressed.
  virtual std::expected<BatchResult, std::string> Import(std::int32_t partition,
                                                         std::span<const Decision> decisions) = 0;

  // --- inspection ---
  virtual std::vector<PartitionSummary> Summaries() = 0;
  virtual StoreStats Stats() = 0;
};

}  // namespace bouncestream::state

#endif  // BOUNCESTREAM_STATE_ENGINE_H_
