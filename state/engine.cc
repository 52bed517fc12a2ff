#include "state/engine.h"

#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "state/internal/codec.h"
#include "state/internal/decision_codec.h"
#include "state/internal/keys.h"
#include "state/internal/rocks.h"
#include "state/internal/window.h"
#include "state/internal/xxhash.h"

namespace bouncestream::state {

// The WriteBatch of one Apply() (or operator action), written by Commit().
struct PendingWrite {
  std::int32_t partition = 0;
  std::uint64_t epoch = 0;
  std::uint64_t seq = 0;
  bool offsets = false;  // an event batch: moves next_offset / watermark
  std::int64_t next_offset = -1;
  std::int64_t watermark = 0;
  bool has_watermark = false;
  bool committed = false;
  bool deferred = false;  // Apply(..., checkpoint=false): nothing to write, Commit is a no-op
  bool dedupe_mark = false;  // writes the partition's dedupe upgrade mark
  rocksdb::WriteBatch batch;
};

namespace internal {
namespace {

constexpr std::int64_t kNoExpiry = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kNoLegacy = std::numeric_limits<std::int64_t>::min();

// The dedupe upgrade mark of state written without one (a state dir, or a changelog batch, of
// the version before per-recipient dedupe keys): its old keys reach up to its watermark; events
// set the watermark, so without one there are none.
std::int64_t MarkOfUnmarkedState(bool has_watermark, std::int64_t watermark) {
  return has_watermark ? watermark : kNoLegacy;
}
constexpr std::size_t kExampleCap = 512;

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return XXH3_64bits(s.data(), s.size()); }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

struct WindowEntry {
  Window value;  // committed value (+) every applied, uncommitted event
  std::uint64_t dirty_seq = 0;    // last batch that changed it (evictable once committed)
  std::uint64_t touched_seq = 0;  // batch whose touched list holds it
  std::uint64_t used = 0;         // EngineImpl::use_clock_ when last used (LRU eviction)
  std::size_t bytes = 0;          // accounted in Part::hot_bytes
};

struct DecisionEntry {
  bool present = false;
  Decision d;
  std::uint64_t dirty_seq = 0;
  std::uint64_t touched_seq = 0;
  std::uint64_t used = 0;
  std::size_t bytes = 0;
};

// Heap bytes of the hot cache, estimated: every allocation (node, key, vector, string) counted
// at its capacity plus malloc's per-chunk overhead.
constexpr std::size_t kChunk = 16;   // malloc header and rounding per allocation
constexpr std::size_t kNode = 16;    // unordered_map node: next pointer and cached hash
constexpr std::size_t kSlot = 16;    // unordered_map bucket array, about 2 pointers per entry
std::size_t HeapString(const std::string& s) {
  return s.capacity() > 15 ? s.capacity() + 1 + kChunk : 0;  // short strings are inline
}
template <typename V>
std::size_t HeapVector(const V& v) {
  return v.capacity() == 0 ? 0 : v.capacity() * sizeof(typename V::value_type) + kChunk;
}
std::size_t WindowEntryBytes(const std::string& key, const WindowEntry& e) {
  std::size_t n = kNode + sizeof(std::string) + sizeof(WindowEntry) + kChunk + kSlot;
  n += HeapString(key) + HeapString(e.value.tag) + HeapVector(e.value.soft_times) +
       HeapVector(e.value.buckets);
  for (const Bucket& b : e.value.buckets) n += HeapVector(b.counters) + HeapVector(b.hashes);
  n += HeapVector(e.value.ids);
  for (const SeenId& s : e.value.ids) n += HeapString(s.id);
  return n;
}
std::size_t DecisionEntryBytes(const std::string& key, const DecisionEntry& e) {
  const Decision& d = e.d;
  std::size_t n = kNode + sizeof(std::string) + sizeof(DecisionEntry) + kChunk + kSlot;
  for (const std::string* f :
       {&key, &d.decision_id, &d.tenant, &d.recipient, &d.sender, &d.domain, &d.sending_ip,
        &d.vendor, &d.dnsbl, &d.reason, &d.party, &d.rule, &d.classifier_rule, &d.origin, &d.note,
        &d.evidence.example, &d.evidence.event_id}) {
    n += HeapString(*f);
  }
  return n;
}

struct ExpiryEntry {
  bool present = false;
  std::uint64_t seq = 0;
  std::uint64_t touched_seq = 0;
};

struct DedupeEntry {
  std::int64_t seen = 0;
  std::uint64_t seq = 0;
  bool erased = false;  // deleted by Erase (a Delete and a tombstone at Finalize)
};

struct Part;

// What one checkpoint touched, in first-touch order: one Apply, several Apply calls with
// checkpoint=false followed by one with checkpoint=true, or one operator action.
struct Batch {
  Part* part = nullptr;
  std::uint64_t seq = 0;
  BatchResult* result = nullptr;  // the result of the current call (decisions go there)
  std::string batch_id;
  std::shared_ptr<PendingWrite> pw;
  std::vector<std::pair<const std::string*, WindowEntry*>> windows;
  std::vector<std::pair<const std::string*, DecisionEntry*>> decisions;
  std::vector<std::pair<const std::string*, ExpiryEntry*>> expiry;
  std::vector<const std::string*> dedupe;  // keys of Part::dedupe
};

struct Part {
  std::int32_t id = 0;
  std::uint64_t epoch = 0;
  std::uint64_t applied_seq = 0;
  std::uint64_t committed_seq = 0;
  std::int64_t next_offset = -1;  // after the last Apply (committed or not)
  std::int64_t watermark = 0;
  bool has_watermark = false;
  std::int64_t committed_next_offset = -1;
  std::int64_t committed_watermark = 0;
  bool committed_has_watermark = false;
  std::int64_t next_expiry = kNoExpiry;
  StringMap<WindowEntry> windows;
  StringMap<DecisionEntry> decisions;
  std::map<std::string, ExpiryEntry, std::less<>> expiry;  // uncommitted changes
  StringMap<DedupeEntry> dedupe;  // uncommitted entries, by key suffix (AppendDedupeSuffix)
  // The dedupe upgrade: entries written before dedupe keys held the recipient ([p][event id])
  // can still match while watermark - dedupe_horizon_ms <= legacy_dedupe_wm (the watermark when
  // the partition was first opened by this version); kNoLegacy = there are none. Persisted as
  // meta [p]'k' and in every commit marker.
  std::int64_t legacy_dedupe_wm = kNoLegacy;
  bool dedupe_mark_stored = false;
  std::optional<Batch> open;  // a checkpoint still open (Apply with checkpoint=false)
  std::size_t hot_bytes = 0;  // sum of the bytes of `windows` and `decisions`
};

void Account(Part* p, const std::string& key, WindowEntry* e) {
  const std::size_t n = WindowEntryBytes(key, *e);
  p->hot_bytes = p->hot_bytes + n - e->bytes;
  e->bytes = n;
}
void Account(Part* p, const std::string& key, DecisionEntry* e) {
  const std::size_t n = DecisionEntryBytes(key, *e);
  p->hot_bytes = p->hot_bytes + n - e->bytes;
  e->bytes = n;
}


std::string Hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string Lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

std::string EncodeOffsets(std::int64_t next_offset, std::int64_t wm, bool has_wm) {
  std::string v;
  PutFixed<std::int64_t>(&v, next_offset);
  PutFixed<std::int64_t>(&v, wm);
  v.push_back(has_wm ? 1 : 0);
  return v;
}

bool DecodeOffsets(std::string_view in, std::int64_t* next_offset, std::int64_t* wm,
                   bool* has_wm) {
  Reader r(in);
  std::uint8_t h = 0;
  if (!r.Fixed(next_offset) || !r.Fixed(wm) || !r.Fixed(&h)) return false;
  *has_wm = h != 0;
  return true;
}

std::string_view View(const rocksdb::Slice& s) { return {s.data(), s.size()}; }
rocksdb::Slice ToSlice(std::string_view s) { return {s.data(), s.size()}; }

std::string Err(std::string_view what, const rocksdb::Status& s) {
  return std::string(what) + ": " + s.ToString();
}

DecisionKind UndoKind(DecisionKind k) {
  return k == DecisionKind::kPause ? DecisionKind::kResume : DecisionKind::kLift;
}

std::string_view DomainOf(std::string_view recipient) {
  auto at = recipient.rfind('@');
  return at == std::string_view::npos ? std::string_view() : recipient.substr(at + 1);
}

class EngineImpl;

class RestorerImpl final : public Restorer {
 public:
  RestorerImpl(EngineImpl* engine, std::int32_t partition);
  std::expected<void, std::string> Add(std::int64_t changelog_offset, std::string_view key,
                                       std::optional<std::string_view> value,
                                       std::string_view batch_id) override;
  std::expected<std::int64_t, std::string> Finish(std::int64_t end_offset) override;

 private:
  std::expected<void, std::string> Flush();

  EngineImpl* engine_;
  std::int32_t partition_;
  std::string prefix_;
  std::string current_batch_;
  std::vector<std::pair<std::string, std::optional<std::string>>> buffered_;
  std::unordered_set<std::string> seen_batches_;
  rocksdb::WriteBatch wb_;
  std::int64_t applied_ = 0;
  std::optional<std::int64_t> local_next_;
  std::int64_t watermark_ = 0;
  bool has_watermark_ = false;
  bool moved_ = false;  // a batch was applied: write the offsets at Finish
  std::int64_t legacy_dedupe_wm_ = kNoLegacy;  // Part::legacy_dedupe_wm after the restore
};

class EngineImpl final : public Engine {
 public:
  explicit EngineImpl(const EngineOptions& o)
      : opt_(o), specs_(SpecsFor(o.policy)), wm_table_(std::make_shared<WatermarkTable>()) {
    specs_[0].ids_horizon_ms = o.dedupe_horizon_ms;  // recipient windows hold event ids
  }
  ~EngineImpl() override {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
    if (db_ != nullptr) db_->Close().PermitUncheckedError();
    delete db_;
  }

  std::expected<void, std::string> Init();

