#include "stream/processor.h"

#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <thread>
#include <vector>

#include "stream/encode.h"
#include "stream/internal/processor_impl.h"
#include "stream/kafka_produce.h"
#include "stream/log.h"

namespace bouncestream::stream {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             SteadyClock::now().time_since_epoch())
      .count();
}

// Budget for looking up the group's committed offsets when partitions are assigned.
constexpr int kCommittedTimeoutMs = 5000;
// Budget for looking up a partition's watermarks to report an offset reset.
constexpr int kWatermarkTimeoutMs = 2000;

void KafkaLog(const rd_kafka_t* rk, int level, const char* fac, const char* buf);

double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace


namespace {

// librdkafka's own log lines, passed through (called on librdkafka's threads). Offset resets are
// NOT detected here: the consumer runs with auto.offset.reset=error, so librdkafka never resets
// a position itself but hands the processor an _AUTO_OFFSET_RESET consumer error (ProcessBatch).
// Matching librdkafka's "offset reset" log text is unreliable: 2.0.2 logs an out-of-range reset
// as a level-4 OFFSET line only with auto.offset.reset=earliest/latest, nothing at all with
// log_level < 4, and with debug=topic it also logs "offset reset ... no previously committed
// offset available" for a new group's normal first start.
void KafkaLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  Log(level <= 3 ? LogLevel::kError : level == 4 ? LogLevel::kWarn : LogLevel::kInfo,
      "librdkafka", {{"facility", std::string_view(fac)}, {"detail", std::string_view(buf)}});
}

// Test kill points (crash_equivalence_test): BSTEST_KILL_AT=POINT:N (not a BOUNCESTREAM_ variable:
// the configuration refuses unknown ones) makes the process
// kill itself (SIGKILL, as kill -9 would) at the N-th time it reaches POINT:
//   input_acked     a classified record is acknowledged, its input offset not yet stored
//   decision_acked  a decision record is acknowledged, the batch's state not yet written
//   marker_acked    a changelog commit marker is acknowledged (the batch's outputs all are), the
//                   state write of the batch not yet done
//   restore         a changelog record is read back while a partition's state is restored
// Unset (always, outside these tests) it costs one branch per delivery report.
struct KillPoint {
  std::string point;
  std::int64_t at = 0;
  std::atomic<std::int64_t> hits{0};
};
KillPoint* TestKillPoint() {
  static KillPoint* kp = []() -> KillPoint* {
    const char* v = std::getenv("BSTEST_KILL_AT");
    if (v == nullptr || std::strchr(v, ':') == nullptr) return nullptr;
    auto* k = new KillPoint;
    const char* colon = std::strchr(v, ':');
    k->point.assign(v, static_cast<std::size_t>(colon - v));
    k->at = std::atoll(colon + 1);
    return k;
  }();
  return kp;
}
void ReachKillPoint(std::string_view point) {
  KillPoint* kp = TestKillPoint();
  if (kp == nullptr || kp->point != point) return;
  if (kp->hits.fetch_add(1) + 1 == kp->at) {
    Log(LogLevel::kWarn, "test kill point reached; killing the process",
        {{"point", point}, {"hits", kp->at}});
    std::fflush(stdout);
    ::raise(SIGKILL);
  }
}

void OnDelivery(rd_kafka_t* rk, const rd_kafka_message_t* m, void*) {
  auto* impl = static_cast<Processor::Impl*>(rd_kafka_opaque(rk));
  auto* inflight = static_cast<InFlight*>(m->_private);
  if (inflight == nullptr) return;
  if (TestKillPoint() != nullptr && m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (inflight->track != nullptr) {
      ReachKillPoint("input_acked");
    } else if (impl->changelog_topic == rd_kafka_topic_name(m->rkt)) {
      if (m->key_len > 0 && static_cast<const char*>(m->key)[0] == 'm') ReachKillPoint("marker_acked");
    } else if (impl->config.topics.dlq != rd_kafka_topic_name(m->rkt)) {
      ReachKillPoint("decision_acked");
    }
  }
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    inflight->failed = true;
    ++impl->counters.delivery_errors;
    impl->metrics->AddDeliveryErrors();
    const bool state = inflight->track == nullptr;  // an output of the decision stage
    Log(LogLevel::kError, "delivery failed; the input offset will not be committed past it",
        {{"topic", std::string_view(rd_kafka_topic_name(m->rkt))},
         {"error", std::string_view(rd_kafka_err2name(m->err))},
         {"input_topic", std::string_view(state ? impl->config.topics.classified
                                                : inflight->track->topic)},
         {"input_partition", std::int64_t{state ? -1 : inflight->track->partition}},
         {"input_offset", inflight->offset}});
  }
  --inflight->pending;
}

