// The decision stage of the processor: records of the classified topic (the repartition step,
// keyed by recipient domain) -> state::Engine (windows + policy in RocksDB) -> suppressions,
// blocks and alerts, with the state mirrored to the changelog topic.
//
// Per poll batch: Apply every partition's records (in memory), publish the decisions and the
// changelog records, wait until all are acknowledged, then Commit (one RocksDB WriteBatch holding
// the state and the partition's next offset). On assignment a partition resumes from the offset
// in RocksDB, after restoring from the changelog whatever the local state lacks. So the state is
// as if every classified record were applied exactly once; outputs are at least once, with
// deterministic decision ids.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstring>

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

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
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
  o.hot_window_entries = static_cast<std::size_t>(config.state.hot_window_entries);
  o.dedupe_horizon_ms = config.state.dedupe_horizon_ms;
  o.max_lateness_ms = config.state.max_lateness_ms;
  o.policy = config.policy;
  o.clock = &wall_clock;
  auto opened = state::Engine::Open(o);
  if (!opened) return std::unexpected("state dir '" + config.state_dir + "': " + opened.error());
  engine = std::move(*opened);
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
  if (engine == nullptr) return;
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    if (!IsStateTopic(p.topic)) continue;
    ++counters.restoring_partitions;
    auto restored = Restore(p.partition);
    --counters.restoring_partitions;
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
    state_parts[p.partition] = {next ? *next : -1};
    if (next) start_offsets_to_store.push_back({p.partition, *next});
    Log(LogLevel::kInfo, "state partition ready",
        {{"partition", std::int64_t{p.partition}}, {"next_offset", next ? *next : -1}});
  }
}

// After rd_kafka_assign: the group's committed offset of a classified partition follows the
// state (lag monitoring, and an honest committed offset even when no new record arrives).
void Processor::Impl::StoreStateStartOffsets() {
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
  if (engine == nullptr) return;
  for (int i = 0; i < parts->cnt; ++i) {
    if (!IsStateTopic(parts->elems[i].topic)) continue;
    engine->Forget(parts->elems[i].partition);
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
  // Outputs of the previous state batch must all be settled (they are: see below); one flight
  // bookkeeping for every output of this batch.
  state_flight = InFlight{};
  reader->Reset();
  struct Part {
    std::vector<state::Observation> obs;
    std::int64_t next_offset = -1;
  };
  std::map<std::int32_t, Part> parts;
  for (rd_kafka_message_t* m : state_batch) {
    ++counters.state_records;
    const std::string_view payload(
        m->payload != nullptr ? static_cast<const char*>(m->payload) : "", m->len);
    const std::string_view key(static_cast<const char*>(m->key), m->key_len);
    auto o = reader->Read(payload, key);
    Part& part = parts[m->partition];
    part.next_offset = m->offset + 1;
    if (!o) {
      DeadLetter(m, &state_flight, InputFormat::kCanonical,
                 DecodeError{"bad_classified_record", o.error()});
      continue;
    }
    part.obs.push_back(*o);
  }
  state_batch.clear();
  std::vector<state::BatchResult> results;
  results.reserve(parts.size());
  for (auto& [partition, part] : parts) {
    const double now_s = std::chrono::duration<double>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    for (const state::Observation& o : part.obs) {
      if (o.event_time_ms > 0) counts->Latency("decide", now_s - static_cast<double>(o.event_time_ms) / 1000.0);
    }
    auto r = engine->Apply(partition, part.obs, part.next_offset);
    if (!r) {
      fatal = true;
      fatal_reason = "state apply failed";
      ++counters.state_write_errors;
      metrics->AddStateWriteErrors();
      Log(LogLevel::kError, "state apply failed; stopping without committing",
          {{"partition", std::int64_t{partition}}, {"error", std::string_view(r.error())}});
      return;
    }
    counters.duplicates += r->stats.duplicates;
    counters.late_events += r->stats.late;
    metrics->AddDuplicateEvents(static_cast<std::uint64_t>(r->stats.duplicates));
    metrics->AddLateEvents(static_cast<std::uint64_t>(r->stats.late));
    if (!PublishResult(*r, &state_flight, PublishPhase::kBody)) {
      fatal = true;
      fatal_reason = "decision outputs could not be produced";
      return;
    }
    results.push_back(std::move(*r));
  }
  // Every decision and changelog record must be acknowledged before the state (with its offset)
  // is written: a crash before this point re-runs the batch and produces the same records. The
  // commit markers go last, once the rest is acknowledged.
  bool acked = AwaitFlight(state_flight);
  for (const state::BatchResult& r : results) {
    if (!acked) break;
    if (!PublishResult(r, &state_flight, PublishPhase::kMarker)) {
      fatal = true;
      fatal_reason = "decision outputs could not be produced";
      return;
    }
  }
  acked = acked && AwaitFlight(state_flight);
  if (!acked) {
    fatal = true;
    fatal_reason = "decision outputs not acknowledged; state not written";
    Log(LogLevel::kError, "decision outputs not acknowledged; stopping without writing the state",
        {{"pending", std::int64_t{state_flight.pending}}});
    return;
  }
  rd_kafka_topic_partition_list_t* offsets = rd_kafka_topic_partition_list_new(
      static_cast<int>(results.size()));
  for (state::BatchResult& r : results) {
    if (auto committed = engine->Commit(r); !committed) {
      fatal = true;
      fatal_reason = "state write failed";
      ++counters.state_write_errors;
      metrics->AddStateWriteErrors();
      Log(LogLevel::kError, "state write failed; stopping without committing past it",
          {{"partition", std::int64_t{r.partition}}, {"error", std::string_view(committed.error())}});
      break;
    }
    state_parts[r.partition].next_offset = r.next_offset;
    rd_kafka_topic_partition_list_add(offsets, config.topics.classified.c_str(), r.partition)
        ->offset = r.next_offset;
  }
  // The group's committed offsets of the classified topic only serve lag monitoring: the state's
  // own offsets decide where a partition resumes.
  if (offsets->cnt > 0) rd_kafka_offsets_store(consumer, offsets);
  rd_kafka_topic_partition_list_destroy(offsets);
}

}  // namespace bouncestream::stream