  std::optional<std::int64_t> NextOffset(std::int32_t partition) const override;
  std::int64_t ChangelogStart(std::int32_t partition) const override;
  void SetChangelogPosition(std::int32_t partition, std::int64_t offset) override;
  std::unique_ptr<Restorer> BeginRestore(std::int32_t partition) override;
  void Forget(std::int32_t partition) override {
    std::lock_guard lock(mu_);
    parts_.erase(partition);
  }
  using Engine::Apply;
  std::expected<BatchResult, std::string> Apply(std::int32_t partition,
                                                std::span<const Observation> events,
                                                std::int64_t next_offset,
                                                bool checkpoint) override;
  std::expected<void, std::string> Commit(BatchResult& result) override;
  std::vector<Decision> Query(std::string_view tenant, std::string_view recipient) override;
  void ForEachActive(const std::function<bool(std::int32_t, const Decision&)>& fn) override;
  std::expected<std::vector<BatchResult>, std::string> Lift(
      std::string_view decision_id, std::string_view note,
      std::span<const std::int32_t> partitions) override;
  std::expected<std::vector<BatchResult>, std::string> Erase(
      std::string_view tenant, std::string_view recipient,
      std::span<const std::int32_t> partitions) override;
  std::expected<BatchResult, std::string> Import(std::int32_t partition,
                                                 std::span<const Decision> decisions) override;
  std::vector<PartitionSummary> Summaries() override;
  StoreStats Stats() override;

 private:
  friend class RestorerImpl;
  enum Cf { kWindows = 0, kDecisions, kExpiry, kDedupe, kMeta, kCfCount };
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return handles_[c]; }

  std::expected<BatchResult, std::string> ApplyLocked(std::int32_t partition,
                                                      std::span<const Observation> events,
                                                      std::int64_t next_offset, bool checkpoint);
  // Operator actions need every checkpoint of the partition closed.
  std::expected<void, std::string> CheckNoOpenCheckpoint(const Part* p) const {
    if (p->open) {
      return std::unexpected("partition " + std::to_string(p->id) +
                             " has an open checkpoint (Apply with checkpoint=false)");
    }
    return {};
  }
  std::expected<void, std::string> CheckNoOpenCheckpoints(std::span<const std::int32_t> ids) const {
    for (std::int32_t id : ids) {
      auto it = parts_.find(id);
      if (it == parts_.end()) continue;
      if (auto o = CheckNoOpenCheckpoint(&it->second); !o) return o;
    }
    return {};
  }
  std::expected<Part*, std::string> Load(std::int32_t partition);
  std::expected<void, std::string> LoadWindows(Part* p, std::vector<const std::string*>* keys,
                                               std::vector<WindowEntry*>* entries);
  std::expected<DecisionEntry*, std::string> GetDecision(Part* p, const std::string& key);
  // One sorted MultiGet of dedupe keys [partition][suffix] (`suffixes` sorted and unique);
  // `found(suffix, seen)` for each present one.
  std::expected<void, std::string> ReadDedupe(
      std::int32_t partition, std::span<const std::string_view> suffixes,
      const std::function<void(std::string_view, std::int64_t)>& found);
  std::int64_t FindNextExpiry(Part* p, std::string_view from_key);
  std::expected<void, std::string> RunExpiry(Batch* b);

  Batch StartBatch(Part* p, BatchResult* r);
  void TouchWindow(Batch* b, const std::string* key, WindowEntry* e);
  void TouchDecision(Batch* b, const std::string* key, DecisionEntry* e);
  void SetExpiry(Batch* b, std::int64_t expires_at, std::string_view suffix, bool present);
  std::expected<void, std::string> PutDecision(Batch* b, const std::string& key, Decision d);
  std::expected<void, std::string> RemoveDecision(Batch* b, const std::string& key);
  void Finalize(Batch* b, bool offsets, std::int64_t next_offset);

  std::expected<void, std::string> Policy(Batch* b, const Observation& e,
                                          WindowEntry* const* w);
  Decision Base(const Observation& e, DecisionKind kind, Scope scope) const;

  std::vector<std::int32_t> LocalPartitions();
  // `partitions`, or every local partition when empty.
  std::vector<std::int32_t> Targets(std::span<const std::int32_t> partitions);
  // Decisions under `prefix` (a key prefix inside one partition): committed ones overlaid
  // with the in-memory (possibly uncommitted) state.
  std::map<std::string, Decision> ScanDecisions(Part* p, std::string_view prefix);
  std::expected<void, std::string> CheckWritable() const {
    if (opt_.read_only) return std::unexpected("state opened read-only");
    return {};
  }
  void Evict();
  std::size_t HotBytes() const {
    std::size_t n = 0;
    for (const auto& [id, p] : parts_) n += p.hot_bytes;
    return n;
  }

  EngineOptions opt_;
  WindowSpecs specs_;
  std::shared_ptr<WatermarkTable> wm_table_;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::shared_ptr<rocksdb::Statistics> statistics_;
  std::shared_ptr<rocksdb::Cache> cache_;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers_;
  std::uint64_t use_clock_ = 0;  // one tick per Apply (LRU order of the hot cache)
  rocksdb::WriteOptions write_options_;
  std::string instance_id_;
  std::uint64_t batch_counter_ = 0;
  std::uint64_t epoch_counter_ = 0;
  mutable std::mutex mu_;
  std::unordered_map<std::int32_t, Part> parts_;
};

std::expected<void, std::string> EngineImpl::Init() {
  if (opt_.clock == nullptr) return std::unexpected("EngineOptions.clock is required");
  if (opt_.dir.empty()) return std::unexpected("EngineOptions.dir is required");
  rocksdb::DBOptions dbo;
  dbo.create_if_missing = true;
  dbo.create_missing_column_families = true;
  dbo.max_background_jobs = 2;
  statistics_ = rocksdb::CreateDBStatistics();
  statistics_->set_stats_level(rocksdb::StatsLevel::kExceptHistogramOrTimers);
  dbo.statistics = statistics_;

  // One cache for blocks and the memtables' reservation; one WriteBufferManager bounds the
  // memtables of all column families together (flushing the largest when they exceed it).
  const std::size_t wb_total = std::max<std::size_t>(opt_.write_buffer_bytes, 1u << 20);
  cache_ = rocksdb::NewLRUCache(opt_.block_cache_bytes + wb_total);
  write_buffers_ = std::make_shared<rocksdb::WriteBufferManager>(wb_total, cache_);
  dbo.write_buffer_manager = write_buffers_;
  auto base = [this, wb_total](std::size_t share) {
    rocksdb::ColumnFamilyOptions c;
    // The family's memtable: `share` of the total (windows 1/2, dedupe 1/4, decisions 1/8,
    // the small ones 1/16), at least 1 MiB.
    c.write_buffer_size = std::max<std::size_t>(wb_total / share, 1u << 20);
    c.compression = rocksdb::kLZ4Compression;
    c.level_compaction_dynamic_level_bytes = true;
    // Most point reads miss (new recipients, new event ids): a memtable bloom filter keeps them
    // from walking the skiplist.
    c.memtable_prefix_bloom_size_ratio = 0.05;
    c.memtable_whole_key_filtering = true;
    // Every WriteBatch is one partition's keys in key order. With a hint per partition prefix
    // the skiplist keeps the insert position between inserts and only re-searches the levels
    // where the next key leaves it (InsertWithHint's partial splice fix); without it every
    // insert that leaves the level-0 splice searches again from the top.
    c.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewFixedPrefixTransform(kPartitionBytes));
    rocksdb::BlockBasedTableOptions t;
    t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    t.block_cache = cache_;
    // Index and filter blocks live in the block cache (bounded) instead of beside it (growing
    // with the data); L0's stay pinned (every read checks them), all at high priority.
    t.cache_index_and_filter_blocks = true;
    t.cache_index_and_filter_blocks_with_high_priority = true;
    t.pin_l0_filter_and_index_blocks_in_cache = true;
    c.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
    return c;
  };
  rocksdb::ColumnFamilyOptions windows = base(2);
  windows.merge_operator = NewWindowMergeOperator(specs_);
  windows.compaction_filter_factory =
      NewWindowFilterFactory(specs_, opt_.max_lateness_ms, wm_table_);
  rocksdb::ColumnFamilyOptions dedupe = base(4);
  dedupe.compaction_filter_factory =
      NewDedupeFilterFactory(opt_.dedupe_horizon_ms, opt_.clock, wm_table_);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs = {
      {rocksdb::kDefaultColumnFamilyName, base(16)},
      {"windows", windows},
      {"decisions", base(8)},
      {"expiry", base(16)},
      {"dedupe", dedupe},
      {"meta", base(16)},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s = opt_.read_only
                          ? rocksdb::DB::OpenForReadOnly(dbo, opt_.dir, cfs, &handles, &db_)
                          : rocksdb::DB::Open(dbo, opt_.dir, cfs, &handles, &db_);
  if (!s.ok()) return std::unexpected(Err("open " + opt_.dir, s));
  // handles[0] is the default family; keep it for cleanup but index ours from 0.
  db_->DestroyColumnFamilyHandle(handles[0]);
  handles_.assign(handles.begin() + 1, handles.end());
  write_options_.sync = opt_.sync_writes;
  std::random_device rd;
  instance_id_ = Hex16((std::uint64_t{rd()} << 32) ^ rd());
  // Watermarks of every partition for the compaction filters.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kMeta)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k = View(it->key());
    std::int64_t no = 0, wm = 0;
    bool has = false;
    if (k.size() == kPartitionBytes + 1 && k[kPartitionBytes] == kMetaOffsets &&
        DecodeOffsets(View(it->value()), &no, &wm, &has) && has) {
      wm_table_->Set(KeyPartition(k), wm);
    }
  }
  return {};
}

std::expected<Part*, std::string> EngineImpl::Load(std::int32_t partition) {
  auto it = parts_.find(partition);
  if (it != parts_.end()) return &it->second;
  Part p;
  p.id = partition;
  p.epoch = ++epoch_counter_;
  std::string key = PartitionPrefix(partition);
  key.push_back(kMetaOffsets);
  std::string v;
  rocksdb::Status s = db_->Get({}, cf(kMeta), key, &v);
  if (s.ok()) {
    if (!DecodeOffsets(v, &p.committed_next_offset, &p.committed_watermark,
                       &p.committed_has_watermark)) {
      return std::unexpected("corrupt meta of partition " + std::to_string(partition));
    }
  } else if (!s.IsNotFound()) {
    return std::unexpected(Err("read meta", s));
  }
  p.next_offset = p.committed_next_offset;
  p.watermark = p.committed_watermark;
  p.has_watermark = p.committed_has_watermark;
  key.back() = kMetaDedupe;
  s = db_->Get({}, cf(kMeta), key, &v);
  if (s.ok()) {
    if (!Reader(v).Fixed(&p.legacy_dedupe_wm)) {
      return std::unexpected("corrupt dedupe mark of partition " + std::to_string(partition));
    }
    p.dedupe_mark_stored = true;
  } else if (s.IsNotFound()) {
    p.legacy_dedupe_wm = MarkOfUnmarkedState(p.committed_has_watermark, p.committed_watermark);
  } else {
    return std::unexpected(Err("read meta", s));
  }
  auto [pos, inserted] = parts_.emplace(partition, std::move(p));
  Part* part = &pos->second;
  part->next_expiry = FindNextExpiry(part, PartitionPrefix(partition));
  return part;
}