// librdkafka statistics (statistics.interval.ms): consumer lag per partition for the metrics.
int OnStatistics(rd_kafka_t* rk, char* json, size_t len, void*) {
  auto* impl = static_cast<Processor::Impl*>(rd_kafka_opaque(rk));
  impl->OnStats(std::string_view(json, len), rk == impl->producer ? 0 : 1);
  return 0;  // librdkafka frees the buffer
}

// Results of the consumer's offset commits (async and sync): failures are counted and logged
// (rate limited); the offsets stay stored and go with the next commit.
void OnOffsetCommit(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t*,
                    void*) {
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;
  auto* impl = static_cast<Processor::Impl*>(rd_kafka_opaque(rk));
  impl->metrics->AddOffsetCommitFailures();
  impl->kafka_log.Log(LogLevel::kWarn, "offset_commit", "offset commit failed; retried with the next commit",
                      {{"error", std::string_view(rd_kafka_err2name(err))}});
}

void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                 void* opaque) {
  (void)rk;
  static_cast<Processor::Impl*>(opaque)->OnRebalance(err, parts);
}

std::expected<rd_kafka_conf_t*, std::string> MakeConf(
    const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected("librdkafka property '" + k + "': " + err);
    }
  }
  rd_kafka_conf_set_log_cb(conf, KafkaLog);
  return conf;
}

}  // namespace

std::expected<void, std::string> Processor::Impl::Connect() {
  char err[512];
  KafkaProperties pprops = ProducerProperties(config);
  for (const auto& [k, v] : pprops) {
    if (k == "message.max.bytes") {
      const long long max = std::atoll(v.c_str());
      if (max > 0) dlq_max_payload = static_cast<std::size_t>(std::max(1024LL, max - 65536));
    }
  }
  // Keyed records go where Kafka's Java clients put them (murmur2), so that tools (and
  // `bouncestream state import`) can compute the classified partition of a recipient domain.
  pprops.emplace_back("partitioner", "murmur2_random");
  // Dev profile: one Produce request in flight per broker connection. The idempotent producer
  // keeps up to 5 in flight and relies on the broker to refuse a request whose predecessor
  // failed (OUT_OF_ORDER_SEQUENCE). librdkafka's mock cluster (devbroker) checks sequences only
  // for transactional producers: after a retriable Produce error it appended the later requests,
  // the failed batch was retried behind them (reordered), and librdkafka took a batch followed
  // by an acknowledged one as persisted although it was not (lost, with a successful delivery
  // report) — classified records vanished while their input offsets were committed
  // (broker_faults_test). Real brokers enforce the sequences; production keeps the default.
  if (config.profile == Profile::kDev &&
      std::none_of(pprops.begin(), pprops.end(), [](const auto& kv) {
        return kv.first == "max.in.flight.requests.per.connection" || kv.first == "max.in.flight";
      })) {
    pprops.emplace_back("max.in.flight.requests.per.connection", "1");
  }
  if (std::none_of(pprops.begin(), pprops.end(),
                   [](const auto& kv) { return kv.first == "statistics.interval.ms"; })) {
    pprops.emplace_back("statistics.interval.ms", "5000");  // retries, disconnects, rtt
  }
  auto pconf = MakeConf(pprops);
  if (!pconf) return std::unexpected(pconf.error());
  rd_kafka_conf_set_stats_cb(*pconf, OnStatistics);
  rd_kafka_conf_set_dr_msg_cb(*pconf, OnDelivery);
  rd_kafka_conf_set_opaque(*pconf, this);
  producer = rd_kafka_new(RD_KAFKA_PRODUCER, *pconf, err, sizeof err);
  if (producer == nullptr) return std::unexpected(std::string("producer: ") + err);

  KafkaProperties cprops = ConsumerProperties(config);
  bool has_interval = false;
  for (const auto& kv : cprops) has_interval |= kv.first == "statistics.interval.ms";
  if (!has_interval) cprops.emplace_back("statistics.interval.ms", "5000");
  auto cconf = MakeConf(cprops);
  if (!cconf) return std::unexpected(cconf.error());
  rd_kafka_conf_set_stats_cb(*cconf, OnStatistics);
  rd_kafka_conf_set_offset_commit_cb(*cconf, OnOffsetCommit);
  rd_kafka_conf_set_rebalance_cb(*cconf, stream::OnRebalance);
  rd_kafka_conf_set_opaque(*cconf, this);
  consumer = rd_kafka_new(RD_KAFKA_CONSUMER, *cconf, err, sizeof err);
  if (consumer == nullptr) return std::unexpected(std::string("consumer: ") + err);
  rd_kafka_poll_set_consumer(consumer);

  if (engine != nullptr) {
    if (auto ok = CheckStateTopics(); !ok) return ok;
  }
  rd_kafka_topic_partition_list_t* topics =
      rd_kafka_topic_partition_list_new(static_cast<int>(config.inputs.size()) + 1);
  for (const auto& in : config.inputs) {
    rd_kafka_topic_partition_list_add(topics, in.topic.c_str(), RD_KAFKA_PARTITION_UA);
    formats[in.topic] = in.format;
  }
  if (engine != nullptr) {
    // The decision stage reads the classified topic back: it is the repartition step (keyed by
    // recipient domain), so all state of a partition lives with the instance that owns it.
    rd_kafka_topic_partition_list_add(topics, config.topics.classified.c_str(),
                                      RD_KAFKA_PARTITION_UA);
  }
  const rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::unexpected(std::string("subscribe: ") + rd_kafka_err2str(e));
  }
  return {};
}

