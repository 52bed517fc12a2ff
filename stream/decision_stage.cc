// The decision stage of the processor: records of the classified topic (the repartition step,
// keyed by recipient domain) -> state::Engine (windows + policy in RocksDB) -> suppressions,
// blocks and alerts, with the state mirrored to the changelog topic.
//
// Per poll batch: Apply every partition's records (in memory) and publish their decisions at
// once. A partition's checkpoint spans several poll batches: it is closed when it holds
// [state] checkpoint_events records or checkpoint_interval after its first batch, and always
// before a revoke, a shutdown and an operator command (Lift, Erase, Import). Closing it: the
// changelog records (each changed key once), wait until every output so far is acknowledged,
// the commit marker, wait again, then Commit (one RocksDB WriteBatch holding the state and the
// partition's next offset), and only then the partition's classified offset is stored for the
// group commit: no offset of the classified topic passes the durable state. On assignment a
// partition resumes from the offset in RocksDB, after restoring from the changelog whatever the
// local state lacks. So the state is as if every classified record were applied exactly once;
// outputs are at least once, with deterministic decision ids (a crash replays the open
// checkpoint: at most one checkpoint of decisions per partition published again).
#include <librdkafka/rdkafka.h>

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>

#include "state/decision.h"
#include "stream/internal/processor_impl.h"
#include "stream/kafka_produce.h"
#include "stream/log.h"

namespace bouncestream::stream {
namespace {

constexpr int kMetadataTimeoutMs = 10000;
constexpr int kWatermarkTimeoutMs = 5000;
// A restore that receives nothing for this long fails (the partition is not processed).
constexpr int kRestoreStallMs = 30000;
constexpr const char* kBatchHeader = "bouncestream.batch";
// Retries of a blocked state dir: 200 ms, doubling, at most 5 s apart.
constexpr int kStateRetryMinMs = 200;
constexpr int kStateRetryMaxMs = 5000;
// The probe write before the state is reopened: this many bytes, fsync'ed, then removed.
constexpr std::size_t kProbeBytes = 1u << 20;
// Back-pressure: consumption pauses when the producer queue holds more than this many records
// (or a quarter of queue.buffering.max.messages, if that is smaller) and resumes below half.
constexpr int kBackpressureMaxQueued = 20000;
constexpr const char* kProbeName = ".bouncestream-write-probe";

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Writes, syncs and removes a probe file in the state dir: whether the dir can take writes again.
std::expected<void, std::string> ProbeStateDir(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kProbeName).string();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::unexpected("probe create: " + std::string(std::strerror(errno)));
  std::string block(64u << 10, '\0');
  std::string error;
  for (std::size_t done = 0; done < kProbeBytes && error.empty();) {
    const ssize_t n = ::write(fd, block.data(), block.size());
    if (n < 0) {
      if (errno != EINTR) error = "probe write: " + std::string(std::strerror(errno));
      continue;
    }
    done += static_cast<std::size_t>(n);
  }
  if (error.empty() && ::fsync(fd) != 0) error = "probe fsync: " + std::string(std::strerror(errno));
  ::close(fd);
  if (::unlink(path.c_str()) != 0 && error.empty()) {
    error = "probe unlink: " + std::string(std::strerror(errno));
  }
  if (!error.empty()) return std::unexpected(error);
  return {};
}

// Before a state write: whether the state dir can take `need` more bytes. A write that fails
// inside RocksDB is avoided where it can be seen coming: Debian's librocksdb 7.8.3 is built with
// assertions, and a WAL append that fails (ENOSPC, EPERM, EROFS) can abort the process there
// (writable_file_writer.h:312, AssertFalseAndGetStatusForPrevError) instead of returning the
// error. Free space below the margin, a read-only mount or a dir that refuses writes (EPERM of
// an immutable dir, EACCES) block the stage before RocksDB is asked to write.
constexpr std::int64_t kFreeSpaceMargin = 8 << 20;
std::expected<void, std::string> StateDirWritable(const std::string& dir, std::int64_t need) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) return std::unexpected("statvfs: " + std::string(std::strerror(errno)));
  if ((st.f_flag & ST_RDONLY) != 0) return std::unexpected("read-only file system");
  const std::int64_t free = static_cast<std::int64_t>(st.f_bavail) * static_cast<std::int64_t>(st.f_frsize);
  if (free < need + kFreeSpaceMargin) {
    return std::unexpected("no space left: " + std::to_string(free) + " bytes free, " +
                           std::to_string(need + kFreeSpaceMargin) + " needed");
  }
  if (::access(dir.c_str(), W_OK) != 0) return std::unexpected("not writable: " + std::string(std::strerror(errno)));
  return {};
}

// The engine as the decision stage hands it to the operator commands (admin_stage.cc): the
// engine refuses Lift, Erase and Import of a partition with an open checkpoint, so each of them
// first closes every open checkpoint (CloseCheckpoints: published, acknowledged, written, the
// offsets stored). Everything else is passed through.
class CheckpointClosingEngine final : public state::Engine {
 public:
  CheckpointClosingEngine(std::unique_ptr<state::Engine> inner,
                          std::function<bool()> close_checkpoints)
      : inner_(std::move(inner)), close_(std::move(close_checkpoints)) {}