// The smallest expiry time at or after `from_key` (committed index overlaid with the batch's).
std::int64_t EngineImpl::FindNextExpiry(Part* p, std::string_view from_key) {
  std::string upper = PartitionPrefix(p->id + 1);
  rocksdb::Slice ub(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &ub;
  std::int64_t best = kNoExpiry;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kExpiry)));
  for (it->Seek(ToSlice(from_key)); it->Valid(); it->Next()) {
    std::string_view k = View(it->key());
    auto o = p->expiry.find(k);
    if (o != p->expiry.end() && !o->second.present) continue;
    if (k.size() >= kPartitionBytes + 8) {
      best = UnorderedI64(GetBe64(k.data() + kPartitionBytes));
    }
    break;
  }
  for (auto o = p->expiry.lower_bound(from_key); o != p->expiry.end(); ++o) {
    if (KeyPartition(o->first) != p->id) break;
    if (!o->second.present) continue;
    best = std::min(best, UnorderedI64(GetBe64(o->first.data() + kPartitionBytes)));
    break;
  }
  return best;
}

std::expected<void, std::string> EngineImpl::LoadWindows(Part* /*p*/,
                                                         std::vector<const std::string*>* keys,
                                                         std::vector<WindowEntry*>* entries) {
  if (keys->empty()) return {};
  std::vector<std::size_t> order(keys->size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [keys](std::size_t a, std::size_t b) { return *(*keys)[a] < *(*keys)[b]; });
  std::vector<rocksdb::Slice> slices(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) slices[i] = *(*keys)[order[i]];
  std::vector<rocksdb::PinnableSlice> values(order.size());
  std::vector<rocksdb::Status> statuses(order.size());
  db_->MultiGet({}, cf(kWindows), slices.size(), slices.data(), values.data(), statuses.data(),
                true);
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return std::unexpected(Err("read window", statuses[i]));
    if (!DecodeWindow(View(values[i]), &(*entries)[order[i]]->value)) {
      return std::unexpected("corrupt window value");
    }
  }
  return {};
}

std::expected<void, std::string> EngineImpl::ReadDedupe(
    std::int32_t partition, std::span<const std::string_view> suffixes,
    const std::function<void(std::string_view, std::int64_t)>& found) {
  if (suffixes.empty()) return {};
  std::size_t bytes = 0;
  for (std::string_view sfx : suffixes) bytes += kPartitionBytes + sfx.size();
  std::string keys;
  keys.reserve(bytes);  // no reallocation: the slices point into it
  std::vector<rocksdb::Slice> slices;
  slices.reserve(suffixes.size());
  for (std::string_view sfx : suffixes) {
    const std::size_t at = keys.size();
    PartitionPrefix(partition, &keys);
    keys.append(sfx);
    slices.emplace_back(keys.data() + at, kPartitionBytes + sfx.size());
  }
  std::vector<rocksdb::PinnableSlice> values(slices.size());
  std::vector<rocksdb::Status> statuses(slices.size());
  db_->MultiGet({}, cf(kDedupe), slices.size(), slices.data(), values.data(), statuses.data(),
                true);
  for (std::size_t i = 0; i < slices.size(); ++i) {
    std::int64_t seen = 0;
    if (statuses[i].ok() && Reader(View(values[i])).Fixed(&seen)) {
      found(suffixes[i], seen);
    } else if (!statuses[i].ok() && !statuses[i].IsNotFound()) {
      return std::unexpected(Err("read dedupe", statuses[i]));
    }
  }
  return {};
}

std::expected<DecisionEntry*, std::string> EngineImpl::GetDecision(Part* p,
                                                                   const std::string& key) {
  auto it = p->decisions.find(key);
  if (it != p->decisions.end()) {
    it->second.used = use_clock_;
    return &it->second;
  }
  DecisionEntry e;
  e.used = use_clock_;
  std::string v;
  rocksdb::Status s = db_->Get({}, cf(kDecisions), key, &v);
  if (s.ok()) {
    if (!DecodeDecision(v, &e.d)) return std::unexpected("corrupt decision value");
    e.present = true;
  } else if (!s.IsNotFound()) {
    return std::unexpected(Err("read decision", s));
  }
  auto [pos, inserted] = p->decisions.emplace(key, std::move(e));
  Account(p, pos->first, &pos->second);
  return &pos->second;
}

Batch EngineImpl::StartBatch(Part* p, BatchResult* r) {
  Batch b;
  b.part = p;
  b.seq = ++p->applied_seq;
  b.result = r;
  b.batch_id = instance_id_ + "-" + std::to_string(++batch_counter_);
  r->partition = p->id;
  r->batch_id = b.batch_id;
  auto pw = std::make_shared<PendingWrite>();
  pw->partition = p->id;
  pw->epoch = p->epoch;
  pw->seq = b.seq;
  b.pw = pw;
  r->pending = std::move(pw);
  return b;
}

void EngineImpl::TouchWindow(Batch* b, const std::string* key, WindowEntry* e) {
  e->dirty_seq = b->seq;
  if (e->touched_seq != b->seq) {
    e->touched_seq = b->seq;
    b->windows.emplace_back(key, e);
  }
}

void EngineImpl::TouchDecision(Batch* b, const std::string* key, DecisionEntry* e) {
  e->dirty_seq = b->seq;
  if (e->touched_seq != b->seq) {
    e->touched_seq = b->seq;
    b->decisions.emplace_back(key, e);
  }
}

void EngineImpl::SetExpiry(Batch* b, std::int64_t expires_at, std::string_view suffix,
                           bool present) {
  std::string key = PartitionPrefix(b->part->id);
  PutBe64(&key, OrderedI64(expires_at));
  key.append(suffix);
  auto [it, inserted] = b->part->expiry.try_emplace(std::move(key));
  it->second.present = present;
  it->second.seq = b->seq;
  if (it->second.touched_seq != b->seq) {
    it->second.touched_seq = b->seq;
    b->expiry.emplace_back(&it->first, &it->second);
  }
  if (present) b->part->next_expiry = std::min(b->part->next_expiry, expires_at);
}

std::expected<void, std::string> EngineImpl::PutDecision(Batch* b, const std::string& key,
                                                         Decision d) {
  auto e = GetDecision(b->part, key);
  if (!e) return std::unexpected(e.error());
  DecisionEntry* de = *e;
  std::string_view suffix = std::string_view(key).substr(kPartitionBytes);
  if (de->present && de->d.expires_at_ms > 0) SetExpiry(b, de->d.expires_at_ms, suffix, false);
  if (d.expires_at_ms > 0) SetExpiry(b, d.expires_at_ms, suffix, true);
  b->result->decisions.push_back(d);
  de->present = true;
  de->d = std::move(d);
  const std::string* k = &b->part->decisions.find(key)->first;
  TouchDecision(b, k, de);
  Account(b->part, *k, de);
  return {};
}

std::expected<void, std::string> EngineImpl::RemoveDecision(Batch* b, const std::string& key) {
  auto e = GetDecision(b->part, key);
  if (!e) return std::unexpected(e.error());
  DecisionEntry* de = *e;
  if (!de->present) return {};
  if (de->d.expires_at_ms > 0) {
    SetExpiry(b, de->d.expires_at_ms, std::string_view(key).substr(kPartitionBytes), false);
  }
  de->present = false;
  de->d = Decision();
  const std::string* k = &b->part->decisions.find(key)->first;
  TouchDecision(b, k, de);
  Account(b->part, *k, de);
  return {};
}

std::expected<void, std::string> EngineImpl::RunExpiry(Batch* b) {
  Part* p = b->part;
  const std::string prefix = PartitionPrefix(p->id);
  std::string lo = prefix;  // nothing is due before next_expiry
  PutBe64(&lo, OrderedI64(p->next_expiry));
  std::string hi = prefix;
  PutBe64(&hi, OrderedI64(p->watermark) + 1);
  std::vector<std::string> due;
  {
    rocksdb::Slice ub(hi);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &ub;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kExpiry)));
    for (it->Seek(lo); it->Valid(); it->Next()) {
      std::string_view k = View(it->key());
      auto o = p->expiry.find(k);
      if (o != p->expiry.end() && !o->second.present) continue;
      due.emplace_back(k);
    }
    if (!it->status().ok()) return std::unexpected(Err("scan expiry", it->status()));
  }
  for (auto o = p->expiry.lower_bound(lo); o != p->expiry.end() && o->first < hi; ++o) {
    if (o->second.present) due.push_back(o->first);
  }
  std::sort(due.begin(), due.end());
  due.erase(std::unique(due.begin(), due.end()), due.end());
  for (const std::string& ek : due) {
    if (ek.size() <= kPartitionBytes + 8) continue;
    std::int64_t at = UnorderedI64(GetBe64(ek.data() + kPartitionBytes));
    std::string dkey = prefix + ek.substr(kPartitionBytes + 8);
    auto e = GetDecision(p, dkey);
    if (!e) return std::unexpected(e.error());
    if (!(*e)->present || (*e)->d.expires_at_ms != at) {
      SetExpiry(b, at, std::string_view(ek).substr(kPartitionBytes + 8), false);  // stale
      continue;
    }
    Decision lift = (*e)->d;
    lift.kind = UndoKind(lift.kind);
    lift.origin = "expiry";
    lift.note.clear();
    lift.decided_at_ms = at;
    lift.expires_at_ms = 0;
    lift.decision_id = DecisionId(lift, (*e)->d.decision_id);
    auto r = RemoveDecision(b, dkey);
    if (!r) return r;
    b->result->decisions.push_back(std::move(lift));
  }
  p->next_expiry = FindNextExpiry(p, hi);
  return {};
}

Decision EngineImpl::Base(const Observation& e, DecisionKind kind, Scope scope) const {
  Decision d;
  d.kind = kind;
  d.scope = scope;
  d.reason = e.reason;
  d.party = e.party;
  d.classifier_rule = e.rule;
  d.decided_at_ms = e.event_time_ms;
  d.evidence.example = CapUtf8(e.text, kExampleCap);
  d.evidence.event_id = e.event_id;
  if (scope != Scope::kIpVendor) d.tenant = e.tenant;
  return d;
}