PartitionTrack* Processor::Impl::TrackOf(const char* topic, std::int32_t partition) {
  auto it = tracks.find({topic, partition});
  if (it == tracks.end() || !it->second->assigned) return nullptr;
  return it->second.get();
}

void Processor::Impl::OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts) {
  ++counters.rebalances;
  metrics->AddRebalances();
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; ++i) {
      auto& slot = tracks[{parts->elems[i].topic, parts->elems[i].partition}];
      if (!slot) slot = std::make_unique<PartitionTrack>();
      slot->topic = parts->elems[i].topic;
      slot->partition = parts->elems[i].partition;
      slot->assigned = true;
    }
    const int from_earliest = ChooseStartOffsets(parts);
    AssignState(parts);  // classified partitions: restore, then resume where the state is
    FixEarliestOffsets(parts);
    for (int i = 0; i < parts->cnt; ++i) {
      tracks[{parts->elems[i].topic, parts->elems[i].partition}]->start = parts->elems[i].offset;
    }
    Log(LogLevel::kInfo, "partitions assigned",
        {{"count", std::int64_t{parts->cnt}}, {"from_earliest", std::int64_t{from_earliest}}});
    rd_kafka_assign(consumer, parts);
    StoreStateStartOffsets();
    std::map<std::string, int> per_topic;
    for (int i = 0; i < parts->cnt; ++i) ++per_topic[parts->elems[i].topic];
    for (const auto& in : config.inputs) per_topic.try_emplace(in.topic, 0);
    for (const auto& [topic, n] : per_topic) metrics->SetAssignedPartitions(topic, n);
    assigned_once = true;
    // Every assigned partition's state is restored by now (AssignState is synchronous).
    SetReady(!fatal, fatal ? "state restore failed" : "");
    return;
  }
  // Revoked or lost: finish what is in flight, store and commit it, then let go. A lost
  // assignment (session timed out, e.g. the brokers were away) arrives as a revoke too; its
  // offsets can no longer be committed by this member (the new owner resumes from the last
  // commit).
  const bool lost = err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS || rd_kafka_assignment_lost(consumer);
  // Revoked: the open state checkpoints of these partitions are written first, so the commit
  // below carries their offsets. Lost: they are dropped (RevokeState); the new owner replays them
  // from the durable state.
  if (!lost) CloseRevokedCheckpoints(parts);
  FlushProducer(config.shutdown_timeout_ms);
  StoreOffsets();
  if (!lost) Commit(true);
  RevokeState(parts);
  for (int i = 0; i < parts->cnt; ++i) {
    auto it = tracks.find({parts->elems[i].topic, parts->elems[i].partition});
    if (it == tracks.end()) continue;
    it->second->assigned = false;
    // Keep the bookkeeping of records still in flight (their callbacks point at it).
    if (it->second->inflight.empty()) tracks.erase(it);
  }
  if (lost) metrics->AddPartitionsLost(static_cast<std::uint64_t>(parts->cnt));
  Log(lost ? LogLevel::kWarn : LogLevel::kInfo, lost ? "partitions lost" : "partitions revoked",
      {{"count", std::int64_t{parts->cnt}}});
  rd_kafka_assign(consumer, nullptr);
  for (int i = 0; i < parts->cnt; ++i) {
    metrics->RemoveConsumerLag(parts->elems[i].topic, parts->elems[i].partition);
    metrics->SetAssignedPartitions(parts->elems[i].topic, 0);
  }
  SetReady(false, "rebalancing");  // until the next assignment (and its restores) is done
}

bool Processor::Impl::ProduceOut(const OutRecord& record, InFlight* inflight) {
  ++inflight->pending;
  OutRecord r = record;
  r.opaque = inflight;
  for (;;) {
    const rd_kafka_resp_err_t e = ProduceRecord(producer, r);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return true;  // the producer owns the headers now
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(producer, 50);  // back-pressure: wait for acknowledgements
      continue;
    }
    if (r.headers != nullptr) rd_kafka_headers_destroy(r.headers);
    --inflight->pending;
    inflight->failed = true;
    ++counters.delivery_errors;
    Log(LogLevel::kError, "produce failed", {{"topic", std::string_view(r.topic)},
                                             {"error", std::string_view(rd_kafka_err2name(e))}});
    return false;
  }
}