  std::optional<std::int64_t> NextOffset(std::int32_t partition) const override {
    return inner_->NextOffset(partition);
  }
  std::int64_t ChangelogStart(std::int32_t partition) const override {
    return inner_->ChangelogStart(partition);
  }
  void SetChangelogPosition(std::int32_t partition, std::int64_t offset) override {
    inner_->SetChangelogPosition(partition, offset);
  }
  std::unique_ptr<state::Restorer> BeginRestore(std::int32_t partition) override {
    return inner_->BeginRestore(partition);
  }
  void Forget(std::int32_t partition) override { inner_->Forget(partition); }
  using state::Engine::Apply;
  std::expected<state::BatchResult, std::string> Apply(std::int32_t partition,
                                                       std::span<const state::Observation> events,
                                                       std::int64_t next_offset,
                                                       bool checkpoint) override {
    return inner_->Apply(partition, events, next_offset, checkpoint);
  }
  std::expected<void, std::string> Commit(state::BatchResult& result) override {
    return inner_->Commit(result);
  }
  std::vector<state::Decision> Query(std::string_view tenant, std::string_view recipient) override {
    return inner_->Query(tenant, recipient);
  }
  void ForEachActive(const std::function<bool(std::int32_t, const state::Decision&)>& fn) override {
    inner_->ForEachActive(fn);
  }
  std::expected<std::vector<state::BatchResult>, std::string> Lift(
      std::string_view decision_id, std::string_view note,
      std::span<const std::int32_t> partitions) override {
    if (!close_()) return std::unexpected(std::string(kNotClosed));
    return inner_->Lift(decision_id, note, partitions);
  }
  std::expected<std::vector<state::BatchResult>, std::string> Erase(
      std::string_view tenant, std::string_view recipient,
      std::span<const std::int32_t> partitions) override {
    if (!close_()) return std::unexpected(std::string(kNotClosed));
    return inner_->Erase(tenant, recipient, partitions);
  }
  std::expected<state::BatchResult, std::string> Import(
      std::int32_t partition, std::span<const state::Decision> decisions) override {
    if (!close_()) return std::unexpected(std::string(kNotClosed));
    return inner_->Import(partition, decisions);
  }
  std::vector<state::PartitionSummary> Summaries() override { return inner_->Summaries(); }
  state::StoreStats Stats() override { return inner_->Stats(); }

 private:
  static constexpr std::string_view kNotClosed =
      "the open state checkpoints could not be written first (state dir not writable or the "
      "processor is stopping); retry later";
  std::unique_ptr<state::Engine> inner_;
  std::function<bool()> close_;
};

RateLimitedLog& StateRetryLog() {
  static RateLimitedLog log(10000);
  return log;
}

}  // namespace

// Partition count of `topic` as the cluster reports it; 0 when it does not exist.
std::expected<int, std::string> PartitionCount(rd_kafka_t* rk, const std::string& topic) {
  rd_kafka_topic_t* t = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, t, &md, kMetadataTimeoutMs);
  rd_kafka_topic_destroy(t);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected("metadata of topic '" + topic + "': " + rd_kafka_err2str(e));
  }
  int count = 0;
  if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    count = md->topics[0].partition_cnt;
  }
  rd_kafka_metadata_destroy(md);
  return count;
}

// What a decision is about, for the status page (addresses are masked by the board).
std::string Subject(const state::Decision& d) {
  const std::string tenant = d.tenant.empty() ? std::string() : d.tenant + ": ";
  switch (d.scope) {
    case state::Scope::kIpVendor:
      return d.sending_ip + " -> " + d.vendor + (d.dnsbl.empty() ? "" : " (" + d.dnsbl + ")");
    case state::Scope::kDomain:
      return tenant + "sender -> " + d.domain;
    case state::Scope::kSender:
      if (d.kind == state::DecisionKind::kAlert) return tenant + "sender " + d.reason;
      [[fallthrough]];
    case state::Scope::kTenant:
      return tenant + (d.recipient_is_hash ? std::string("(hashed)") : d.recipient);
  }
  return {};
}