// Window slots per event.
enum Slot { kRcpt = 0, kSndRcpt, kDom, kSndDom, kIpV, kSnd, kSlots };
constexpr WindowKind kSlotKind[kSlots] = {WindowKind::kRecipient,    WindowKind::kSenderRecipient,
                                          WindowKind::kDomain,       WindowKind::kSenderDomain,
                                          WindowKind::kIpVendor,     WindowKind::kSender};

void BuildWindowKey(std::string* k, std::int32_t p, int slot, const Observation& e) {
  char kind = static_cast<char>(kSlotKind[slot]);
  switch (slot) {
    case kRcpt: BuildKey(k, p, kind, {e.tenant, e.recipient}); break;
    case kSndRcpt: BuildKey(k, p, kind, {e.tenant, e.recipient, e.sender}); break;
    case kDom: BuildKey(k, p, kind, {e.domain}); break;
    case kSndDom: BuildKey(k, p, kind, {e.tenant, e.sender, e.domain}); break;
    case kIpV: BuildKey(k, p, kind, {e.sending_ip, e.vendor}); break;
    default: BuildKey(k, p, kind, {e.tenant, e.sender}); break;
  }
}

bool SlotApplies(int slot, const Observation& e) {
  switch (slot) {
    case kRcpt: return !e.recipient.empty();
    // Read only by the end-user policy (its EndUserBlock count): other signals would add a
    // window value per (recipient, sender) that nothing reads.
    case kSndRcpt:
      return e.signal == Signal::kEndUserBlock && !e.recipient.empty() && !e.sender.empty();
    case kDom: return !e.domain.empty();
    case kSndDom: return !e.sender.empty() && !e.domain.empty();
    case kIpV: return !e.sending_ip.empty();
    default: return e.signal == Signal::kSenderConfig;
  }
}

std::expected<BatchResult, std::string> EngineImpl::Apply(std::int32_t partition,
                                                          std::span<const Observation> events,
                                                          std::int64_t next_offset,
                                                          bool checkpoint) {
  std::lock_guard lock(mu_);
  if (auto w = CheckWritable(); !w) return std::unexpected(w.error());
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);  // no per-comparison perf counters
  auto r = ApplyLocked(partition, events, next_offset, checkpoint);
  if (!r) parts_.erase(partition);  // in-memory state may be half updated: reload it
  return r;
}

std::expected<BatchResult, std::string> EngineImpl::ApplyLocked(
    std::int32_t partition, std::span<const Observation> events, std::int64_t next_offset,
    bool checkpoint) {
  auto lp = Load(partition);
  if (!lp) return std::unexpected(lp.error());
  Part* p = *lp;
  BatchResult result;
  if (p->open) {  // continue the open checkpoint
    p->open->result = &result;
    result.partition = p->id;
    result.batch_id = p->open->batch_id;
  } else {
    p->open.emplace(StartBatch(p, &result));
  }
  Batch& b = *p->open;
  const std::uint64_t now_used = ++use_clock_;
  std::vector<std::pair<const std::string*, WindowEntry*>> used_now;  // to account after pass 2

  // Pass 1: the window entries of every event; one sorted MultiGet for those not in memory.
  std::vector<WindowEntry*> slots(events.size() * kSlots, nullptr);
  std::vector<const std::string*> slot_keys(events.size() * kSlots, nullptr);
  std::vector<const std::string*> missing_keys;
  std::vector<WindowEntry*> missing;
  std::string key;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Observation& e = events[i];
    for (int s = 0; s < kSlots; ++s) {
      if (!SlotApplies(s, e)) continue;
      BuildWindowKey(&key, partition, s, e);
      auto it = p->windows.find(key);
      if (it == p->windows.end()) {
        it = p->windows.emplace(key, WindowEntry()).first;
        missing_keys.push_back(&it->first);
        missing.push_back(&it->second);
      }
      slots[i * kSlots + static_cast<std::size_t>(s)] = &it->second;
      slot_keys[i * kSlots + static_cast<std::size_t>(s)] = &it->first;
      if (it->second.used != now_used) {
        it->second.used = now_used;
        used_now.emplace_back(&it->first, &it->second);
      }
    }
  }
  if (auto r = LoadWindows(p, &missing_keys, &missing); !r) {
    for (const std::string* k : missing_keys) p->windows.erase(*k);
    return std::unexpected(r.error());
  }
  // Dedupe (state/README.md, "Per event"): an event with a recipient window and an id of at
  // most kMaxIdBytes is looked up in that window's ids. The dedupe family holds the rest (no
  // recipient, a longer id), the ids a window spilled, and during the upgrade the old keys. The
  // key suffixes of the events that need the family, side by side in one buffer; those not in
  // memory: one sorted MultiGet.
  const std::int64_t horizon = opt_.dedupe_horizon_ms;
  const bool legacy = p->legacy_dedupe_wm != kNoLegacy &&
                      (!p->has_watermark || p->watermark - horizon <= p->legacy_dedupe_wm);
  auto id_window = [&](std::size_t i) -> Window* {
    WindowEntry* r = slots[i * kSlots + kRcpt];
    return r != nullptr && events[i].event_id.size() <= kMaxIdBytes ? &r->value : nullptr;
  };
  auto live = [&](std::int64_t seen) {
    return !p->has_watermark || seen >= p->watermark - horizon;
  };
  auto needs_family = [&](const Window* w) {
    return w == nullptr || legacy || (w->spilled_ms != kNotSpilled && live(w->spilled_ms));
  };
  std::string suffixes;
  std::vector<std::uint32_t> suffix_at(events.size() + 1, 0);
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Observation& e = events[i];
    if (!e.event_id.empty() && needs_family(id_window(i))) {
      AppendDedupeSuffix(e.recipient, e.event_id, &suffixes);
    }
    suffix_at[i + 1] = static_cast<std::uint32_t>(suffixes.size());
  }
  auto suffix_of = [&](std::size_t i) {
    return std::string_view(suffixes).substr(suffix_at[i], suffix_at[i + 1] - suffix_at[i]);
  };
  {
    std::vector<std::string_view> wanted;
    wanted.reserve(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
      std::string_view sfx = suffix_of(i);
      if (!sfx.empty() && !p->dedupe.contains(sfx)) wanted.push_back(sfx);
    }
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    auto found = [&](std::string_view sfx, std::int64_t seen) {
      auto [it, ins] = p->dedupe.try_emplace(std::string(sfx));
      if (ins || seen > it->second.seen) it->second.seen = seen;
      if (ins) it->second.seq = p->committed_seq;  // known committed: dropped at the next Commit
    };
    if (auto r = ReadDedupe(p->id, wanted, found); !r) return std::unexpected(r.error());
    // During the upgrade: the old keys ([p][event id]) of the same events.
    if (legacy && !wanted.empty()) {
      std::vector<std::pair<std::string_view, std::string_view>> by_id;  // id, suffix
      by_id.reserve(wanted.size());
      for (std::string_view sfx : wanted) by_id.emplace_back(sfx.substr(kRecipientHashBytes), sfx);
      std::sort(by_id.begin(), by_id.end());
      std::vector<std::string_view> ids;
      ids.reserve(by_id.size());
      for (const auto& [id, sfx] : by_id) {
        if (ids.empty() || ids.back() != id) ids.push_back(id);
      }
      // The old key had no recipient: it stands for every recipient of the id.
      auto old_key = [&](std::string_view id, std::int64_t seen) {
        auto lo = std::lower_bound(by_id.begin(), by_id.end(),
                                   std::pair<std::string_view, std::string_view>(id, {}));
        for (; lo != by_id.end() && lo->first == id; ++lo) found(lo->second, seen);
      };
      if (auto r = ReadDedupe(p->id, ids, old_key); !r) return std::unexpected(r.error());
    }
  }
  auto by_id = [](const SeenId& s, std::string_view id) { return s.id < id; };
  auto remember = [&](std::string_view sfx) {  // a dedupe family entry, written at Finalize
    auto [d, ins] = p->dedupe.try_emplace(std::string(sfx));
    d->second.seq = b.seq;
    d->second.erased = false;
    b.dedupe.push_back(&d->first);
    return &d->second;
  };
  std::string spill_key;

  // Pass 2: the events in order.
  for (std::size_t i = 0; i < events.size(); ++i) {
    const Observation& e = events[i];
    Window* idw = e.event_id.empty() ? nullptr : id_window(i);
    std::string_view dedupe_suffix = suffix_of(i);
    if (!e.event_id.empty()) {
      bool dup = false;
      if (idw != nullptr) {
        auto it = std::lower_bound(idw->ids.begin(), idw->ids.end(), e.event_id, by_id);
        dup = it != idw->ids.end() && it->id == e.event_id && live(it->seen_ms);
      }
      // A window that spilled in this batch needs the family too (the spilled ids are in
      // memory, so no read is missing).
      if (!dup && needs_family(idw)) {
        if (dedupe_suffix.empty()) {
          spill_key.clear();
          AppendDedupeSuffix(e.recipient, e.event_id, &spill_key);
          dedupe_suffix = spill_key;
        }
        auto d = p->dedupe.find(dedupe_suffix);
        dup = d != p->dedupe.end() && !d->second.erased && live(d->second.seen);
      }
      if (dup) {
        ++result.stats.duplicates;
        continue;
      }
    }
    if (p->has_watermark && e.event_time_ms < p->watermark - opt_.max_lateness_ms) {
      ++result.stats.late;
      continue;
    }
    if (!p->has_watermark || e.event_time_ms > p->watermark) p->watermark = e.event_time_ms;
    p->has_watermark = true;
    if (idw != nullptr) {
      // The id joins its window (which this event touches below); ids past the horizon leave
      // it, and beyond kSeenIds the oldest go to the dedupe family.
      auto it = std::lower_bound(idw->ids.begin(), idw->ids.end(), e.event_id, by_id);
      if (it != idw->ids.end() && it->id == e.event_id) {
        it->seen_ms = p->watermark;
      } else {
        idw->ids.insert(it, SeenId{std::string(e.event_id), p->watermark});
      }
      std::erase_if(idw->ids, [&](const SeenId& s) { return !live(s.seen_ms); });
      while (idw->ids.size() > kSeenIds) {
        auto oldest = std::min_element(idw->ids.begin(), idw->ids.end(),
                                       [](const SeenId& x, const SeenId& y) {
                                         return x.seen_ms != y.seen_ms ? x.seen_ms < y.seen_ms
                                                                       : x.id < y.id;
                                       });
        spill_key.clear();
        AppendDedupeSuffix(e.recipient, oldest->id, &spill_key);
        remember(spill_key)->seen = oldest->seen_ms;
        idw->spilled_ms = std::max(idw->spilled_ms, oldest->seen_ms);
        idw->ids.erase(oldest);
      }
    } else if (!e.event_id.empty()) {
      remember(dedupe_suffix)->seen = p->watermark;  // built by the lookup above
    }
    if (p->watermark >= p->next_expiry) {
      if (auto r = RunExpiry(&b); !r) return std::unexpected(r.error());
    }
    // Windows.
    WindowEvent we;
    we.time_ms = e.event_time_ms;
    we.counter = CounterIndex(e.signal, e.reason_code);
    WindowEntry* const* w = &slots[i * kSlots];
    for (int s = 0; s < kSlots; ++s) {
      WindowEntry* entry = w[s];
      if (entry == nullptr) continue;
      we.add_hash = s == kSndDom && e.signal == Signal::kAdminBlock;
      we.hash = we.add_hash ? XXH64(e.recipient.data(), e.recipient.size(), 0) : 0;
      we.soft = s == kRcpt && e.signal == Signal::kSoft;
      we.reset = s == kRcpt && e.signal == Signal::kDelivered;
      we.tag = s == kIpV && e.signal == Signal::kPlatformBlock ? e.dnsbl : std::string_view();
      const WindowSpec& spec = specs_[s];
      if (entry->touched_seq != b.seq) {
        TouchWindow(&b, slot_keys[i * kSlots + static_cast<std::size_t>(s)], entry);
      }
      entry->dirty_seq = b.seq;
      AddEvent(&entry->value, spec, we);
    }
    if (auto r = Policy(&b, e, w); !r) return std::unexpected(r.error());
    ++result.stats.applied;
  }
  for (auto& [k, entry] : used_now) Account(p, *k, entry);
  p->next_offset = next_offset;
  result.next_offset = next_offset;
  if (checkpoint) {
    Finalize(&b, true, next_offset);
    result.pending = b.pw;
    p->open.reset();
  } else {
    auto pw = std::make_shared<PendingWrite>();
    pw->partition = p->id;
    pw->deferred = true;
    result.pending = std::move(pw);
    b.result = nullptr;
  }
  return result;
}