bool Processor::Impl::Produce(const std::string& topic, std::string_view key,
                              std::string_view val, InFlight* inflight,
                              rd_kafka_headers_t* headers) {
  return ProduceOut({topic.c_str(), RD_KAFKA_PARTITION_UA, key, val, false, headers, inflight},
                    inflight);
}

void Processor::Impl::DeadLetter(const rd_kafka_message_t* m, InFlight* inflight,
                                 InputFormat format, const DecodeError& error) {
  ++counters.dead_letters;
  counts->DeadLetter(error.kind);
  const char* topic = rd_kafka_topic_name(m->rkt);
  const std::string partition = std::to_string(m->partition);
  const std::string offset = std::to_string(m->offset);
  rd_kafka_headers_t* h = rd_kafka_headers_new(6);
  rd_kafka_header_add(h, "bouncestream.reason", -1, error.kind.data(),
                      static_cast<ssize_t>(error.kind.size()));
  rd_kafka_header_add(h, "bouncestream.detail", -1, error.detail.data(),
                      static_cast<ssize_t>(error.detail.size()));
  rd_kafka_header_add(h, "bouncestream.source.topic", -1, topic, -1);
  rd_kafka_header_add(h, "bouncestream.source.partition", -1, partition.data(),
                      static_cast<ssize_t>(partition.size()));
  rd_kafka_header_add(h, "bouncestream.source.offset", -1, offset.data(),
                      static_cast<ssize_t>(offset.size()));
  const std::string_view adapter = ToString(format);
  rd_kafka_header_add(h, "bouncestream.adapter", -1, adapter.data(),
                      static_cast<ssize_t>(adapter.size()));
  dead_letter_log.Log(LogLevel::kWarn, error.kind, "record sent to the dead-letter topic",
                      {{"reason", error.kind},
                       {"detail", std::string_view(error.detail)},
                       {"topic", std::string_view(topic)},
                       {"partition", std::int64_t{m->partition}},
                       {"offset", std::int64_t{m->offset}}});
  std::string_view payload(static_cast<const char*>(m->payload), m->len);
  const std::string_view key(static_cast<const char*>(m->key), m->key_len);
  // A record larger than the producer may send (message.max.bytes) would fail for good and stop
  // the partition: its dead letter carries the first bytes and the original size instead.
  if (payload.size() > dlq_max_payload) {
    const std::string size = std::to_string(payload.size());
    rd_kafka_header_add(h, "bouncestream.truncated", -1, size.data(),
                        static_cast<ssize_t>(size.size()));
    payload = payload.substr(0, dlq_max_payload);
  }
  if (m->payload == nullptr) {  // a null value stays null
    ProduceOut({config.topics.dlq.c_str(), RD_KAFKA_PARTITION_UA, key, {}, true, h, inflight},
               inflight);
    return;
  }
  Produce(config.topics.dlq, key, payload, inflight, h);
}

void Processor::Impl::ProcessMessage(const rd_kafka_message_t* m, PartitionTrack* track) {
  ++counters.records_in;
  track->inflight.push_back({track, m->offset, 0, false});
  InFlight* inflight = &track->inflight.back();
  const char* topic = rd_kafka_topic_name(m->rkt);
  auto fit = formats.find(std::string_view(topic));
  const InputFormat format = fit != formats.end() ? fit->second : InputFormat::kAuto;
  events.clear();
  decoder.Reset();
  const std::string_view payload(m->payload != nullptr ? static_cast<const char*>(m->payload) : "",
                                 m->len);
  auto decoded = decoder.Decode(payload, format, &events);
  counts->InputRecord(ToString(decoded ? *decoded : format), decoded.has_value());
  if (!decoded) {
    DeadLetter(m, inflight, format, decoded.error());
    return;
  }
  const double now_s = WallSeconds();
  for (const auto& ev : events) {
    const auto c = session.Classify(ev);
    counts->Event(ev.tenant, classify::ToString(c.party), classify::ToString(c.vendor),
                  classify::ToString(c.bounce_class), classify::ToString(c.reason),
                  ev.RecipientDomain());
    if (ev.time_ms > 0) {
      counts->Latency("classify", now_s - static_cast<double>(ev.time_ms) / 1000.0);
      counts->EventTime(static_cast<double>(ev.time_ms) / 1000.0);
    }
    value.clear();
    EncodeClassifiedRecord(ev, c, {topic, m->partition, m->offset, ToString(*decoded)}, &value,
                           &observation_header);
    const std::string key = ToLowerAscii(ev.RecipientDomain());
    rd_kafka_headers_t* h = nullptr;
    if (!observation_header.empty()) {
      h = rd_kafka_headers_new(1);
      rd_kafka_header_add(h, kObservationHeader, -1, observation_header.data(),
                          static_cast<ssize_t>(observation_header.size()));
    }
    if (Produce(config.topics.classified, key, value, inflight, h)) ++counters.events_out;
  }
}