rd_kafka_t* NewSideConsumer(const Config& config, std::string_view role,
                            const KafkaProperties& overrides, std::string* error) {
  KafkaProperties props = ConsumerProperties(config);
  for (const auto& [k, v] : overrides) {
    auto it = std::find_if(props.begin(), props.end(), [&](const auto& kv) { return kv.first == k; });
    if (it != props.end()) {
      it->second = v;
    } else {
      props.emplace_back(k, v);
    }
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      *error = std::string(role) + " property '" + k + "': " + err;
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (rk == nullptr) *error = std::string(role) + ": " + err;
  return rk;
}

std::expected<void, std::string> Processor::Impl::OpenState() {
  state::EngineOptions o;
  o.dir = config.state_dir;
  o.sync_writes = config.state.sync_writes;
  o.block_cache_bytes = static_cast<std::size_t>(config.state.block_cache_bytes);
  o.write_buffer_bytes = static_cast<std::size_t>(config.state.write_buffer_bytes);
  o.hot_cache_bytes = static_cast<std::size_t>(config.state.hot_window_cache_bytes);
  o.hot_window_entries = static_cast<std::size_t>(config.state.hot_window_entries);
  o.dedupe_horizon_ms = config.state.dedupe_horizon_ms;
  o.max_lateness_ms = config.state.max_lateness_ms;
  o.policy = config.policy;
  o.clock = &wall_clock;
  auto opened = state::Engine::Open(o);
  if (!opened) return std::unexpected("state dir '" + config.state_dir + "': " + opened.error());
  engine = std::make_unique<CheckpointClosingEngine>(std::move(*opened),
                                                     [this] { return CloseCheckpoints("admin"); });
  reader = std::make_unique<ObservationReader>(
      config.state.hash_recipients ? config.state.hmac_key : std::string());
  changelog_topic = config.group + "-state-changelog";
  return {};
}

// The changelog must have (at least) one partition per classified partition: partition p of the
// changelog mirrors the state of classified partition p. Creating it is the operator's job on a
// real cluster (cleanup.policy=compact); a clear error beats a silent mis-partitioned restore.
std::expected<void, std::string> Processor::Impl::CheckStateTopics() {
  auto classified = PartitionCount(producer, config.topics.classified);
  if (!classified) return std::unexpected(classified.error());
  auto changelog = PartitionCount(producer, changelog_topic);
  if (!changelog) return std::unexpected(changelog.error());
  classified_partitions = *classified;
  if (*classified == 0) {
    return std::unexpected("topic '" + config.topics.classified + "' does not exist");
  }
  if (*changelog < *classified) {
    return std::unexpected("changelog topic '" + changelog_topic + "' has " +
                           std::to_string(*changelog) + " partitions, needs " +
                           std::to_string(*classified) + " (one per partition of '" +
                           config.topics.classified + "'; create it with cleanup.policy=compact)");
  }
  return {};
}

void Processor::Impl::AssignState(rd_kafka_topic_partition_list_t* parts) {
  if (!config.state.enabled) return;
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    if (!IsStateTopic(p.topic)) continue;
    if (state_blocked || engine == nullptr) {
      // The state dir cannot be written (or the state is being reopened): the partition stays
      // paused; RetryState() restores it and seeks it to the state's offset once writes work.
      p.offset = RD_KAFKA_OFFSET_END;
      continue;
    }
    ++counters.restoring_partitions;
    auto restored = Restore(p.partition);
    --counters.restoring_partitions;
    if (!restored && !ProbeStateDir(config.state_dir)) {
      // Not a broken changelog: the disk refuses the restored state. Wait for it like a failed
      // batch write instead of stopping.
      BlockState("restore", p.partition, restored.error());
      p.offset = RD_KAFKA_OFFSET_END;
      continue;
    }
    if (!restored) {
      // Processing this partition without its state would decide wrongly; stop instead.
      if (!fatal) {
        fatal = true;
        fatal_reason = "state restore failed";
      }
      Log(LogLevel::kError, "state restore failed; stopping",
          {{"partition", std::int64_t{p.partition}}, {"error", std::string_view(restored.error())}});
      p.offset = RD_KAFKA_OFFSET_END;  // nothing is consumed before the process stops
      continue;
    }
    const auto next = engine->NextOffset(p.partition);
    p.offset = next ? *next : RD_KAFKA_OFFSET_BEGINNING;
    state_parts[p.partition] = {.next_offset = next ? *next : -1,
                                .applied_offset = next ? *next : -1};
    if (next) start_offsets_to_store.push_back({p.partition, *next});
    Log(LogLevel::kInfo, "state partition ready",
        {{"partition", std::int64_t{p.partition}}, {"next_offset", next ? *next : -1}});
  }
}

// After rd_kafka_assign: the group's committed offset of a classified partition follows the
// state (lag monitoring, and an honest committed offset even when no new record arrives).
void Processor::Impl::StoreStateStartOffsets() {
  // Newly assigned partitions start unpaused: pause them too while the reason lasts.
  if (state_blocked || backpressure) {
    consumption_paused = false;
    UpdatePause();
  }
  if (start_offsets_to_store.empty()) return;
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(start_offsets_to_store.size()));
  for (const auto& [partition, offset] : start_offsets_to_store) {
    rd_kafka_topic_partition_list_add(list, config.topics.classified.c_str(), partition)->offset =
        offset;
  }
  rd_kafka_offsets_store(consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  start_offsets_to_store.clear();
}

void Processor::Impl::RevokeState(rd_kafka_topic_partition_list_t* parts) {
  if (!config.state.enabled) return;
  for (int i = 0; i < parts->cnt; ++i) {
    if (!IsStateTopic(parts->elems[i].topic)) continue;
    if (engine != nullptr) engine->Forget(parts->elems[i].partition);
    state_parts.erase(parts->elems[i].partition);
  }
}