std::expected<void, std::string> EngineImpl::Policy(Batch* b, const Observation& e,
                                                    WindowEntry* const* w) {
  const PolicyConfig& cfg = opt_.policy.For(e.tenant);
  const std::int64_t now = e.event_time_ms;
  auto ttl = [now](std::int64_t t) { return t > 0 ? now + t : 0; };
  std::string key;
  switch (e.signal) {
    case Signal::kHardInvalid:
    case Signal::kComplaint: {
      if (w[kRcpt] == nullptr) return {};
      BuildKey(&key, b->part->id, 'T', {e.tenant, e.recipient});
      auto de = GetDecision(b->part, key);
      if (!de) return std::unexpected(de.error());
      // An active suppression stays, unless a soft-streak one is upgraded to a hard one.
      if ((*de)->present && (*de)->d.rule != "policy.soft_streak") return {};
      const Window& rw = w[kRcpt]->value;
      const WindowSpec& spec = specs_[kRcpt];
      Tally h = CountSignal(rw, spec, Signal::kHardInvalid, now, spec.retention_ms);
      Tally c = CountSignal(rw, spec, Signal::kComplaint, now, spec.retention_ms);
      Decision d = Base(e, DecisionKind::kSuppress, Scope::kTenant);
      d.recipient = e.recipient;
      d.recipient_is_hash = e.recipient_is_hash;
      d.domain = e.domain;
      d.rule = e.signal == Signal::kComplaint ? "policy.complaint" : "policy.hard_invalid";
      d.expires_at_ms = ttl(cfg.hard_suppress_ttl_ms);
      d.evidence.count = h.count + c.count;
      d.evidence.first_seen_ms = h.count == 0   ? c.first_seen
                                 : c.count == 0 ? h.first_seen
                                                : std::min(h.first_seen, c.first_seen);
      d.evidence.last_seen_ms = std::max(h.last_seen, c.last_seen);
      d.decision_id = DecisionId(d);
      return PutDecision(b, key, std::move(d));
    }
    case Signal::kSoft: {
      if (w[kRcpt] == nullptr) return {};
      Tally t = SoftStreak(w[kRcpt]->value, now, cfg.soft_bounce_window_ms);
      if (t.count < cfg.soft_bounce_count) return {};
      BuildKey(&key, b->part->id, 'T', {e.tenant, e.recipient});
      auto de = GetDecision(b->part, key);
      if (!de) return std::unexpected(de.error());
      if ((*de)->present) return {};
      Decision d = Base(e, DecisionKind::kSuppress, Scope::kTenant);
      d.recipient = e.recipient;
      d.recipient_is_hash = e.recipient_is_hash;
      d.domain = e.domain;
      d.rule = "policy.soft_streak";
      d.expires_at_ms = ttl(cfg.soft_suppress_ttl_ms);
      d.evidence.count = t.count;
      d.evidence.first_seen_ms = t.first_seen;
      d.evidence.last_seen_ms = t.last_seen;
      d.decision_id = DecisionId(d);
      return PutDecision(b, key, std::move(d));
    }
    case Signal::kEndUserBlock: {
      if (w[kSndRcpt] == nullptr) return {};
      BuildKey(&key, b->part->id, 'S', {e.tenant, e.recipient, e.sender});
      auto de = GetDecision(b->part, key);
      if (!de) return std::unexpected(de.error());
      if ((*de)->present) return {};
      const WindowSpec& spec = specs_[kSndRcpt];
      Tally t = CountSignal(w[kSndRcpt]->value, spec, Signal::kEndUserBlock, now,
                            spec.retention_ms);
      Decision d = Base(e, DecisionKind::kSuppress, Scope::kSender);
      d.recipient = e.recipient;
      d.recipient_is_hash = e.recipient_is_hash;
      d.sender = e.sender;
      d.domain = e.domain;
      d.rule = "policy.end_user";
      d.expires_at_ms = ttl(cfg.end_user_suppress_ttl_ms);
      d.evidence.count = t.count;
      d.evidence.first_seen_ms = t.first_seen;
      d.evidence.last_seen_ms = t.last_seen;
      d.decision_id = DecisionId(d);
      return PutDecision(b, key, std::move(d));
    }
    case Signal::kAdminBlock: {
      if (w[kSndDom] == nullptr) return {};
      Tally t = DistinctHashes(w[kSndDom]->value, specs_[kSndDom], now, cfg.admin_block_window_ms);
      if (t.count < cfg.admin_block_distinct_recipients) return {};
      BuildKey(&key, b->part->id, 'D', {e.tenant, e.domain, e.sender});
      auto de = GetDecision(b->part, key);
      if (!de) return std::unexpected(de.error());
      if ((*de)->present) return {};
      Decision d = Base(e, DecisionKind::kPause, Scope::kDomain);
      d.sender = e.sender;
      d.domain = e.domain;
      d.vendor = e.vendor;
      d.rule = "policy.admin_domain";
      d.expires_at_ms = ttl(cfg.domain_pause_ttl_ms);
      d.evidence.count = t.count;
      d.evidence.first_seen_ms = t.first_seen;
      d.evidence.last_seen_ms = t.last_seen;
      d.decision_id = DecisionId(d);
      return PutDecision(b, key, std::move(d));
    }
    case Signal::kPlatformBlock: {
      if (w[kIpV] == nullptr) return {};
      const Window& iw = w[kIpV]->value;
      Tally t = CountSignal(iw, specs_[kIpV], Signal::kPlatformBlock, now,
                            cfg.platform_block_window_ms);
      if (t.count < cfg.platform_block_count) return {};
      BuildKey(&key, b->part->id, 'I', {e.sending_ip, e.vendor});
      auto de = GetDecision(b->part, key);
      if (!de) return std::unexpected(de.error());
      if ((*de)->present) return {};
      Decision d = Base(e, DecisionKind::kPause, Scope::kIpVendor);
      d.sending_ip = e.sending_ip;
      d.vendor = e.vendor;
      d.dnsbl = e.dnsbl.empty() ? iw.tag : std::string(e.dnsbl);
      d.rule = "policy.platform_ip";
      d.expires_at_ms = ttl(cfg.ip_pause_ttl_ms);
      d.evidence.count = t.count;
      d.evidence.first_seen_ms = t.first_seen;
      d.evidence.last_seen_ms = t.last_seen;
      d.decision_id = DecisionId(d);
      return PutDecision(b, key, std::move(d));
    }
    case Signal::kSenderConfig: {
      if (w[kSnd] == nullptr) return {};
      Tally t = CountSignal(w[kSnd]->value, specs_[kSnd], Signal::kSenderConfig, now,
                            cfg.sender_config_window_ms);
      if (t.count < cfg.sender_config_alert_count) return {};
      BuildKey(&key, b->part->id, 'A', {e.tenant, e.sender, e.reason});
      auto de = GetDecision(b->part, key);
      if (!de) return std::unexpected(de.error());
      if ((*de)->present) return {};
      Decision d = Base(e, DecisionKind::kAlert, Scope::kSender);
      d.sender = e.sender;
      d.rule = "policy.sender_config";
      d.expires_at_ms = ttl(cfg.alert_ttl_ms);
      d.evidence.count = t.count;
      d.evidence.first_seen_ms = t.first_seen;
      d.evidence.last_seen_ms = t.last_seen;
      d.decision_id = DecisionId(d);
      return PutDecision(b, key, std::move(d));
    }
    default:
      return {};
  }
}