void Processor::Impl::ProcessBatch(std::vector<rd_kafka_message_t*>& batch) {
  std::vector<ResetError> resets;
  for (rd_kafka_message_t* m : batch) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET && m->rkt != nullptr) {
        // The partition stopped fetching; RestartAfterResets decides what it means.
        resets.push_back({rd_kafka_topic_name(m->rkt), m->partition, m->offset,
                          rd_kafka_message_errstr(m)});
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        Log(LogLevel::kWarn, "consumer error",
            {{"error", std::string_view(rd_kafka_err2name(m->err))},
             {"detail", std::string_view(rd_kafka_message_errstr(m))}});
      }
      continue;
    }
    PartitionTrack* track = TrackOf(rd_kafka_topic_name(m->rkt), m->partition);
    // A record of a partition revoked while the batch was gathered is left to its new owner,
    // which resumes from the offset committed on revoke.
    if (track == nullptr) continue;
    if (IsStateTopic(rd_kafka_topic_name(m->rkt))) {
      state_batch.push_back(m);  // applied below, after the input records of this batch
      continue;
    }
    ProcessMessage(m, track);
  }
  if (!state_batch.empty()) ProcessStateBatch();
  for (rd_kafka_message_t* m : batch) rd_kafka_message_destroy(m);
  batch.clear();
  if (!resets.empty()) RestartAfterResets(resets);
}

// auto.offset.reset=error (ConsumerProperties): librdkafka raises _AUTO_OFFSET_RESET both when a
// partition has no committed offset and when its offset is out of range (e.g. removed by
// retention), and tells them apart only by the offset on the error. So that a new group's first
// start raises nothing, every assigned partition gets an explicit start: its committed offset,
// or BEGINNING when the group has none. Returns how many start at BEGINNING. If the lookup fails,
// the offsets stay INVALID (librdkafka looks them up) and RestartAfterResets covers the rest.
int Processor::Impl::ChooseStartOffsets(rd_kafka_topic_partition_list_t* parts) {
  const rd_kafka_resp_err_t e = rd_kafka_committed(consumer, parts, kCommittedTimeoutMs);
  int from_earliest = 0;
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR || p.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      p.offset = RD_KAFKA_OFFSET_INVALID;
    } else if (p.offset < 0) {
      p.offset = RD_KAFKA_OFFSET_BEGINNING;
      ++from_earliest;
    }
    p.err = RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log(LogLevel::kWarn, "committed offsets lookup failed; librdkafka looks them up instead",
        {{"error", std::string_view(rd_kafka_err2name(e))}});
  }
  return from_earliest;
}

// A partition that starts at BEGINNING (no committed offset, or no state yet) gets the earliest
// offset the broker holds now, as a number. Left logical, librdkafka looks BEGINNING up only when
// it starts fetching the partition, which can be much later (2.0.2 waits 500 ms on its offset
// query timer when the partition's leader is not known yet): records that retention removes in
// between were silently skipped, since a logical start cannot be out of range. That lost the
// first classified records of a partition in e2e_bench runs on the dev broker (the input stage
// had produced more than the mock's 5 MiB by then), with every offset committed as usual. With
// the number, a fetch that comes too late is out of range and is reported as a reset
// (RestartAfterResets). If the lookup fails the offset stays BEGINNING, with a warning.
void Processor::Impl::FixEarliestOffsets(rd_kafka_topic_partition_list_t* parts) {
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    if (p.offset != RD_KAFKA_OFFSET_BEGINNING) continue;
    std::int64_t low = -1, high = -1;
    const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        consumer, p.topic, p.partition, &low, &high, kWatermarkTimeoutMs);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && low >= 0) {
      p.offset = low;
    } else {
      Log(LogLevel::kWarn, "earliest offset lookup failed; librdkafka looks it up when it fetches",
          {{"topic", std::string_view(p.topic)},
           {"partition", std::int64_t{p.partition}},
           {"error", std::string_view(rd_kafka_err2name(e))}});
    }
  }
}

