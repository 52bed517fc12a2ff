// The whole per-event path of `bouncestream run` without Kafka, shared by path_bench (timed
// in process) and e2e_bench (the reference the broker runs are checked against).
//
// Input stage (Processor::Impl::ProcessMessage): decode (auto), classify (one Session), encode
// the classified record with EncodeClassifiedRecord (event + classification + source, and its
// observation header) and its key, or format a dead letter's header values.
// State stage (Processor::Impl::ProcessStateBatch): ObservationReader::Read of every classified
// record of the poll batch (from its observation header), grouped by classified partition, Engine::Apply per partition,
// every decision encoded with state::EncodeJson + RecordKey + its topic; with `run`'s checkpoint
// cadence: a partition's Apply closes its checkpoint (checkpoint = true) once it holds
// checkpoint_events records or its first batch is checkpoint_interval_ms old, then
// Engine::Commit (one RocksDB WriteBatch with the state, the changelog values and the offset;
// WAL on); Finish() closes the checkpoints still open (run: on revoke and shutdown).
//
// Partitioning is the one a broker run has: input records are keyed by recipient domain
// (TrafficGenerator's key) and go to PartitionForKey(key, kPartitions) of `kInputTopic` (the
// producer uses murmur2), the classified record goes to PartitionForKey(domain, kPartitions) of
// the classified topic. Both topics have kPartitions partitions, so every classified partition
// is fed by exactly one input partition, in input order: the state of a partition does not
// depend on timing, and a broker run must end with the same partition hashes as this pass.
#ifndef BOUNCESTREAM_BENCHMARKS_PATH_COMMON_H_
#define BOUNCESTREAM_BENCHMARKS_PATH_COMMON_H_

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <expected>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "classify/rule_set.h"
#include "state/clock.h"
#include "state/decision.h"
#include "state/engine.h"
#include "stream/admin.h"
#include "stream/config.h"
#include "stream/decode.h"
#include "stream/demo/generator.h"
#include "stream/encode.h"
#include "stream/observe.h"

namespace bouncestream::bench {

using stream::GeneratedRecord;

constexpr const char* kInputTopic = "bounces.in";
constexpr std::int32_t kPartitions = 6;

inline std::string ToLowerAscii(std::string_view s) {  // as stream/processor.cc does for keys
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

inline std::uint64_t Fnv1a(std::string_view s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// TrafficGenerator's stream (six formats, ~1 % retried duplicates, ~0.5 % malformed), with
// `scale` times as many distinct recipients: every "userNNNN@" of a record (the generator draws
// 3000 local parts per domain) becomes "userNNNN.K@" with K = hash(record) % scale, so a retried
// duplicate keeps its recipient and the reply text keeps naming the same address.
inline std::vector<GeneratedRecord> MakeRecords(std::size_t n, int scale) {
  stream::TrafficGenerator gen;
  std::vector<GeneratedRecord> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    GeneratedRecord r = gen.Next();
    if (scale > 1 && !r.malformed) {
      const std::string k = "." + std::to_string(Fnv1a(r.value) % static_cast<std::uint64_t>(scale));
      std::string v;
      v.reserve(r.value.size() + 16);
      std::size_t i0 = 0;
      for (std::size_t p = r.value.find("user", 0); p != std::string::npos;
           p = r.value.find("user", p + 4)) {
        const std::size_t d = p + 4;
        if (d + 5 > r.value.size() || r.value[d + 4] != '@') continue;
        bool digits = true;
        for (std::size_t j = d; j < d + 4; ++j) digits &= r.value[j] >= '0' && r.value[j] <= '9';
        if (!digits) continue;
        v.append(r.value, i0, d + 4 - i0).append(k);
        i0 = d + 4;
      }
      v.append(r.value, i0, std::string::npos);
      r.value = std::move(v);
    }
    out.push_back(std::move(r));
  }
  return out;
}

// Input partition/offset of every record, as the broker run's producer places them.
struct Placed {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
};
inline std::vector<Placed> Place(const std::vector<GeneratedRecord>& records) {
  std::vector<Placed> out(records.size());
  std::vector<std::int64_t> next(kPartitions, 0);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const std::int32_t p = stream::PartitionForKey(records[i].key, kPartitions);
    out[i] = {p, next[static_cast<std::size_t>(p)]++};
  }
  return out;
}

inline std::shared_ptr<const classify::Classifier> MakeClassifier(const std::string& engine_name) {
  auto rules = classify::RuleSet::Load(classify::DefaultRulesPath());
  if (!rules) {
    std::fprintf(stderr, "rules: %s\n", rules.error()[0].ToString().c_str());
    return nullptr;
  }
  const auto engine = classify::ParseEngine(engine_name);
  if (!engine) {
    std::fprintf(stderr, "unknown engine %s\n", engine_name.c_str());
    return nullptr;
  }
  auto c = classify::Classifier::Create(*rules, {.engine = *engine});
  if (!c) {
    std::fprintf(stderr, "classifier: %s\n", c.error()[0].ToString().c_str());
    return nullptr;
  }
  return *c;
}

struct PathStats {
  std::int64_t records = 0, events = 0, dead_letters = 0, decisions = 0, changelog = 0;
  std::int64_t out_bytes = 0;  // classified + decision + changelog bytes produced
  std::int64_t duplicates = 0;
  std::int64_t checkpoints = 0, checkpoints_by_time = 0;  // closed by Batch()/Finish()
};

struct PathOptions {
  std::string dir;
  std::int64_t block_cache_bytes = stream::StateSettings{}.block_cache_bytes;
  std::int64_t hot_window_entries = stream::StateSettings{}.hot_window_entries;
  bool fresh_decoder_per_record = false;  // the reference pass
  // The state stage reads every classified record from its JSON, not from its observation
  // header (the reference passes: so the checks compare the two encodings too).
  bool read_json = false;
  bool keep_decisions = false;            // collect every decision's JSON (the checks)
  // `run`'s cadence ([state] checkpoint_events / checkpoint_interval); 1 = a checkpoint per poll
  // batch; interval 0 = by events only (deterministic: what callgrind runs use).
  std::int64_t checkpoint_events = stream::StateSettings{}.checkpoint_events;
  std::int64_t checkpoint_interval_ms = stream::StateSettings{}.checkpoint_interval_ms;
};

class WholePath {
 public:
  static std::expected<std::unique_ptr<WholePath>, std::string> Open(
      const PathOptions& o, std::shared_ptr<const classify::Classifier> classifier) {
    std::unique_ptr<WholePath> w(new WholePath(o, std::move(classifier)));
    const stream::Config config;  // `run`'s defaults: policy, dedupe horizon, lateness
    state::EngineOptions eo;
    eo.dir = o.dir;
    eo.sync_writes = config.state.sync_writes;
    eo.block_cache_bytes = static_cast<std::size_t>(o.block_cache_bytes);
    eo.hot_window_entries = static_cast<std::size_t>(o.hot_window_entries);
    eo.dedupe_horizon_ms = config.state.dedupe_horizon_ms;
    eo.max_lateness_ms = config.state.max_lateness_ms;
    eo.policy = config.policy;
    eo.clock = &w->clock_;
    auto e = state::Engine::Open(eo);
    if (!e) return std::unexpected(e.error());
    w->engine_ = std::move(*e);
    w->topics_ = config.topics;
    return w;
  }