// Writes the batch's changes into its WriteBatch and the changelog, then the marker.
void EngineImpl::Finalize(Batch* b, bool offsets, std::int64_t next_offset) {
  BatchResult* r = b->result;
  PendingWrite* pw = b->pw.get();
  Part* p = b->part;
  auto by_key = [](const auto& x, const auto& y) { return *x.first < *y.first; };
  std::sort(b->windows.begin(), b->windows.end(), by_key);
  std::sort(b->decisions.begin(), b->decisions.end(), by_key);
  std::sort(b->expiry.begin(), b->expiry.end(), by_key);
  std::sort(b->dedupe.begin(), b->dedupe.end(),
            [](const std::string* x, const std::string* y) { return *x < *y; });
  b->dedupe.erase(std::unique(b->dedupe.begin(), b->dedupe.end()), b->dedupe.end());
  // The changelog records first (each key is the family's tag byte + the RocksDB key, the
  // value the RocksDB value), then the WriteBatch from them, reserved once at its final size
  // (instead of growing by doubling and copying).
  const std::size_t first = r->changelog.size();
  r->changelog.reserve(first + b->windows.size() + b->decisions.size() + b->expiry.size() +
                       b->dedupe.size() + 1);
  std::size_t bytes = 0;
  auto add = [&](char tag, std::string_view key) -> ChangelogRecord& {
    ChangelogRecord& rec = r->changelog.emplace_back();
    rec.key.reserve(key.size() + 1);
    rec.key.push_back(tag);
    rec.key.append(key);
    bytes += key.size() + 16;  // + tag, family id and lengths in the WriteBatch
    return rec;
  };
  // Windows: the full current value, encoded once, is both the RocksDB value (Put) and the
  // changelog value; an empty value (erased) is a Delete and a tombstone.
  for (auto& [key, e] : b->windows) {
    ChangelogRecord& rec = add(kClWindows, *key);
    if (!e->value.Empty()) {
      EncodeWindow(e->value, &rec.value.emplace());
      bytes += rec.value->size();
    }
  }
  for (auto& [key, e] : b->decisions) {
    ChangelogRecord& rec = add(kClDecisions, *key);
    if (e->present) {
      EncodeDecision(e->d, &rec.value.emplace());
      bytes += rec.value->size();
    }
  }
  for (auto& [key, e] : b->expiry) {
    ChangelogRecord& rec = add(kClExpiry, *key);
    if (e->present) rec.value.emplace();
  }
  std::string dk = PartitionPrefix(p->id);
  for (const std::string* suffix : b->dedupe) {
    const DedupeEntry& e = p->dedupe.find(*suffix)->second;
    dk.resize(kPartitionBytes);
    dk.append(*suffix);
    ChangelogRecord& rec = add(kClDedupe, dk);
    if (!e.erased) {
      PutFixed<std::int64_t>(&rec.value.emplace(), e.seen);
      bytes += sizeof(std::int64_t);
    }
  }
  pw->batch = rocksdb::WriteBatch(bytes + 64, 0);
  const std::size_t n_windows = b->windows.size();
  const std::size_t n_decisions = b->decisions.size();
  const std::size_t n_expiry = b->expiry.size();
  for (std::size_t i = first; i < r->changelog.size(); ++i) {
    const ChangelogRecord& rec = r->changelog[i];
    const std::size_t j = i - first;
    const Cf family = j < n_windows                             ? kWindows
                      : j < n_windows + n_decisions             ? kDecisions
                      : j < n_windows + n_decisions + n_expiry  ? kExpiry
                                                                : kDedupe;
    const rocksdb::Slice key(rec.key.data() + 1, rec.key.size() - 1);
    if (rec.value) {
      pw->batch.Put(cf(family), key, *rec.value).PermitUncheckedError();
    } else {
      pw->batch.Delete(cf(family), key).PermitUncheckedError();
    }
  }
  pw->offsets = offsets;
  pw->next_offset = offsets ? next_offset : p->next_offset;
  pw->watermark = p->watermark;
  pw->has_watermark = p->has_watermark;
  {
    std::string mk = PartitionPrefix(p->id);
    mk.push_back(kMetaOffsets);
    pw->batch.Put(cf(kMeta), mk, EncodeOffsets(pw->next_offset, p->watermark, p->has_watermark))
        .PermitUncheckedError();
    if (!p->dedupe_mark_stored) {  // written with every batch until one of them is committed
      mk.back() = kMetaDedupe;
      std::string v;
      PutFixed<std::int64_t>(&v, p->legacy_dedupe_wm);
      pw->batch.Put(cf(kMeta), mk, v).PermitUncheckedError();
      pw->dedupe_mark = true;
    }
  }
  ChangelogRecord marker;
  marker.key.push_back(kClMarker);
  PartitionPrefix(p->id, &marker.key);
  marker.key.append(r->batch_id);
  marker.value = EncodeOffsets(pw->next_offset, p->watermark, p->has_watermark);
  // flags: 1 = operator action, 2 = the dedupe upgrade mark follows
  marker.value->push_back(static_cast<char>((offsets ? 0 : 1) | 2));
  PutFixed<std::int64_t>(&*marker.value, p->legacy_dedupe_wm);
  r->changelog.push_back(std::move(marker));
  r->stats.window_keys = static_cast<std::int64_t>(b->windows.size());
}

std::expected<void, std::string> EngineImpl::Commit(BatchResult& result) {
  std::lock_guard lock(mu_);
  if (auto w = CheckWritable(); !w) return std::unexpected(w.error());
  PendingWrite* pw = result.pending.get();
  if (pw == nullptr) return std::unexpected("Commit: no pending write");
  if (pw->committed || pw->deferred) return {};
  auto it = parts_.find(pw->partition);
  if (it == parts_.end() || it->second.epoch != pw->epoch) {
    return std::unexpected("Commit: partition " + std::to_string(pw->partition) +
                           " was forgotten since Apply");
  }
  Part& p = it->second;
  if (pw->seq != p.committed_seq + 1) {
    return std::unexpected("Commit: results must be committed in Apply order");
  }
  rocksdb::Status s = db_->Write(write_options_, &pw->batch);
  if (!s.ok()) return std::unexpected(Err("commit", s));
  pw->committed = true;
  pw->batch.Clear();
  p.committed_seq = pw->seq;
  if (pw->dedupe_mark) p.dedupe_mark_stored = true;
  {
    p.committed_next_offset = pw->next_offset;
    p.committed_watermark = pw->watermark;
    p.committed_has_watermark = pw->has_watermark;
    if (pw->has_watermark) wm_table_->Set(p.id, pw->watermark);
  }
  for (auto e = p.expiry.begin(); e != p.expiry.end();) {
    e = e->second.seq <= p.committed_seq ? p.expiry.erase(e) : std::next(e);
  }
  for (auto e = p.dedupe.begin(); e != p.dedupe.end();) {
    e = e->second.seq <= p.committed_seq ? p.dedupe.erase(e) : std::next(e);
  }
  Evict();
  return {};
}

// Bounds the hot cache: when its bytes exceed hot_cache_bytes, or the window (decision) values
// hot_window_entries, the least recently used committed values are dropped until it is at 3/4 of
// every bound it exceeded (a dropped value is read back from RocksDB when needed: eviction never
// changes a result). Uncommitted values stay. LRU order by `used` (one tick per Apply), found
// with a histogram over the ticks: two passes, no allocation per entry.
void EngineImpl::Evict() {
  std::size_t windows = 0, decisions = 0;
  for (auto& [id, p] : parts_) {
    windows += p.windows.size();
    decisions += p.decisions.size();
  }
  const std::size_t bytes = HotBytes();
  const std::size_t entries_bound = std::max<std::size_t>(opt_.hot_window_entries, 1);
  const std::size_t bytes_bound = std::max<std::size_t>(opt_.hot_cache_bytes, 1);
  auto excess = [](std::size_t have, std::size_t bound) {
    return have > bound ? have - bound * 3 / 4 : 0;
  };
  const std::size_t need_bytes = excess(bytes, bytes_bound);
  const std::size_t need_windows = excess(windows, entries_bound);
  const std::size_t need_decisions = excess(decisions, entries_bound);
  if (need_bytes == 0 && need_windows == 0 && need_decisions == 0) return;
  // Tick range of the evictable values, then bytes and counts per tick bin.
  std::uint64_t lo = std::numeric_limits<std::uint64_t>::max(), hi = 0;
  auto range = [&](const auto& map, const Part& p) {
    for (const auto& [k, e] : map) {
      if (e.dirty_seq > p.committed_seq) continue;
      lo = std::min(lo, e.used);
      hi = std::max(hi, e.used);
    }
  };
  for (auto& [id, p] : parts_) {
    range(p.windows, p);
    range(p.decisions, p);
  }
  if (lo > hi) return;  // nothing committed to evict
  constexpr std::size_t kBins = 1024;
  const std::uint64_t width = (hi - lo) / kBins + 1;
  struct Bin {
    std::size_t bytes = 0, windows = 0, decisions = 0;
  };
  std::vector<Bin> bins(kBins);
  for (auto& [id, p] : parts_) {
    for (const auto& [k, e] : p.windows) {
      if (e.dirty_seq > p.committed_seq) continue;
      Bin& b = bins[(e.used - lo) / width];
      b.bytes += e.bytes;
      ++b.windows;
    }
    for (const auto& [k, e] : p.decisions) {
      if (e.dirty_seq > p.committed_seq) continue;
      Bin& b = bins[(e.used - lo) / width];
      b.bytes += e.bytes;
      ++b.decisions;
    }
  }
  // The oldest bins that free enough of every bound exceeded; values used before `cutoff` go.
  Bin freed;
  std::uint64_t cutoff = lo;
  for (std::size_t i = 0; i < kBins; ++i) {
    if (freed.bytes >= need_bytes && freed.windows >= need_windows &&
        freed.decisions >= need_decisions) {
      break;
    }
    freed.bytes += bins[i].bytes;
    freed.windows += bins[i].windows;
    freed.decisions += bins[i].decisions;
    cutoff = lo + (i + 1) * width;
  }
  auto drop = [cutoff](auto& map, Part& p) {
    for (auto e = map.begin(); e != map.end();) {
      if (e->second.dirty_seq <= p.committed_seq && e->second.used < cutoff) {
        p.hot_bytes -= e->second.bytes;
        e = map.erase(e);
      } else {
        ++e;
      }
    }
  };
  for (auto& [id, p] : parts_) {
    drop(p.windows, p);
    drop(p.decisions, p);
  }
#ifdef __GLIBC__
  // The dropped values are many small chunks; glibc keeps freed chunks in its arenas and reuses
  // them only in part, so without this RSS keeps the holes (measured: benchmarks/README.md,
  // "Memory"). malloc_trim(0) returns their whole pages to the kernel. About once per quarter of
  // hot_cache_bytes evicted.
  malloc_trim(0);
#endif
}

std::optional<std::int64_t> EngineImpl::NextOffset(std::int32_t partition) const {
  std::lock_guard lock(mu_);
  auto it = parts_.find(partition);
  if (it != parts_.end()) {
    if (it->second.committed_next_offset < 0) return std::nullopt;
    return it->second.committed_next_offset;
  }
  std::string key = PartitionPrefix(partition);
  key.push_back(kMetaOffsets);
  std::string v;
  std::int64_t no = 0, wm = 0;
  bool has = false;
  if (!db_->Get({}, cf(kMeta), key, &v).ok() || !DecodeOffsets(v, &no, &wm, &has) || no < 0) {
    return std::nullopt;
  }
  return no;
}