// Handles the _AUTO_OFFSET_RESET errors of a batch. An error carrying a real offset (>= 0) means
// the position the group had reached (committed, or where fetching had got to) is no longer on
// the broker: the records between it and the log start are gone. That is logged as an error and
// counted, and the partition resumes at the earliest offset still there: stopping would not bring
// the records back, and a restarted processor would only hit the same error again. An error with
// a logical offset means there was no position to lose (no committed offset: a new group, or the
// lookup in ChooseStartOffsets failed), so the partition simply starts at the earliest offset.
// librdkafka cannot seek a partition that stopped this way (_STATE), and with the eager
// roundrobin protocol the assignment can only be replaced as a whole: every other partition is
// re-assigned at the position the processor has consumed up to.
void Processor::Impl::RestartAfterResets(const std::vector<ResetError>& resets) {
  rd_kafka_topic_partition_list_t* assignment = nullptr;
  if (rd_kafka_assignment(consumer, &assignment) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log(LogLevel::kError, "cannot read the assignment to restart partitions after a reset");
    return;
  }
  rd_kafka_position(consumer, assignment);
  for (int i = 0; i < assignment->cnt; ++i) {
    rd_kafka_topic_partition_t& p = assignment->elems[i];
    if (p.offset < 0) {
      const PartitionTrack* track = TrackOf(p.topic, p.partition);
      p.offset = track != nullptr ? track->start : RD_KAFKA_OFFSET_INVALID;
    }
    p.err = RD_KAFKA_RESP_ERR_NO_ERROR;
  }
  bool restart = false;
  for (const ResetError& r : resets) {
    rd_kafka_topic_partition_t* p =
        rd_kafka_topic_partition_list_find(assignment, r.topic.c_str(), r.partition);
    PartitionTrack* track = TrackOf(r.topic.c_str(), r.partition);
    if (p == nullptr || track == nullptr) continue;  // revoked since; its new owner starts it
    if (r.offset >= 0) {
      ++counters.offset_resets;
      metrics->AddOffsetResets();
      std::int64_t low = -1, high = -1;
      if (rd_kafka_query_watermark_offsets(consumer, r.topic.c_str(), r.partition, &low, &high,
                                           kWatermarkTimeoutMs) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_get_watermark_offsets(consumer, r.topic.c_str(), r.partition, &low, &high);
      }
      Log(LogLevel::kError,
          "kafka offset reset: the group's offset is out of range, records may have been "
          "skipped (records_skipped); resuming at the earliest offset",
          {{"topic", std::string_view(r.topic)},
           {"partition", std::int64_t{r.partition}},
           {"offset", r.offset},
           {"low_watermark", low},
           {"high_watermark", high},
           {"records_skipped", low > r.offset ? low - r.offset : std::int64_t{0}},
           {"detail", std::string_view(r.detail)}});
    } else {
      Log(LogLevel::kInfo, "no committed offset; starting at the earliest offset",
          {{"topic", std::string_view(r.topic)},
           {"partition", std::int64_t{r.partition}},
           {"detail", std::string_view(r.detail)}});
    }
    p->offset = RD_KAFKA_OFFSET_BEGINNING;
    track->start = RD_KAFKA_OFFSET_BEGINNING;
    restart = true;
  }
  if (restart) {
    // Replacing the assignment can drop stored offsets that are not committed yet.
    StoreOffsets();
    Commit(true);
    const rd_kafka_resp_err_t e = rd_kafka_assign(consumer, assignment);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log(LogLevel::kError, "cannot restart partitions after a reset",
          {{"error", std::string_view(rd_kafka_err2name(e))}});
    }
  }
  rd_kafka_topic_partition_list_destroy(assignment);
}

void Processor::Impl::StoreOffsets() {
  rd_kafka_topic_partition_list_t* list = nullptr;
  for (auto it = tracks.begin(); it != tracks.end();) {
    PartitionTrack& t = *it->second;
    std::int64_t done = -1;
    while (!t.inflight.empty() && t.inflight.front().pending == 0) {
      if (t.inflight.front().failed) {
        if (!fatal) {
          fatal = true;
          fatal_reason = "an output record could not be delivered";
        }
        break;
      }
      done = t.inflight.front().offset;
      t.inflight.pop_front();
    }
    if (done >= 0 && t.assigned) {
      if (list == nullptr) list = rd_kafka_topic_partition_list_new(8);
      rd_kafka_topic_partition_list_add(list, t.topic.c_str(), t.partition)->offset = done + 1;
    }
    if (!t.assigned && t.inflight.empty()) {
      it = tracks.erase(it);
    } else {
      ++it;
    }
  }
  if (list != nullptr) {
    const rd_kafka_resp_err_t e = rd_kafka_offsets_store(consumer, list);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      Log(LogLevel::kWarn, "offset store failed", {{"error", std::string_view(rd_kafka_err2name(e))}});
    }
    rd_kafka_topic_partition_list_destroy(list);
  }
}

// Failures are counted by OnOffsetCommit (librdkafka reports sync commits there too).
void Processor::Impl::Commit(bool sync) {
  const rd_kafka_resp_err_t e = rd_kafka_commit(consumer, nullptr, sync ? 0 : 1);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    Log(LogLevel::kWarn, "offset commit failed", {{"error", std::string_view(rd_kafka_err2name(e))}});
  }
}

void Processor::Impl::FlushProducer(int timeout_ms) {
  const rd_kafka_resp_err_t e = rd_kafka_flush(producer, timeout_ms);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Log(LogLevel::kError, "producer flush timed out; unacknowledged records stay uncommitted",
        {{"in_queue", std::int64_t{rd_kafka_outq_len(producer)}}});
  }
}