std::expected<void, std::string> Processor::Impl::Restore(std::int32_t partition) {
  if (restore_consumer == nullptr) {
    std::string error;
    restore_consumer = NewSideConsumer(config, "restore consumer",
                                       {{"group.id", config.group + "-restore"},  // assign() only
                                        {"enable.auto.commit", "false"},
                                        {"enable.partition.eof", "true"}},
                                       &error);
    if (restore_consumer == nullptr) return std::unexpected(error);
  }
  std::int64_t low = -1, high = -1;
  if (auto e = rd_kafka_query_watermark_offsets(restore_consumer, changelog_topic.c_str(),
                                                partition, &low, &high, kWatermarkTimeoutMs);
      e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected("changelog watermarks: " + std::string(rd_kafka_err2str(e)));
  }
  std::int64_t start = engine->ChangelogStart(partition);
  if (start < low) {
    // Records the local state has not seen are gone from the changelog (retention instead of
    // compaction, or a truncated topic): the restored state misses them. Loud, never silent.
    ++counters.restore_truncated;
    Log(LogLevel::kError,
        "state changelog truncated: records needed for the restore are gone; the restored "
        "state may be incomplete (use cleanup.policy=compact)",
        {{"topic", std::string_view(changelog_topic)},
         {"partition", std::int64_t{partition}},
         {"needed_from", start},
         {"low_watermark", low},
         {"records_missing", low - start}});
    start = low;
  }
  if (start >= high) {
    engine->SetChangelogPosition(partition, high);
    return {};
  }
  Log(LogLevel::kInfo, "restoring state from the changelog",
      {{"partition", std::int64_t{partition}}, {"from", start}, {"to", high}});
  auto restorer = engine->BeginRestore(partition);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, changelog_topic.c_str(), partition)->offset = start;
  rd_kafka_assign(restore_consumer, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::int64_t last_progress = NowMs();
  std::int64_t next = start;
  std::string error;
  while (next < high) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(restore_consumer, 200);
    if (m == nullptr) {
      if (NowMs() - last_progress > kRestoreStallMs) {
        error = "changelog restore made no progress for " + std::to_string(kRestoreStallMs) +
                " ms at offset " + std::to_string(next);
        break;
      }
      continue;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      rd_kafka_message_destroy(m);
      if (next >= high) break;
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      error = std::string("changelog read: ") + rd_kafka_message_errstr(m);
      rd_kafka_message_destroy(m);
      break;
    }
    std::string_view batch;
    rd_kafka_headers_t* h = nullptr;
    const void* hv = nullptr;
    std::size_t hs = 0;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, kBatchHeader, &hv, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hv != nullptr) {
      batch = {static_cast<const char*>(hv), hs};
    }
    const std::string_view key(static_cast<const char*>(m->key), m->key_len);
    std::optional<std::string_view> val;
    if (m->payload != nullptr) val = std::string_view(static_cast<const char*>(m->payload), m->len);
    auto added = restorer->Add(m->offset, key, val, batch);
    next = m->offset + 1;
    rd_kafka_message_destroy(m);
    if (!added) {
      error = added.error();
      break;
    }
    ++counters.restore_records;
    metrics->AddRestoreRecords();
    last_progress = NowMs();
  }
  rd_kafka_assign(restore_consumer, nullptr);
  if (!error.empty()) return std::unexpected(error);
  auto finished = restorer->Finish(high);
  if (!finished) return std::unexpected(finished.error());
  Log(LogLevel::kInfo, "state restored",
      {{"partition", std::int64_t{partition}}, {"records_applied", *finished}, {"to", high}});
  return {};
}

// Phase kBody: the decision records and every changelog record but the batch's commit marker;
// phase kMarker: the marker alone. The marker is produced only after everything of the body is
// acknowledged: a restore applies a batch only when its marker is there, so a batch whose
// decisions were lost in a crash is never taken as done by the instance that restores it.
bool Processor::Impl::PublishResult(const state::BatchResult& r, InFlight* flight,
                                    PublishPhase phase) {
  bool ok = true;
  if (phase == PublishPhase::kBody) {
    for (const state::Decision& d : r.decisions) {
      value.clear();
      state::EncodeJson(d, &value);
      const std::string& topic = DecisionTopic(config.topics, d);
      const std::string key = state::RecordKey(d);
      // An erased recipient leaves a tombstone: compacted topics then forget the address.
      const bool tombstone = PublishesTombstone(d);
      counts->Decision(state::ToString(d.kind), state::ToString(d.scope), d.party);
      board.AddDecision({d.decided_at_ms, std::string(state::ToString(d.kind)),
                         std::string(state::ToString(d.scope)), d.reason, d.party, d.vendor,
                         Subject(d)});
      ok &= ProduceOut({topic.c_str(), RD_KAFKA_PARTITION_UA, key, value, tombstone, nullptr,
                        flight},
                       flight);
      ++counters.decisions_out;
    }
  }
  const std::size_t n = r.changelog.size();
  const std::size_t from = phase == PublishPhase::kBody ? 0 : (n == 0 ? 0 : n - 1);
  const std::size_t to = phase == PublishPhase::kBody ? (n == 0 ? 0 : n - 1) : n;
  for (std::size_t i = from; i < to; ++i) {
    const state::ChangelogRecord& c = r.changelog[i];
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, kBatchHeader, -1, r.batch_id.data(),
                        static_cast<ssize_t>(r.batch_id.size()));
    ok &= ProduceOut({changelog_topic.c_str(), r.partition, c.key,
                      c.value ? std::string_view(*c.value) : std::string_view(), !c.value, h,
                      flight},
                     flight);
  }
  return ok;
}