std::int64_t EngineImpl::ChangelogStart(std::int32_t partition) const {
  std::lock_guard lock(mu_);
  std::string key = PartitionPrefix(partition);
  key.push_back(kMetaChangelog);
  std::string v;
  std::int64_t pos = 0;
  if (db_->Get({}, cf(kMeta), key, &v).ok() && Reader(v).Fixed(&pos)) return pos;
  return 0;
}

void EngineImpl::SetChangelogPosition(std::int32_t partition, std::int64_t offset) {
  std::lock_guard lock(mu_);
  if (opt_.read_only) return;
  std::string key = PartitionPrefix(partition);
  key.push_back(kMetaChangelog);
  std::string v;
  PutFixed<std::int64_t>(&v, offset);
  db_->Put(write_options_, cf(kMeta), key, v).PermitUncheckedError();
}

std::unique_ptr<Restorer> EngineImpl::BeginRestore(std::int32_t partition) {
  {
    std::lock_guard lock(mu_);
    parts_.erase(partition);
  }
  return std::make_unique<RestorerImpl>(this, partition);
}

std::vector<std::int32_t> EngineImpl::LocalPartitions() {
  std::set<std::int32_t> ids;
  for (const auto& [id, p] : parts_) ids.insert(id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kMeta)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k = View(it->key());
    if (k.size() == kPartitionBytes + 1 && k[kPartitionBytes] == kMetaOffsets) {
      ids.insert(KeyPartition(k));
    }
  }
  std::vector<std::int32_t> out;
  out.reserve(ids.size());
  for (std::int32_t id : ids) out.push_back(id);
  return out;
}

std::vector<std::int32_t> EngineImpl::Targets(std::span<const std::int32_t> partitions) {
  if (partitions.empty()) return LocalPartitions();
  std::vector<std::int32_t> out;
  out.reserve(partitions.size());
  for (std::int32_t id : partitions) out.push_back(id);
  return out;
}

std::map<std::string, Decision> EngineImpl::ScanDecisions(Part* p, std::string_view prefix) {
  std::map<std::string, Decision> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kDecisions)));
  for (it->Seek(ToSlice(prefix)); it->Valid() && it->key().starts_with(ToSlice(prefix));
       it->Next()) {
    Decision d;
    if (DecodeDecision(View(it->value()), &d)) out.emplace(it->key().ToString(), std::move(d));
  }
  if (p == nullptr) return out;
  for (const auto& [k, e] : p->decisions) {
    if (!std::string_view(k).starts_with(prefix)) continue;
    if (e.present) {
      out[k] = e.d;
    } else {
      out.erase(k);
    }
  }
  return out;
}

std::vector<Decision> EngineImpl::Query(std::string_view tenant, std::string_view recipient) {
  std::lock_guard lock(mu_);
  std::vector<Decision> out;
  std::string domain = Lower(DomainOf(recipient));
  for (std::int32_t id : LocalPartitions()) {
    auto it = parts_.find(id);
    Part* p = it == parts_.end() ? nullptr : &it->second;
    std::string k;
    BuildKey(&k, id, 'T', {tenant, recipient});
    for (auto& [key, d] : ScanDecisions(p, k)) {
      if (key == k) out.push_back(std::move(d));
    }
    BuildKey(&k, id, 'S', {tenant, recipient, ""});
    for (auto& [key, d] : ScanDecisions(p, k)) out.push_back(std::move(d));
    if (!domain.empty()) {
      BuildKey(&k, id, 'D', {tenant, domain, ""});
      for (auto& [key, d] : ScanDecisions(p, k)) out.push_back(std::move(d));
    }
  }
  return out;
}

void EngineImpl::ForEachActive(const std::function<bool(std::int32_t, const Decision&)>& fn) {
  std::lock_guard lock(mu_);
  for (std::int32_t id : LocalPartitions()) {
    auto it = parts_.find(id);
    for (const auto& [key, d] :
         ScanDecisions(it == parts_.end() ? nullptr : &it->second, PartitionPrefix(id))) {
      if (!fn(id, d)) return;
    }
  }
}

std::expected<std::vector<BatchResult>, std::string> EngineImpl::Lift(
    std::string_view decision_id, std::string_view note,
    std::span<const std::int32_t> partitions) {
  std::lock_guard lock(mu_);
  if (auto w = CheckWritable(); !w) return std::unexpected(w.error());
  std::vector<std::int32_t> ids = Targets(partitions);
  if (auto o = CheckNoOpenCheckpoints(ids); !o) return std::unexpected(o.error());
  std::vector<BatchResult> out;
  for (std::int32_t id : ids) {
    auto lp = Load(id);
    if (!lp) return std::unexpected(lp.error());
    Part* p = *lp;
    for (auto& [key, d] : ScanDecisions(p, PartitionPrefix(id))) {
      if (d.decision_id != decision_id) continue;
      BatchResult r;
      Batch b = StartBatch(p, &r);
      Decision lift = d;
      lift.kind = UndoKind(d.kind);
      lift.origin = "operator";
      lift.note = CapUtf8(note, kExampleCap);
      lift.decided_at_ms = opt_.clock->NowMs();
      lift.expires_at_ms = 0;
      lift.decision_id = DecisionId(lift, d.decision_id);
      if (auto rm = RemoveDecision(&b, key); !rm) return std::unexpected(rm.error());
      r.decisions.push_back(std::move(lift));
      Finalize(&b, false, -1);
      out.push_back(std::move(r));
      break;
    }
  }
  return out;
}

std::expected<std::vector<BatchResult>, std::string> EngineImpl::Erase(
    std::string_view tenant, std::string_view recipient,
    std::span<const std::int32_t> partitions) {
  std::lock_guard lock(mu_);
  if (auto w = CheckWritable(); !w) return std::unexpected(w.error());
  if (recipient.empty()) return std::unexpected("Erase: recipient is required");
  std::vector<std::int32_t> ids = Targets(partitions);
  if (auto o = CheckNoOpenCheckpoints(ids); !o) return std::unexpected(o.error());
  std::vector<BatchResult> out;
  auto matches = [&](std::string_view key) {
    std::string_view fields = key.substr(kPartitionBytes + 1);
    return (tenant.empty() || Field(fields, 0) == tenant) && Field(fields, 1) == recipient;
  };
  for (std::int32_t id : ids) {
    auto lp = Load(id);
    if (!lp) return std::unexpected(lp.error());
    Part* p = *lp;
    // Window keys of the recipient: recipient and sender_recipient kinds.
    std::set<std::string> wkeys;
    for (char kind : {static_cast<char>(WindowKind::kRecipient),
                      static_cast<char>(WindowKind::kSenderRecipient)}) {
      std::string prefix = PartitionPrefix(id);
      prefix.push_back(kind);
      if (!tenant.empty()) {
        prefix.append(tenant);
        prefix.push_back(kSep);
      }
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kWindows)));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        if (matches(View(it->key()))) wkeys.insert(it->key().ToString());
      }
      for (const auto& [k, e] : p->windows) {
        if (std::string_view(k).starts_with(prefix) && matches(k) && !e.value.Empty()) {
          wkeys.insert(k);
        }
      }
    }
    std::map<std::string, Decision> dks;
    for (char slot : {'T', 'S'}) {
      std::string prefix = PartitionPrefix(id);
      prefix.push_back(slot);
      if (!tenant.empty()) {
        prefix.append(tenant);
        prefix.push_back(kSep);
      }
      for (auto& [k, d] : ScanDecisions(p, prefix)) {
        if (matches(k)) dks.emplace(k, std::move(d));
      }
    }
    // Dedupe entries of the address, of every tenant (they carry the recipient's hash, no
    // tenant): one key range.
    std::vector<std::string> dsuffixes;
    {
      std::string hash_prefix;
      PutBe64(&hash_prefix, XXH64(recipient.data(), recipient.size(), 0));
      const std::string prefix = PartitionPrefix(id) + hash_prefix;
      std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kDedupe)));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        dsuffixes.emplace_back(View(it->key()).substr(kPartitionBytes));
      }
      if (!it->status().ok()) return std::unexpected(Err("scan dedupe", it->status()));
      for (const auto& [k, e] : p->dedupe) {
        if (std::string_view(k).starts_with(hash_prefix) && !e.erased) dsuffixes.push_back(k);
      }
      std::sort(dsuffixes.begin(), dsuffixes.end());
      dsuffixes.erase(std::unique(dsuffixes.begin(), dsuffixes.end()), dsuffixes.end());
    }
    if (wkeys.empty() && dks.empty() && dsuffixes.empty()) continue;
    BatchResult r;
    Batch b = StartBatch(p, &r);
    for (const std::string& sfx : dsuffixes) {
      auto [it, ins] = p->dedupe.try_emplace(sfx);
      it->second.erased = true;
      it->second.seen = 0;
      it->second.seq = b.seq;
      b.dedupe.push_back(&it->first);
    }
    for (const std::string& k : wkeys) {
      auto [it, ins] = p->windows.try_emplace(k);
      TouchWindow(&b, &it->first, &it->second);
      it->second.value = Window();
      it->second.used = use_clock_;
      Account(p, it->first, &it->second);
    }
    for (auto& [k, d] : dks) {
      Decision lift;
      lift.kind = DecisionKind::kLift;
      lift.scope = d.scope;
      lift.tenant = d.tenant;
      lift.recipient = d.recipient;
      lift.recipient_is_hash = d.recipient_is_hash;
      if (d.scope == Scope::kSender) lift.sender = d.sender;
      lift.origin = "erase";
      lift.decided_at_ms = opt_.clock->NowMs();
      lift.decision_id = DecisionId(lift, d.decision_id);
      if (auto rm = RemoveDecision(&b, k); !rm) return std::unexpected(rm.error());
      r.decisions.push_back(std::move(lift));
    }
    Finalize(&b, false, -1);
    out.push_back(std::move(r));
  }
  return out;
}