// {"topics":{"<t>":{"partitions":{"<p>":{"consumer_lag":N,...}}}}}: only partitions this
// instance consumes (consumer_lag >= 0) are reported; -1 means unknown.
void Processor::Impl::OnStats(std::string_view json, int client) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc)) return;
  // Broker health: retries and disconnects (cumulative per broker, summed: the metric gets the
  // increase), and the largest average rtt (microseconds) of a broker that answered.
  const std::string_view name = client == 0 ? "producer" : "consumer";
  simdjson::dom::object brokers;
  if (!doc["brokers"].get_object().get(brokers)) {
    std::int64_t retries = 0, disconnects = 0, rtt_us = 0;
    for (auto [bkey, bv] : brokers) {
      std::int64_t v = 0;
      if (!bv["txretries"].get_int64().get(v)) retries += v;
      if (!bv["disconnects"].get_int64().get(v)) disconnects += v;
      std::int64_t cnt = 0, avg = 0;
      if (!bv["rtt"]["cnt"].get_int64().get(cnt) && cnt > 0 && !bv["rtt"]["avg"].get_int64().get(avg)) {
        rtt_us = std::max(rtt_us, avg);
      }
    }
    KafkaHealth& h = kafka_health[client];
    if (retries > h.retries) metrics->AddKafkaRequestRetries(name, static_cast<std::uint64_t>(retries - h.retries));
    if (disconnects > h.disconnects) {
      metrics->AddKafkaDisconnects(name, static_cast<std::uint64_t>(disconnects - h.disconnects));
    }
    h.retries = retries;
    h.disconnects = disconnects;
    metrics->SetKafkaBrokerRtt(name, static_cast<double>(rtt_us) / 1e6);
  }
  if (client != 1) return;
  simdjson::dom::object topics;
  if (doc["topics"].get_object().get(topics)) return;
  for (auto [topic, tv] : topics) {
    simdjson::dom::object partitions;
    if (tv["partitions"].get_object().get(partitions)) continue;
    for (auto [pkey, pv] : partitions) {
      std::int64_t partition = -1, lag = -1;
      if (pv["partition"].get_int64().get(partition) || partition < 0) continue;
      if (pv["consumer_lag"].get_int64().get(lag) || lag < 0) continue;
      const std::string t(topic);
      if (TrackOf(t.c_str(), static_cast<std::int32_t>(partition)) == nullptr) continue;
      metrics->SetConsumerLag(topic, static_cast<std::int32_t>(partition), static_cast<double>(lag));
    }
  }
}

void Processor::Impl::SetReady(bool ready, std::string_view reason) {
  if (server != nullptr) {
    server->SetReady(ready, std::string(reason));
  } else {
    metrics->SetReady(ready);
  }
}

void Processor::Impl::UpdateGauges() {
  metrics->SetProducerQueue(static_cast<double>(rd_kafka_outq_len(producer)));
  metrics->SetRestoringPartitions(static_cast<double>(counters.restoring_partitions.load()));
  if (engine != nullptr) {
    const state::StoreStats st = engine->Stats();
    metrics->SetStateLiveBytes(static_cast<double>(st.live_bytes));
    metrics->SetStateMemoryBytes(static_cast<double>(st.memory_bytes));
    metrics->SetStateSstBytes(static_cast<double>(st.sst_bytes));
    metrics->SetStatePendingCompactionBytes(static_cast<double>(st.pending_compaction_bytes));
    if (st.write_stall_micros > stall_micros_seen) {
      metrics->AddStateWriteStallSeconds(static_cast<double>(st.write_stall_micros - stall_micros_seen) / 1e6);
      stall_micros_seen = st.write_stall_micros;
    }
    metrics->SetActiveDecisions("suppress", static_cast<double>(st.active_suppressions));
    metrics->SetActiveDecisions("pause", static_cast<double>(st.active_pauses));
    metrics->SetActiveDecisions("alert", static_cast<double>(st.active_alerts));
  }
}

Processor::Processor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Processor::~Processor() = default;

const ProcessorCounters& Processor::counters() const { return impl_->counters; }