  // One poll batch: the input records [0, n) of `recs` (placed at `placed`), then the state
  // stage on the classified records they produced (the processor reads them back in a later
  // poll batch; here at once, batch for batch).
  std::expected<void, std::string> Batch(std::span<const GeneratedRecord> recs,
                                         std::span<const Placed> placed) {
    classified_.clear();
    for (std::size_t i = 0; i < recs.size(); ++i) Input(recs[i], placed[i]);
    return StateStage();
  }

  // Closes every open checkpoint (Apply without events, checkpoint = true; Commit).
  std::expected<void, std::string> Finish() {
    results_.clear();
    for (auto& [partition, cp] : open_) {
      if (!cp.open) continue;
      auto r = engine_->Apply(partition, {}, cp.applied_offset, true);
      if (!r) return std::unexpected("apply: " + r.error());
      cp = {};
      Close(*r);
      results_.push_back(std::move(*r));
    }
    return CommitClosed();
  }

  const PathStats& stats() const { return stats_; }
  // After Finish(): the durable state.
  std::vector<state::PartitionSummary> Summaries() {
    if (auto f = Finish(); !f) std::fprintf(stderr, "finish: %s\n", f.error().c_str());
    return engine_->Summaries();
  }
  // partition -> decision JSON lines, in production order
  const std::map<std::int32_t, std::vector<std::string>>& decisions() const { return decisions_; }
  state::StoreStats StoreStats() { return engine_->Stats(); }

 private:
  WholePath(const PathOptions& o, std::shared_ptr<const classify::Classifier> c)
      : options_(o), classifier_(c), session_(c) {}

  struct Classified {
    std::int32_t partition;
    std::int64_t offset;  // in the classified partition
    std::string key, value;
    std::string header;  // the kObservationHeader value, as the input stage produces it
  };

  void Input(const GeneratedRecord& r, const Placed& at) {
    ++stats_.records;
    events_.clear();
    std::unique_ptr<stream::Decoder> fresh;
    stream::Decoder* dec = &decoder_;
    if (options_.fresh_decoder_per_record) {
      fresh = std::make_unique<stream::Decoder>();
      dec = fresh.get();
    } else {
      decoder_.Reset();
    }
    auto decoded = dec->Decode(r.value, stream::InputFormat::kAuto, &events_);
    if (!decoded) {
      // DeadLetter(): the header values; key and payload go out unchanged.
      partition_text_ = std::to_string(at.partition);
      offset_text_ = std::to_string(at.offset);
      ++stats_.dead_letters;
      stats_.out_bytes += static_cast<std::int64_t>(r.value.size() + partition_text_.size() +
                                                    offset_text_.size() +
                                                    decoded.error().kind.size());
      return;
    }
    for (const auto& ev : events_) {
      const auto c = session_.Classify(ev);
      Classified out;
      out.key = ToLowerAscii(ev.RecipientDomain());
      stream::EncodeClassifiedRecord(ev, c, {kInputTopic, at.partition, at.offset,
                                             stream::ToString(*decoded)},
                                     &out.value, &out.header);
      out.partition = stream::PartitionForKey(out.key, kPartitions);
      out.offset = next_classified_[out.partition]++;
      stats_.out_bytes +=
          static_cast<std::int64_t>(out.key.size() + out.value.size() + out.header.size());
      ++stats_.events;
      classified_.push_back(std::move(out));
    }
  }