// Waits until every output counted in `flight` is acknowledged or one has failed for good.
// librdkafka settles each record within message.timeout.ms (it retries while the brokers are
// away), so this does not give up on a slow or absent broker; it only stops waiting for a
// permanent failure. Returns true when everything was acknowledged.
bool Processor::Impl::AwaitFlight(const InFlight& flight) {
  while (flight.pending > 0 && !flight.failed) rd_kafka_flush(producer, 500);
  return flight.pending == 0 && !flight.failed;
}

void Processor::Impl::ProcessStateBatch() {
  const auto started = std::chrono::steady_clock::now();
  struct Timer {  // the state stage's batch duration, on every way out
    metrics::Metrics* m;
    std::chrono::steady_clock::time_point t0;
    ~Timer() {
      m->ObserveBatchDuration(
          "state", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  } timer{metrics.get(), started};
  if (state_blocked || engine == nullptr) {
    // Fetched before the pause took effect: not applied. RetryState() seeks the partitions back
    // to the state's offsets, so these records are read again.
    state_batch.clear();
    return;
  }
  // One flight bookkeeping for every output of the decision stage: the outputs of open
  // checkpoints stay in flight across poll batches, and a checkpoint is closed only once all of
  // them are acknowledged (FinishCheckpoints). A failed one stops the stage before any state
  // (or offset) past it is written.
  if (state_flight.failed) {
    fatal = true;
    fatal_reason = "decision outputs could not be delivered; state not written";
    state_batch.clear();
    return;
  }
  reader->Reset();
  struct Part {
    std::vector<state::Observation> obs;
    std::int64_t records = 0;
    std::int64_t next_offset = -1;
  };
  std::map<std::int32_t, Part> parts;
  for (rd_kafka_message_t* m : state_batch) {
    ++counters.state_records;
    const std::string_view payload(
        m->payload != nullptr ? static_cast<const char*>(m->payload) : "", m->len);
    const std::string_view key(static_cast<const char*>(m->key), m->key_len);
    std::string_view header;
    rd_kafka_headers_t* h = nullptr;
    const void* hv = nullptr;
    std::size_t hs = 0;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, kObservationHeader, &hv, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hv != nullptr) {
      header = {static_cast<const char*>(hv), hs};
    }
    auto o = reader->Read(payload, key, header);
    Part& part = parts[m->partition];
    part.next_offset = m->offset + 1;
    ++part.records;
    if (!o) {
      DeadLetter(m, &state_flight, InputFormat::kCanonical,
                 DecodeError{"bad_classified_record", o.error()});
      continue;
    }
    part.obs.push_back(*o);
  }
  state_batch.clear();
  const std::int64_t now_ms = NowMs();
  std::vector<state::BatchResult> closing;
  closing.reserve(parts.size());
  for (auto& [partition, part] : parts) {
    const double now_s = std::chrono::duration<double>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    for (const state::Observation& o : part.obs) {
      if (o.event_time_ms > 0) counts->Latency("decide", now_s - static_cast<double>(o.event_time_ms) / 1000.0);
    }
    StatePartition& sp = state_parts[partition];
    // The cadence: this batch closes the checkpoint once it holds checkpoint_events records,
    // its first batch is checkpoint_interval_ms old (CheckpointDue() closes a quiet one) or the
    // stage has caught up with the partition (nothing more to read: no reason to hold back).
    const bool checkpoint =
        sp.open_records + part.records >= config.state.checkpoint_events ||
        (sp.open && now_ms - sp.open_since_ms >= config.state.checkpoint_interval_ms) ||
        CaughtUp(partition, part.next_offset);
    auto r = engine->Apply(partition, part.obs, part.next_offset, checkpoint);
    if (!r) {
      StateApplyFailed(partition, "batch", r.error());
      return;
    }
    if (!sp.open) sp.open_since_ms = now_ms;
    sp.applied_offset = part.next_offset;
    sp.open_records += part.records;
    sp.open = !checkpoint;
    counters.duplicates += r->stats.duplicates;
    counters.late_events += r->stats.late;
    metrics->AddDuplicateEvents(static_cast<std::uint64_t>(r->stats.duplicates));
    metrics->AddLateEvents(static_cast<std::uint64_t>(r->stats.late));
    // The decisions go out at once, checkpoint or not: a crash before the checkpoint is durable
    // replays its batches from the durable offset and publishes them again (same ids).
    if (!PublishResult(*r, &state_flight, PublishPhase::kBody)) {
      fatal = true;
      fatal_reason = "decision outputs could not be produced";
      return;
    }
    if (checkpoint) closing.push_back(std::move(*r));
  }
  if (!closing.empty()) FinishCheckpoints(closing);
}

void Processor::Impl::StateApplyFailed(std::int32_t partition, std::string_view why,
                                       std::string_view error) {
  fatal = true;
  fatal_reason = "state apply failed";
  ++counters.state_write_errors;
  metrics->AddStateWriteErrors();
  Log(LogLevel::kError, "state apply failed; stopping without committing",
      {{"partition", std::int64_t{partition}}, {"why", why}, {"error", error}});
}

bool Processor::Impl::FinishCheckpoints(std::vector<state::BatchResult>& closing) {
  // Every output of the decision stage so far (the decisions of every batch of these
  // checkpoints among them) and the changelog records must be acknowledged before the state
  // (with its offset) is written: a crash before this point re-runs the checkpoint's batches and
  // produces the same records. The commit markers go last, once the rest is acknowledged.
  bool acked = AwaitFlight(state_flight);
  for (const state::BatchResult& r : closing) {
    if (!acked) break;
    if (!PublishResult(r, &state_flight, PublishPhase::kMarker)) {
      fatal = true;
      fatal_reason = "decision outputs could not be produced";
      return false;
    }
  }
  acked = acked && AwaitFlight(state_flight);
  if (!acked) {
    fatal = true;
    fatal_reason = "decision outputs not acknowledged; state not written";
    Log(LogLevel::kError, "decision outputs not acknowledged; stopping without writing the state",
        {{"pending", std::int64_t{state_flight.pending}}});
    return false;
  }
  std::int64_t write_bytes = 0;  // the WriteBatch mirrors the changelog records
  for (const state::BatchResult& r : closing) {
    for (const state::ChangelogRecord& c : r.changelog) {
      write_bytes += static_cast<std::int64_t>(c.key.size() + (c.value ? c.value->size() : 0));
    }
  }
  if (auto writable = StateDirWritable(config.state_dir, 2 * write_bytes); !writable) {
    BlockState("commit", closing.empty() ? -1 : closing.front().partition, writable.error());
    return false;
  }
  rd_kafka_topic_partition_list_t* offsets =
      rd_kafka_topic_partition_list_new(static_cast<int>(closing.size()));
  bool ok = true;
  for (state::BatchResult& r : closing) {
    if (auto committed = engine->Commit(r); !committed) {
      // Disk full or unwritable: this partition's offset (and those of the results after it)
      // stay where the durable state is; the checkpoint's outputs are published and
      // acknowledged, markers included, so RetryState() takes it from the changelog once the
      // state can be written again.
      BlockState("commit", r.partition, committed.error());
      ok = false;
      break;
    }
    StatePartition& sp = state_parts[r.partition];
    sp.next_offset = r.next_offset;
    sp.open_records = 0;
    sp.open = false;
    rd_kafka_topic_partition_list_add(offsets, config.topics.classified.c_str(), r.partition)
        ->offset = r.next_offset;
  }
  // The group's committed offsets of the classified topic follow the durable state only (they
  // serve lag monitoring; the state's own offsets decide where a partition resumes).
  if (offsets->cnt > 0) rd_kafka_offsets_store(consumer, offsets);
  rd_kafka_topic_partition_list_destroy(offsets);
  return ok;
}

bool Processor::Impl::CloseCheckpoints(std::string_view why,
                                       std::span<const std::int32_t> partitions) {
  if (!config.state.enabled || engine == nullptr || fatal || state_blocked) return false;
  std::vector<state::BatchResult> closing;
  for (auto& [partition, sp] : state_parts) {
    if (!sp.open) continue;
    if (!partitions.empty() &&
        std::find(partitions.begin(), partitions.end(), partition) == partitions.end()) {
      continue;
    }
    // No events: the result holds the changelog of every key the checkpoint changed.
    auto r = engine->Apply(partition, {}, sp.applied_offset, true);
    if (!r) {
      StateApplyFailed(partition, why, r.error());
      return false;
    }
    sp.open = false;  // the engine closed it; FinishCheckpoints makes it durable
    if (!PublishResult(*r, &state_flight, PublishPhase::kBody)) {
      fatal = true;
      fatal_reason = "decision outputs could not be produced";
      return false;
    }
    closing.push_back(std::move(*r));
  }
  if (closing.empty()) {
    // Nothing to write; the outputs already published must still all be acknowledged (an
    // operator command resets the flight bookkeeping after this).
    if (AwaitFlight(state_flight)) return true;
    fatal = true;
    fatal_reason = "decision outputs not acknowledged; state not written";
    return false;
  }
  return FinishCheckpoints(closing);
}

void Processor::Impl::CheckpointDue() {
  if (!config.state.enabled || engine == nullptr || fatal || state_blocked) return;
  if (state_flight.failed) {
    fatal = true;
    fatal_reason = "decision outputs could not be delivered; state not written";
    return;
  }
  const std::int64_t now = NowMs();
  std::vector<std::int32_t> due;
  std::vector<std::int32_t> caught_up;
  for (const auto& [partition, sp] : state_parts) {
    if (!sp.open) continue;
    if (now - sp.open_since_ms >= config.state.checkpoint_interval_ms) {
      due.push_back(partition);
    } else if (CaughtUp(partition, sp.applied_offset)) {
      caught_up.push_back(partition);
    }
  }
  if (!due.empty()) CloseCheckpoints("interval", due);
  if (!caught_up.empty()) CloseCheckpoints("caught_up", caught_up);
}

bool Processor::Impl::CaughtUp(std::int32_t partition, std::int64_t applied_offset) const {
  if (!config.state.checkpoint_when_caught_up || !consumer_drained) return false;
  std::int64_t low = 0;
  std::int64_t high = RD_KAFKA_OFFSET_INVALID;
  // The cached watermarks of the last fetch response: no broker round trip.
  if (rd_kafka_get_watermark_offsets(consumer, config.topics.classified.c_str(), partition, &low,
                                     &high) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      high < 0) {
    return true;  // not known yet; the drained queue says there is nothing to read
  }
  return applied_offset >= high;
}

void Processor::Impl::CloseRevokedCheckpoints(rd_kafka_topic_partition_list_t* parts) {
  if (!config.state.enabled) return;
  std::vector<std::int32_t> revoked;
  for (int i = 0; i < parts->cnt; ++i) {
    if (!IsStateTopic(parts->elems[i].topic)) continue;
    auto it = state_parts.find(parts->elems[i].partition);
    if (it != state_parts.end() && it->second.open) revoked.push_back(it->first);
  }
  if (!revoked.empty()) CloseCheckpoints("revoke", revoked);
}

// --- disk faults ---------------------------------------------------------------------------
//
// A state write that fails (RocksDB: no space, read-only or unwritable volume; RocksDB may then
// refuse every further write until DB::Resume() or a reopen) blocks the decision stage instead
// of stopping the process: consumption of every assigned partition is paused, no offset moves
// past the durable state (the classified offsets are stored only after a Commit, and the input
// stage stops producing), the gauge bouncestream_state_write_blocked is 1 and
// /readyz says why. RetryState() runs once per loop iteration; with backoff it probes the state
// dir with a real write, then closes and reopens the state (whatever RocksDB's background error
// was), restores every assigned classified partition from the changelog (the batches whose
// Commit failed were published and acknowledged, markers included, so the restore applies
// them: the same path as a restart after kill -9) and resumes, each classified partition seeked
// to the state's offset. Checkpoints still open when the stage blocks are not written (the
// disk refuses writes; their batches have no changelog records yet): the reopen drops them and
// the seek replays their records from the durable offset (their decisions again, same ids).

void Processor::Impl::BlockState(std::string_view what, std::int32_t partition,
                                 const std::string& error) {
  ++counters.state_write_errors;
  metrics->AddStateWriteErrors();
  state_block_error = error;
  if (state_blocked) return;
  state_blocked = true;
  state_blocked_since_ms = NowMs();
  state_retry_attempts = 0;
  state_retry_delay_ms = kStateRetryMinMs;
  state_retry_at_ms = state_blocked_since_ms + state_retry_delay_ms;
  metrics->SetStateWriteBlocked(true);
  Log(LogLevel::kError,
      "state write failed; consumption paused until the state dir can be written again",
      {{"step", what},
       {"partition", std::int64_t{partition}},
       {"state_dir", std::string_view(config.state_dir)},
       {"error", std::string_view(error)}});
  SetReady(false, "state dir not writable: " + error);
  UpdatePause();
}

void Processor::Impl::RetryState() {
  if (!state_blocked) return;
  if (NowMs() < state_retry_at_ms) return;
  ++state_retry_attempts;
  auto again = [this](std::string_view step, const std::string& error, bool write_error) {
    if (write_error) {
      ++counters.state_write_errors;
      metrics->AddStateWriteErrors();
    }
    state_block_error = error;
    state_retry_delay_ms = std::min(kStateRetryMaxMs, state_retry_delay_ms * 2);
    state_retry_at_ms = NowMs() + state_retry_delay_ms;
    StateRetryLog().Log(LogLevel::kWarn, "state-retry",
                        "state dir still not writable; consumption stays paused",
                        {{"step", step},
                         {"error", std::string_view(error)},
                         {"attempts", std::int64_t{state_retry_attempts}},
                         {"blocked_ms", NowMs() - state_blocked_since_ms},
                         {"retry_in_ms", std::int64_t{state_retry_delay_ms}}});
  };
  if (auto probe = ProbeStateDir(config.state_dir); !probe) return again("probe", probe.error(), false);
  // Reopen: clears whatever background error RocksDB holds (a hard error needs Resume(), a
  // fatal one a reopen) and drops the uncommitted in-memory results of the failed batches.
  engine.reset();
  if (auto opened = OpenState(); !opened) {
    engine.reset();
    return again("open", opened.error(), true);
  }
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return again("assignment", "cannot read the assignment", false);
  }
  rd_kafka_topic_partition_list_t* positions = rd_kafka_topic_partition_list_new(16);
  for (int i = 0; i < assignment->cnt; ++i) {
    if (IsStateTopic(assignment->elems[i].topic)) {
      rd_kafka_topic_partition_list_add(positions, assignment->elems[i].topic,
                                        assignment->elems[i].partition);
    }
  }
  rd_kafka_topic_partition_list_destroy(assignment);
  for (int i = 0; i < positions->cnt; ++i) {
    const std::int32_t partition = positions->elems[i].partition;
    ++counters.restoring_partitions;
    auto restored = Restore(partition);
    --counters.restoring_partitions;
    if (!restored) {
      rd_kafka_topic_partition_list_destroy(positions);
      engine.reset();  // reopened at the next attempt
      return again("restore", restored.error(), true);
    }
  }
  rd_kafka_position(consumer, positions);
  state_parts.clear();
  rd_kafka_topic_partition_list_t* seek = rd_kafka_topic_partition_list_new(16);
  for (int i = 0; i < positions->cnt; ++i) {
    rd_kafka_topic_partition_t& p = positions->elems[i];
    const auto next = engine->NextOffset(p.partition);
    state_parts[p.partition] = {.next_offset = next ? *next : -1,
                                .applied_offset = next ? *next : -1};
    // Without committed state the partition replays from where its assignment started (a
    // number since FixEarliestOffsets): records removed by retention since then are reported as
    // an offset reset, not skipped by a fresh lookup of BEGINNING.
    const PartitionTrack* track = TrackOf(p.topic, p.partition);
    const std::int64_t target = next                                   ? *next
                                : track != nullptr && track->start >= 0 ? track->start
                                                                        : RD_KAFKA_OFFSET_BEGINNING;
    if (p.offset != target) rd_kafka_topic_partition_list_add(seek, p.topic, p.partition)->offset = target;
    if (next) start_offsets_to_store.push_back({p.partition, *next});
  }
  const std::int64_t blocked_ms = NowMs() - state_blocked_since_ms;
  state_blocked = false;
  state_block_error.clear();
  metrics->SetStateWriteBlocked(false);
  UpdatePause();  // resumes unless back-pressure holds it
  if (seek->cnt > 0) {
    // After the resume: the seek's version barrier drops anything fetched from the old position.
    rd_kafka_error_t* e = rd_kafka_seek_partitions(consumer, seek, 5000);
    if (e != nullptr) {
      Log(LogLevel::kError, "seek after the state recovery failed",
          {{"error", std::string_view(rd_kafka_error_string(e))}});
      rd_kafka_error_destroy(e);
    }
  }
  StoreStateStartOffsets();
  Log(LogLevel::kInfo, "state dir writable again; state reopened, restored and consuming",
      {{"blocked_ms", blocked_ms},
       {"attempts", std::int64_t{state_retry_attempts}},
       {"partitions", std::int64_t{positions->cnt}},
       {"seeked", std::int64_t{seek->cnt}}});
  rd_kafka_topic_partition_list_destroy(seek);
  rd_kafka_topic_partition_list_destroy(positions);
  SetReady(!fatal, fatal ? fatal_reason : "");
}