std::expected<std::unique_ptr<Processor>, std::string> Processor::Create(
    const Config& config, std::shared_ptr<const classify::Classifier> classifier) {
  auto impl = std::make_unique<Impl>(std::move(classifier));
  impl->config = config;
  {
    metrics::MetricsOptions mo;
    mo.version = BOUNCESTREAM_VERSION_STRING;
    mo.revision = BOUNCESTREAM_REVISION_STRING;
    mo.tenant_allow_list = config.metrics.tenant_allow_list;
    mo.providers = config.metrics.providers;
    mo.vocabulary.dead_letter_reasons.push_back("bad_classified_record");
    auto m = metrics::Metrics::Create(std::move(mo));
    if (!m) return std::unexpected("metrics: " + m.error());
    impl->metrics = std::move(*m);
    impl->counts = std::make_unique<metrics::BatchCounts>(*impl->metrics);
  }
  if (!config.metrics_addr.empty() && config.metrics_addr != "off") {
    metrics::ServerOptions so;
    so.listen = config.metrics_addr;
    so.admin_token = config.admin.token;
    auto server = metrics::Server::Start(so, impl->metrics.get(), &impl->board);
    if (!server) return std::unexpected("metrics server on " + config.metrics_addr + ": " + server.error());
    impl->server = std::move(*server);
    impl->SetReady(false, "not yet assigned any partitions");
    Log(LogLevel::kInfo, "serving metrics, status page and health checks",
        {{"address", std::string_view(impl->server->address())}});
  }
  if (config.state.enabled) {
    if (auto opened = impl->OpenState(); !opened) return std::unexpected(opened.error());
  }
  if (auto connected = impl->Connect(); !connected) return std::unexpected(connected.error());
  if (auto admin = impl->StartAdmin(); !admin) return std::unexpected(admin.error());
  if (KillPoint* kp = TestKillPoint(); kp != nullptr && kp->point == "restore") {
    // The restore runs inside the rebalance callback: watched from a thread of its own.
    std::thread([counters = &impl->counters] {
      for (;;) {
        if (counters->restoring_partitions.load() > 0) {
          const std::int64_t n = counters->restore_records.load();
          while (TestKillPoint()->hits.load() < n) ReachKillPoint("restore");
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }).detach();
  }
  return std::unique_ptr<Processor>(new Processor(std::move(impl)));
}

int Processor::Run(const std::atomic<bool>& stop) {
  Impl& s = *impl_;
  std::vector<rd_kafka_message_t*> batch;
  batch.reserve(static_cast<std::size_t>(s.config.batch_max_messages));
  std::int64_t last_commit = SteadyMs();
  std::int64_t last_report = SteadyMs();
  Log(LogLevel::kInfo, "processor started",
      {{"group", std::string_view(s.config.group)},
       {"bootstrap", std::string_view(s.config.bootstrap)},
       {"inputs", std::int64_t(s.config.inputs.size())}});
  while (!stop.load(std::memory_order_relaxed) && !s.fatal) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(s.consumer, s.config.poll_timeout_ms);
    while (m != nullptr) {
      batch.push_back(m);
      if (batch.size() >= static_cast<std::size_t>(s.config.batch_max_messages)) break;
      m = rd_kafka_consumer_poll(s.consumer, 0);
    }
    s.consumer_drained = m == nullptr;  // not stopped by batch_max_messages
    if (!batch.empty()) {
      const auto t0 = SteadyClock::now();
      s.ProcessBatch(batch);
      s.metrics->ObserveBatchDuration(
          "classify", std::chrono::duration<double>(SteadyClock::now() - t0).count());
      s.metrics->Flush(*s.counts);
    }
    rd_kafka_poll(s.producer, 0);
    if (s.server != nullptr) s.server->Heartbeat();
    s.CheckpointDue();  // open state checkpoints older than [state] checkpoint_interval
    s.PollAdmin();
    s.StoreOffsets();
    const std::int64_t now = SteadyMs();
    // Commit stored offsets often: the less there is to re-read after a crash, or after a
    // revoke whose commit the broker refused mid-rebalance, the fewer duplicates downstream.
    if (now - last_commit >= 200) {
      s.Commit(false);
      last_commit = now;
    }
    if (now - s.last_stats_ms >= 1000) {
      s.UpdateGauges();
      s.last_stats_ms = now;
    }
    if (now - last_report >= 10000) {
      Log(LogLevel::kInfo, "progress",
          {{"records_in", s.counters.records_in.load()},
           {"events_out", s.counters.events_out.load()},
           {"dead_letters", s.counters.dead_letters.load()},
           {"delivery_errors", s.counters.delivery_errors.load()}});
      last_report = now;
    }
  }
  // Drain: everything produced gets acknowledged (bounded), then stored, committed, and the
  // group is left so partitions move at once.
  Log(LogLevel::kInfo, s.fatal ? "stopping after a fatal error" : "stopping",
      {{"reason", std::string_view(s.fatal ? s.fatal_reason : "signal")}});
  {
    std::lock_guard<std::mutex> lock(s.admin_mu);  // HTTP admin requests not executed
    for (auto& p : s.admin_queue) p->result.set_value({503, "{\"error\":\"stopping\"}"});
    s.admin_queue.clear();
  }
  // The open state checkpoints are written (after a fatal error they are not: the state may be
  // wrong, a restart replays them from the durable state).
  if (!s.fatal) s.CloseCheckpoints("shutdown");
  s.FlushProducer(s.config.shutdown_timeout_ms);
  s.StoreOffsets();
  s.Commit(true);
  rd_kafka_consumer_close(s.consumer);
  Log(LogLevel::kInfo, "stopped",
      {{"records_in", s.counters.records_in.load()},
       {"events_out", s.counters.events_out.load()},
       {"dead_letters", s.counters.dead_letters.load()},
       {"delivery_errors", s.counters.delivery_errors.load()},
       {"offset_resets", s.counters.offset_resets.load()}});
  return s.fatal ? 1 : 0;
}

}  // namespace bouncestream::stream