  std::expected<void, std::string> StateStage() {
    if (classified_.empty()) return {};
    reader_.Reset();
    parts_.clear();
    for (const Classified& m : classified_) {
      auto o = reader_.Read(m.value, m.key, options_.read_json ? std::string_view() : m.header);
      Part& part = parts_[m.partition];
      part.next_offset = m.offset + 1;
      ++part.records;
      if (!o) return std::unexpected("classified record unreadable: " + o.error());
      part.obs.push_back(*o);
    }
    results_.clear();
    const std::int64_t now_ms = options_.checkpoint_interval_ms > 0 ? SteadyMs() : 0;
    for (auto& [partition, part] : parts_) {
      OpenCheckpoint& cp = open_[partition];
      const bool by_time = cp.open && options_.checkpoint_interval_ms > 0 &&
                           now_ms - cp.since_ms >= options_.checkpoint_interval_ms;
      const bool checkpoint = cp.records + part.records >= options_.checkpoint_events || by_time;
      auto r = engine_->Apply(partition, part.obs, part.next_offset, checkpoint);
      if (!r) return std::unexpected("apply: " + r.error());
      if (checkpoint) {
        stats_.checkpoints_by_time += by_time ? 1 : 0;
        cp = {};
      } else {
        if (!cp.open) cp.since_ms = now_ms;
        cp.open = true;
        cp.records += part.records;
        cp.applied_offset = part.next_offset;
      }
      stats_.duplicates += r->stats.duplicates;
      for (const state::Decision& d : r->decisions) {  // PublishResult's encoding
        value_.clear();
        state::EncodeJson(d, &value_);
        const std::string& topic = stream::DecisionTopic(topics_, d);
        const std::string key = state::RecordKey(d);
        stats_.out_bytes += static_cast<std::int64_t>(value_.size() + key.size());
        (void)topic;
        ++stats_.decisions;
        if (options_.keep_decisions) decisions_[partition].push_back(value_);
      }
      if (!checkpoint) continue;  // Commit of a deferred result is a no-op: not called
      Close(*r);
      results_.push_back(std::move(*r));
    }
    return CommitClosed();
  }

  // A closed checkpoint's changelog (run publishes it, then the marker).
  void Close(const state::BatchResult& r) {
    for (const state::ChangelogRecord& c : r.changelog) {
      stats_.out_bytes += static_cast<std::int64_t>(c.key.size() + (c.value ? c.value->size() : 0));
    }
    stats_.changelog += static_cast<std::int64_t>(r.changelog.size());
    ++stats_.checkpoints;
  }

  std::expected<void, std::string> CommitClosed() {
    for (state::BatchResult& r : results_) {
      if (auto c = engine_->Commit(r); !c) return std::unexpected("commit: " + c.error());
    }
    results_.clear();
    return {};
  }

  static std::int64_t SteadyMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  struct Part {
    std::vector<state::Observation> obs;
    std::int64_t records = 0;
    std::int64_t next_offset = -1;
  };
  // A partition's open checkpoint (Processor::Impl's StatePartition).
  struct OpenCheckpoint {
    bool open = false;
    std::int64_t records = 0;
    std::int64_t since_ms = 0;
    std::int64_t applied_offset = -1;
  };

  PathOptions options_;
  std::shared_ptr<const classify::Classifier> classifier_;
  classify::Classifier::Session session_;
  stream::Decoder decoder_;
  stream::ObservationReader reader_;
  state::SystemClock clock_;
  std::unique_ptr<state::Engine> engine_;
  stream::OutputTopics topics_;
  std::vector<classify::BounceEvent> events_;
  std::vector<Classified> classified_;
  std::map<std::int32_t, Part> parts_;
  std::map<std::int32_t, OpenCheckpoint> open_;
  std::vector<state::BatchResult> results_;
  std::map<std::int32_t, std::int64_t> next_classified_;
  std::map<std::int32_t, std::vector<std::string>> decisions_;
  std::string value_, partition_text_, offset_text_;
  PathStats stats_;
};

// "p=hash,p=hash,..." over the partitions that have state.
inline std::string HashList(const std::vector<state::PartitionSummary>& s) {
  std::string out;
  std::vector<state::PartitionSummary> v = s;
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.partition < b.partition; });
  for (const auto& p : v) {
    if (p.next_offset < 0) continue;
    if (!out.empty()) out += ",";
    out += std::to_string(p.partition) + "=" + p.hash;
  }
  return out;
}

}  // namespace bouncestream::bench

#endif  // BOUNCESTREAM_BENCHMARKS_PATH_COMMON_H_