std::expected<BatchResult, std::string> EngineImpl::Import(std::int32_t partition,
                                                           std::span<const Decision> decisions) {
  std::lock_guard lock(mu_);
  if (auto w = CheckWritable(); !w) return std::unexpected(w.error());
  auto lp = Load(partition);
  if (!lp) return std::unexpected(lp.error());
  Part* p = *lp;
  if (auto o = CheckNoOpenCheckpoint(p); !o) return std::unexpected(o.error());
  BatchResult r;
  Batch b = StartBatch(p, &r);
  std::string key;
  for (const Decision& in : decisions) {
    Decision d = in;
    if (d.tenant.empty() && d.scope != Scope::kIpVendor) continue;
    key = PartitionPrefix(partition);
    DecisionKeySuffix(d, &key);
    auto de = GetDecision(p, key);
    if (!de) return std::unexpected(de.error());
    if ((*de)->present) continue;  // already suppressed (or paused / alerted)
    d.origin = "import";
    if (d.decided_at_ms == 0) d.decided_at_ms = opt_.clock->NowMs();
    d.evidence.example = CapUtf8(d.evidence.example, kExampleCap);
    d.note = CapUtf8(d.note, kExampleCap);
    if (d.rule.empty()) d.rule = "import";
    d.decision_id = DecisionId(d);
    if (auto put = PutDecision(&b, key, std::move(d)); !put) return std::unexpected(put.error());
  }
  Finalize(&b, false, -1);
  return r;
}

std::vector<PartitionSummary> EngineImpl::Summaries() {
  std::lock_guard lock(mu_);
  std::vector<PartitionSummary> out;
  std::unique_ptr<rocksdb::Iterator> meta(db_->NewIterator({}, cf(kMeta)));
  for (meta->SeekToFirst(); meta->Valid(); meta->Next()) {
    std::string_view mk = View(meta->key());
    if (mk.size() != kPartitionBytes + 1 || mk[kPartitionBytes] != kMetaOffsets) continue;
    PartitionSummary s;
    s.partition = KeyPartition(mk);
    bool has_wm = false;
    if (!DecodeOffsets(View(meta->value()), &s.next_offset, &s.watermark_ms, &has_wm)) continue;
    std::string prefix = PartitionPrefix(s.partition);
    XXH64_state_t* h = XXH64_createState();
    XXH64_reset(h, 0);
    auto add = [h](std::string_view x) {
      std::uint64_t n = x.size();
      XXH64_update(h, &n, sizeof n);
      XXH64_update(h, x.data(), x.size());
    };
    std::string live;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kWindows)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string_view k = View(it->key());
      int kind = k.size() > kPartitionBytes ? WindowKindIndex(k[kPartitionBytes]) : -1;
      Window w;
      if (kind < 0 || !DecodeWindow(View(it->value()), &w)) continue;
      live.clear();
      if (!EncodeLive(w, specs_[static_cast<std::size_t>(kind)], s.watermark_ms, &live)) {
        continue;
      }
      ++s.window_keys;
      add(k);
      add(live);
    }
    it.reset(db_->NewIterator({}, cf(kDecisions)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      Decision d;
      if (!DecodeDecision(View(it->value()), &d)) continue;
      if (d.expires_at_ms != 0 && has_wm && d.expires_at_ms <= s.watermark_ms) continue;
      ++s.active_decisions;
      add(View(it->key()));
      add(View(it->value()));
    }
    s.hash = Hex16(XXH64_digest(h));
    XXH64_freeState(h);
    out.push_back(std::move(s));
  }
  return out;
}

StoreStats EngineImpl::Stats() {
  std::lock_guard lock(mu_);
  StoreStats st;
  for (auto* h : handles_) {
    std::uint64_t v = 0;
    if (db_->GetIntProperty(h, "rocksdb.estimate-live-data-size", &v)) {
      st.live_bytes += static_cast<std::int64_t>(v);
    }
    if (db_->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) {
      st.sst_bytes += static_cast<std::int64_t>(v);
    }
    if (db_->GetIntProperty(h, "rocksdb.estimate-pending-compaction-bytes", &v)) {
      st.pending_compaction_bytes += static_cast<std::int64_t>(v);
    }
    if (db_->GetIntProperty(h, "rocksdb.size-all-mem-tables", &v)) {
      st.memtable_bytes += static_cast<std::int64_t>(v);
    }
    if (db_->GetIntProperty(h, "rocksdb.estimate-table-readers-mem", &v)) {
      st.table_readers_bytes += static_cast<std::int64_t>(v);
    }
  }
  st.hot_cache_bytes = static_cast<std::int64_t>(HotBytes());
  st.block_cache_usage = static_cast<std::int64_t>(cache_->GetUsage());
  st.memory_bytes = st.hot_cache_bytes + st.block_cache_usage + st.table_readers_bytes;
  st.write_stall_micros =
      static_cast<std::int64_t>(statistics_->getTickerCount(rocksdb::STALL_MICROS));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator({}, cf(kDecisions)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    if (it->key().size() <= kPartitionBytes) continue;
    switch (it->key()[kPartitionBytes]) {
      case 'T':
      case 'S': ++st.active_suppressions; break;
      case 'D':
      case 'I': ++st.active_pauses; break;
      case 'A': ++st.active_alerts; break;
      default: break;
    }
  }
  return st;
}

// ---------------------------------------------------------------- Restorer

RestorerImpl::RestorerImpl(EngineImpl* engine, std::int32_t partition)
    : engine_(engine), partition_(partition), prefix_(PartitionPrefix(partition)) {
  local_next_ = engine_->NextOffset(partition);
  std::lock_guard lock(engine_->mu_);
  std::string key = prefix_;
  key.push_back(kMetaOffsets);
  std::string v;
  std::int64_t no = 0;
  if (engine_->db_->Get({}, engine_->cf(EngineImpl::kMeta), key, &v).ok()) {
    DecodeOffsets(v, &no, &watermark_, &has_watermark_);
  }
  key.back() = kMetaDedupe;
  if (!engine_->db_->Get({}, engine_->cf(EngineImpl::kMeta), key, &v).ok() ||
      !Reader(v).Fixed(&legacy_dedupe_wm_)) {
    legacy_dedupe_wm_ = MarkOfUnmarkedState(has_watermark_, watermark_);
  }
}

std::expected<void, std::string> RestorerImpl::Add(std::int64_t /*changelog_offset*/,
                                                   std::string_view key,
                                                   std::optional<std::string_view> value,
                                                   std::string_view batch_id) {
  if (engine_->opt_.read_only) return std::unexpected("state opened read-only");
  if (key.size() < 1 + kPartitionBytes || key.substr(1, kPartitionBytes) != prefix_) {
    return std::unexpected("changelog record of another partition or malformed key");
  }
  if (batch_id != current_batch_) {  // a batch cut short: its records never count
    buffered_.clear();
    current_batch_.assign(batch_id);
  }
  if (key[0] != kClMarker) {
    if (key[0] != kClWindows && key[0] != kClDecisions && key[0] != kClExpiry &&
        key[0] != kClDedupe) {
      return std::unexpected("unknown changelog record type");
    }
    buffered_.emplace_back(std::string(key),
                           value ? std::optional<std::string>(std::string(*value)) : std::nullopt);
    return {};
  }
  std::int64_t next = -1, wm = 0;
  bool has_wm = false;
  std::uint8_t flags = 0;
  Reader r(value.value_or(std::string_view()));
  if (!r.Fixed(&next) || !r.Fixed(&wm)) return std::unexpected("malformed commit marker");
  std::uint8_t h = 0;
  if (!r.Fixed(&h) || !r.Fixed(&flags)) return std::unexpected("malformed commit marker");
  has_wm = h != 0;
  std::int64_t legacy = MarkOfUnmarkedState(has_wm, wm);  // a batch of the earlier version
  if ((flags & 2) != 0 && !r.Fixed(&legacy)) return std::unexpected("malformed commit marker");
  bool operator_batch = (flags & 1) != 0;
  std::string id(batch_id);
  bool skip = key.substr(1 + kPartitionBytes) != batch_id || seen_batches_.contains(id) ||
              (local_next_ && (operator_batch ? next < *local_next_ : next <= *local_next_));
  if (!skip) {
    for (auto& [k, v] : buffered_) {
      EngineImpl::Cf c = k[0] == kClWindows     ? EngineImpl::kWindows
                         : k[0] == kClDecisions ? EngineImpl::kDecisions
                         : k[0] == kClExpiry    ? EngineImpl::kExpiry
                                                : EngineImpl::kDedupe;
      rocksdb::Slice rk(k.data() + 1, k.size() - 1);
      rocksdb::Status s = v ? wb_.Put(engine_->cf(c), rk, *v) : wb_.Delete(engine_->cf(c), rk);
      if (!s.ok()) return std::unexpected(Err("restore", s));
      ++applied_;
    }
    local_next_ = next;
    watermark_ = wm;
    has_watermark_ = has_wm;
    legacy_dedupe_wm_ = std::max(legacy_dedupe_wm_, legacy);
    moved_ = true;
    seen_batches_.insert(std::move(id));
    if (wb_.GetDataSize() > (32u << 20)) {
      if (auto f = Flush(); !f) return f;
    }
  }
  buffered_.clear();
  current_batch_.clear();
  return {};
}

std::expected<void, std::string> RestorerImpl::Flush() {
  rocksdb::Status s = engine_->db_->Write(engine_->write_options_, &wb_);
  wb_.Clear();
  if (!s.ok()) return std::unexpected(Err("restore write", s));
  return {};
}

std::expected<std::int64_t, std::string> RestorerImpl::Finish(std::int64_t end_offset) {
  if (engine_->opt_.read_only) return std::unexpected("state opened read-only");
  std::lock_guard lock(engine_->mu_);
  engine_->parts_.erase(partition_);
  if (moved_) {
    std::string key = prefix_;
    key.push_back(kMetaOffsets);
    wb_.Put(engine_->cf(EngineImpl::kMeta), key,
            EncodeOffsets(local_next_.value_or(-1), watermark_, has_watermark_))
        .PermitUncheckedError();
    key.back() = kMetaDedupe;
    std::string mark;
    PutFixed<std::int64_t>(&mark, legacy_dedupe_wm_);
    wb_.Put(engine_->cf(EngineImpl::kMeta), key, mark).PermitUncheckedError();
  }
  std::string key = prefix_;
  key.push_back(kMetaChangelog);
  std::string v;
  PutFixed<std::int64_t>(&v, end_offset);
  wb_.Put(engine_->cf(EngineImpl::kMeta), key, v).PermitUncheckedError();
  if (auto f = Flush(); !f) return std::unexpected(f.error());
  if (moved_ && has_watermark_) engine_->wm_table_->Set(partition_, watermark_);
  buffered_.clear();
  return applied_;
}

}  // namespace
}  // namespace internal

std::expected<std::unique_ptr<Engine>, std::string> Engine::Open(const EngineOptions& options) {
  auto engine = std::make_unique<internal::EngineImpl>(options);
  if (auto r = engine->Init(); !r) return std::unexpected(r.error());
  return engine;
}

}  // namespace bouncestream::state