// --- back-pressure ---------------------------------------------------------------------------
//
// The input stage produces without waiting for acknowledgements; librdkafka queues up to
// queue.buffering.max.messages / .kbytes (100,000 records / 1 GiB by default) before produce
// blocks. When the brokers acknowledge more slowly than records come in, consumption is paused
// once the queue holds kBackpressureMaxQueued records (or a quarter of the configured maximum)
// and resumed when it has drained to half of that: memory stays bounded and the consumer keeps
// polling (no max.poll.interval.ms expiry, no rebalance).

void Processor::Impl::CheckBackpressure() {
  if (backpressure_bound == 0) {
    int max_messages = 100000;
    for (const auto& [k, v] : ProducerProperties(config)) {
      if (k == "queue.buffering.max.messages") max_messages = std::max(4, std::atoi(v.c_str()));
    }
    backpressure_bound = std::min(kBackpressureMaxQueued, max_messages / 4);
  }
  const int high = backpressure_bound;
  const int queued = rd_kafka_outq_len(producer);
  if (!backpressure && queued > high) {
    backpressure = true;
    ++backpressure_events;
    Log(LogLevel::kWarn, "producer queue full; consumption paused until it drains",
        {{"queued", std::int64_t{queued}}, {"bound", std::int64_t{high}}});
    UpdatePause();
  } else if (backpressure && queued <= high / 2) {
    backpressure = false;
    Log(LogLevel::kInfo, "producer queue drained; consuming again",
        {{"queued", std::int64_t{queued}}, {"pauses", backpressure_events}});
    UpdatePause();
  }
}

void Processor::Impl::UpdatePause() {
  const bool want = state_blocked || backpressure;
  if (want == consumption_paused) return;
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) return;
  const rd_kafka_resp_err_t e = want ? rd_kafka_pause_partitions(consumer, assignment)
                                     : rd_kafka_resume_partitions(consumer, assignment);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log(LogLevel::kError, want ? "cannot pause the partitions" : "cannot resume the partitions",
        {{"error", std::string_view(rd_kafka_err2name(e))}});
  } else {
    consumption_paused = want;
  }
  rd_kafka_topic_partition_list_destroy(assignment);
}

}  // namespace bouncestream::stream
