#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <array>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <type_traits>
#include <utility>

namespace bouncestream::metrics {

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,   0.25,   0.5,   1,    2.5,   5,
                                               10,    30,     60,    120,  300,   600};
  return kBuckets;
}

const std::vector<double>& BatchDurationBuckets() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                               0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                               1,      2.5,     5,      10};
  return kBuckets;
}

namespace internal {
namespace {

// The series of one labelled family, created on first use and cached by a mixed-radix key of
// the label-value indices (dimension 0 is the lowest digit).
template <typename T>
class SeriesCache {
 public:
  void Init(prometheus::Family<T>* family, std::vector<std::string> label_names,
            std::vector<const LabelSet*> dims, const std::vector<double>* buckets = nullptr) {
    family_ = family;
    label_names_ = std::move(label_names);
    dims_ = std::move(dims);
    buckets_ = buckets;
  }

  template <typename... Index>
  std::uint64_t Key(Index... index) const {
    const std::array<std::size_t, sizeof...(Index)> idx{static_cast<std::size_t>(index)...};
    std::uint64_t key = 0;
    for (std::size_t d = idx.size(); d-- > 0;) key = key * dims_[d]->size() + idx[d];
    return key;
  }

  // Sum of the values of every series created so far.
  double Sum() {
    std::lock_guard lock(mu_);
    double sum = 0;
    for (const auto& [key, metric] : series_) {
      if (metric != nullptr) sum += metric->Value();
    }
    return sum;
  }

  // The series for `key`, or nullptr if prometheus-cpp refused to create it.
  T* Get(std::uint64_t key) {
    std::lock_guard lock(mu_);
    if (auto it = series_.find(key); it != series_.end()) return it->second;
    prometheus::Labels labels;
    std::uint64_t rest = key;
    for (std::size_t d = 0; d < dims_.size(); ++d) {
      labels.emplace(label_names_[d], dims_[d]->value(rest % dims_[d]->size()));
      rest /= dims_[d]->size();
    }
    T* metric = nullptr;
    try {
      if constexpr (std::is_same_v<T, prometheus::Histogram>) {
        metric = &family_->Add(labels, *buckets_);
      } else {
        metric = &family_->Add(labels);
      }
    } catch (const std::exception&) {
      metric = nullptr;
    }
    series_.emplace(key, metric);
    return metric;
  }

 private:
  prometheus::Family<T>* family_ = nullptr;
  std::vector<std::string> label_names_;
  std::vector<const LabelSet*> dims_;
  const std::vector<double>* buckets_ = nullptr;
  std::mutex mu_;
  std::unordered_map<std::uint64_t, T*> series_;
};

void Inc(prometheus::Counter* c, double n) {
  if (c != nullptr && n > 0) c->Increment(n);
}

}  // namespace

struct MetricsImpl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  MetricsOptions options;

  TenantLabels tenants;
  ProviderBuckets providers;
  LabelSet formats, results, parties, vendors, classes, reasons, dead_letter_reasons,
      decision_kinds, decision_scopes, active_kinds, latency_stages, batch_stages;

  SeriesCache<prometheus::Counter> input, classified, by_reason, by_provider, dead_letters,
      decisions;
  SeriesCache<prometheus::Gauge> active;
  SeriesCache<prometheus::Histogram> latency, batch_duration;

  prometheus::Counter* folded = nullptr;
  prometheus::Counter* duplicates = nullptr;
  prometheus::Counter* late = nullptr;
  prometheus::Counter* rebalances = nullptr;
  prometheus::Counter* offset_resets = nullptr;
  prometheus::Counter* delivery_errors = nullptr;
  prometheus::Counter* write_stall = nullptr;
  prometheus::Counter* write_errors = nullptr;
  prometheus::Counter* restore_records = nullptr;
  prometheus::Counter* kafka_retries[2] = {nullptr, nullptr};      // producer, consumer
  prometheus::Counter* kafka_disconnects[2] = {nullptr, nullptr};
  prometheus::Gauge* kafka_rtt[2] = {nullptr, nullptr};
  prometheus::Counter* commit_failures = nullptr;
  prometheus::Counter* partitions_lost = nullptr;
  prometheus::Gauge* producer_queue = nullptr;
  prometheus::Gauge* live_bytes = nullptr;
  prometheus::Gauge* sst_bytes = nullptr;
  prometheus::Gauge* memory_bytes = nullptr;
  prometheus::Gauge* pending_bytes = nullptr;
  prometheus::Gauge* restoring = nullptr;
  prometheus::Gauge* write_blocked = nullptr;
  prometheus::Gauge* ready = nullptr;
  prometheus::Gauge* last_event = nullptr;

  prometheus::Family<prometheus::Gauge>* lag_family = nullptr;
  prometheus::Family<prometheus::Gauge>* assigned_family = nullptr;
  std::mutex topic_mu;
  std::set<std::string, std::less<>> topics;  // admitted topic label values
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> lag;
  std::map<std::string, prometheus::Gauge*, std::less<>> assigned;
  std::mutex last_event_mu;
  double last_event_value = 0;

  // Topic label: the name when it is a plausible Kafka topic name and one of the first
  // max_topics seen, "other" after that, "invalid" when malformed. REQUIRES: topic_mu held.
  std::string TopicLabelLocked(std::string_view topic) {
    const std::string_view guarded = GuardFreeLabel(topic, 249);
    if (guarded == kInvalidLabel) return std::string(kInvalidLabel);
    if (topics.contains(guarded)) return std::string(guarded);
    if (topics.size() >= options.max_topics) return std::string(kOtherLabel);
    return *topics.emplace(guarded).first;
  }
  std::string PartitionLabel(std::int32_t partition) const {
    if (partition < 0 || partition >= options.max_partitions) return std::string(kOtherLabel);
    return std::to_string(partition);
  }

  std::uint64_t InputKey(std::string_view format, bool ok) const {
    return input.Key(formats.Index(format), ok ? 0 : 1);
  }
  std::uint64_t ClassifiedKey(std::string_view tenant, std::string_view party,
                              std::string_view vendor, std::string_view cls) const {
    return classified.Key(tenants.Index(tenant), parties.Index(party), vendors.Index(vendor),
                          classes.Index(cls));
  }
  std::uint64_t ProviderKey(std::string_view domain, std::string_view party, bool* folded_out) const {
    const auto match = providers.Resolve(domain);
    *folded_out = match.folded;
    return by_provider.Key(match.index, parties.Index(party));
  }
  std::uint64_t DecisionKey(std::string_view kind, std::string_view scope,
                            std::string_view party) const {
    return decisions.Key(decision_kinds.Index(kind), decision_scopes.Index(scope),
                         parties.Index(party));
  }
};

}  // namespace internal

namespace {

using internal::MetricsImpl;

std::expected<LabelSet, std::string> MakeSet(const char* name, std::vector<std::string> values) {
  return LabelSet::Create(name, std::move(values));
}

template <typename T>
prometheus::Family<T>* AddFamily(prometheus::Registry& registry, const std::string& name,
                                 const std::string& help, const prometheus::Labels& constant = {}) {
  if constexpr (std::is_same_v<T, prometheus::Counter>) {
    return &prometheus::BuildCounter().Name(name).Help(help).Labels(constant).Register(registry);
  } else if constexpr (std::is_same_v<T, prometheus::Gauge>) {
    return &prometheus::BuildGauge().Name(name).Help(help).Labels(constant).Register(registry);
  } else {
    return &prometheus::BuildHistogram().Name(name).Help(help).Labels(constant).Register(registry);
  }
}

std::expected<void, std::string> Build(MetricsImpl& m) {
  auto& r = *m.registry;
  const auto& v = m.options.vocabulary;
  auto tenants = TenantLabels::Create(m.options.tenant_allow_list);
  if (!tenants) return std::unexpected(tenants.error());
  m.tenants = std::move(*tenants);
  auto providers = ProviderBuckets::Create(m.options.providers);
  if (!providers) return std::unexpected(providers.error());
  m.providers = std::move(*providers);

  struct Pending {
    LabelSet* out;
    const char* name;
    const std::vector<std::string>* values;
  };
  const std::vector<std::string> results = {"ok", "dead_letter"};
  for (const Pending& p : std::initializer_list<Pending>{
           {&m.formats, "topic_format", &v.formats},
           {&m.results, "result", &results},
           {&m.parties, "party", &v.parties},
           {&m.vendors, "vendor", &v.vendors},
           {&m.classes, "class", &v.classes},
           {&m.reasons, "reason", &v.reasons},
           {&m.dead_letter_reasons, "dead_letter_reason", &v.dead_letter_reasons},
           {&m.decision_kinds, "kind", &v.decision_kinds},
           {&m.decision_scopes, "scope", &v.decision_scopes},
           {&m.active_kinds, "active_kind", &v.active_kinds},
           {&m.latency_stages, "latency_stage", &v.latency_stages},
           {&m.batch_stages, "batch_stage", &v.batch_stages},
       }) {
    auto set = MakeSet(p.name, *p.values);
    if (!set) return std::unexpected(set.error());
    *p.out = std::move(*set);
  }

  prometheus::Labels build_labels = {
      {"version", std::string(GuardFreeLabel(m.options.version))},
      {"revision", std::string(GuardFreeLabel(m.options.revision))}};
  AddFamily<prometheus::Gauge>(r, "bouncestream_build_info",
                               "Build identity of this bouncestream process (always 1).")
      ->Add(build_labels)
      .Set(1);

  using prometheus::Counter;
  using prometheus::Gauge;
  using prometheus::Histogram;
  m.input.Init(AddFamily<Counter>(r, "bouncestream_input_records_total",
                                "Input records read, by input format and result (ok or "
                                "dead_letter)."),
             {"topic_format", "result"},
             {&m.formats, &m.results});
  m.classified.Init(AddFamily<Counter>(r, "bouncestream_events_classified_total",
                                     "Classified events by tenant (allow-list or other), "
                                     "responsible party, filter vendor and bounce class."),
                  {"tenant", "party", "vendor", "class"},
                  {&m.tenants.set(), &m.parties, &m.vendors, &m.classes});
  m.by_reason.Init(AddFamily<Counter>(r, "bouncestream_events_by_reason_total",
                                    "Classified events by fine-grained reason."),
                 {"reason"},
                 {&m.reasons});
  m.by_provider.Init(AddFamily<Counter>(r, "bouncestream_events_by_provider_total",
                                      "Classified events by recipient mailbox provider bucket "
                                      "and responsible party."),
                   {"provider", "party"},
                   {&m.providers.set(), &m.parties});
  m.folded = &AddFamily<Counter>(r, "bouncestream_provider_folded_total",
                                 "Events whose recipient domain was folded into provider other.")
                  ->Add({});
  m.dead_letters.Init(AddFamily<Counter>(r, "bouncestream_dead_letters_total",
                                       "Input records sent to the dead-letter topic, by reason."),
                    {"reason"},
                    {&m.dead_letter_reasons});
  m.decisions.Init(AddFamily<Counter>(r, "bouncestream_decisions_total",
                                    "Decisions published, by kind, scope and responsible party."),
                 {"kind", "scope", "party"},
                 {&m.decision_kinds, &m.decision_scopes, &m.parties});
  m.active.Init(AddFamily<Gauge>(r, "bouncestream_active_decisions",
                               "Decisions in force in this instance's state, by kind."),
              {"kind"},
              {&m.active_kinds});
  m.duplicates = &AddFamily<Counter>(r, "bouncestream_duplicate_events_total",
                                     "Input events ignored as repeats of an event id.")
                      ->Add({});
  m.late = &AddFamily<Counter>(r, "bouncestream_late_events_total",
                               "Events older than the lateness bound.")
                ->Add({});
  m.latency.Init(AddFamily<Histogram>(r, "bouncestream_processing_latency_seconds",
                                    "Time from event time to output produced, by stage."),
               {"stage"},
               {&m.latency_stages},
               &LatencyBuckets());
  m.batch_duration.Init(AddFamily<Histogram>(r, "bouncestream_batch_duration_seconds",
                                           "Wall time to process one poll batch, by stage."),
                      {"stage"},
                      {&m.batch_stages},
                      &BatchDurationBuckets());
  m.lag_family = AddFamily<Gauge>(r, "bouncestream_consumer_lag_messages",
                                  "Consumer lag in messages per topic and partition (librdkafka "
                                  "statistics consumer_lag).");
  m.assigned_family = AddFamily<Gauge>(r, "bouncestream_assigned_partitions",
                                       "Partitions this instance owns, by topic.");
  m.rebalances = &AddFamily<Counter>(r, "bouncestream_rebalances_total",
                                     "Consumer group rebalances (assignments and revocations).")
                      ->Add({});
  m.offset_resets = &AddFamily<Counter>(r, "bouncestream_offset_resets_total",
                                        "Out-of-range offsets (data the consumer skipped).")
                         ->Add({});
  m.producer_queue = &AddFamily<Gauge>(r, "bouncestream_producer_queue_messages",
                                       "Messages in the librdkafka producer queue (msg_cnt).")
                          ->Add({});
  m.delivery_errors = &AddFamily<Counter>(r, "bouncestream_producer_delivery_errors_total",
                                          "Records that could not be delivered.")
                           ->Add({});
  m.live_bytes = &AddFamily<Gauge>(r, "bouncestream_state_live_bytes",
                                   "RocksDB estimate-live-data-size of the state store.")
                      ->Add({});
  m.memory_bytes = &AddFamily<Gauge>(r, "bouncestream_state_memory_bytes",
                                     "Memory of the state store (estimate): hot window/decision "
                                     "cache + block cache usage (memtables charged to it) + table "
                                     "readers.")
                        ->Add({});
  m.sst_bytes = &AddFamily<Gauge>(r, "bouncestream_state_sst_bytes",
                                  "RocksDB total-sst-files-size of the state store.")
                     ->Add({});
  m.pending_bytes = &AddFamily<Gauge>(r, "bouncestream_state_pending_compaction_bytes",
                                      "RocksDB estimate-pending-compaction-bytes of the state "
                                      "store.")
                         ->Add({});
  m.write_stall = &AddFamily<Counter>(r, "bouncestream_state_write_stall_seconds_total",
                                      "Time RocksDB stalled writes to the state store.")
                       ->Add({});
  m.write_errors = &AddFamily<Counter>(r, "bouncestream_state_write_errors_total",
                                       "State writes that failed (disk full, unwritable).")
                        ->Add({});
  m.restore_records = &AddFamily<Counter>(r, "bouncestream_restore_records_total",
                                          "Changelog records applied while restoring state.")
                           ->Add({});
  {
    auto* retries = AddFamily<Counter>(r, "bouncestream_kafka_request_retries_total",
                                       "Kafka requests the client retried (librdkafka statistics "
                                       "txretries, all brokers), by client.");
    auto* disconnects = AddFamily<Counter>(r, "bouncestream_kafka_disconnects_total",
                                           "Broker connections lost by the client (librdkafka "
                                           "statistics disconnects), by client.");
    auto* rtt = AddFamily<Gauge>(r, "bouncestream_kafka_broker_rtt_seconds",
                                 "Largest average request round-trip time over the client's "
                                 "brokers (librdkafka statistics rtt.avg), by client.");
    const char* clients[2] = {"producer", "consumer"};
    for (int i = 0; i < 2; ++i) {
      m.kafka_retries[i] = &retries->Add({{"client", clients[i]}});
      m.kafka_disconnects[i] = &disconnects->Add({{"client", clients[i]}});
      m.kafka_rtt[i] = &rtt->Add({{"client", clients[i]}});
    }
  }
  m.commit_failures = &AddFamily<Counter>(r, "bouncestream_offset_commit_failures_total",
                                          "Offset commits the group coordinator refused or that "
                                          "failed (retried with the next commit).")
                           ->Add({});
  m.partitions_lost = &AddFamily<Counter>(r, "bouncestream_partitions_lost_total",
                                          "Partitions whose assignment was lost (the session "
                                          "expired, e.g. while the brokers were unreachable).")
                           ->Add({});
  m.write_blocked = &AddFamily<Gauge>(r, "bouncestream_state_write_blocked",
                                      "1 while state writes fail (disk full, unwritable) and "
                                      "consumption is paused until they succeed again.")
                         ->Add({});
  m.restoring = &AddFamily<Gauge>(r, "bouncestream_restoring_partitions",
                                  "Partitions whose state is being restored now.")
                     ->Add({});
  m.ready = &AddFamily<Gauge>(r, "bouncestream_ready",
                              "1 when partitions are assigned and state is restored, else 0.")
                 ->Add({});
  m.last_event = &AddFamily<Gauge>(r, "bouncestream_last_event_timestamp_seconds",
                                   "Event time (Unix seconds) of the newest event processed.")
                      ->Add({});

  // Zero-valued series that dashboards expect from the start.
  for (std::size_t f = 0; f + 1 < m.formats.size(); ++f) {
    m.input.Get(m.input.Key(f, 0));
    m.input.Get(m.input.Key(f, 1));
  }
  for (std::size_t k = 0; k < m.active_kinds.size(); ++k) {
    if (k != m.active_kinds.fallback_index()) m.active.Get(m.active.Key(k));
  }
  for (std::size_t s = 0; s < m.latency_stages.size(); ++s) {
    if (s != m.latency_stages.fallback_index()) m.latency.Get(m.latency.Key(s));
  }
  for (std::size_t s = 0; s < m.batch_stages.size(); ++s) {
    if (s != m.batch_stages.fallback_index()) m.batch_duration.Get(m.batch_duration.Key(s));
  }
  return {};
}

void Add(prometheus::Counter* c, std::uint64_t n) {
  if (c != nullptr && n > 0) c->Increment(static_cast<double>(n));
}
void Set(prometheus::Gauge* g, double value) {
  if (g != nullptr) g->Set(value);
}

}  // namespace

std::expected<std::unique_ptr<Metrics>, std::string> Metrics::Create(MetricsOptions options) {
  auto impl = std::make_unique<MetricsImpl>();
  impl->options = std::move(options);
  try {
    if (auto built = Build(*impl); !built) return std::unexpected(built.error());
  } catch (const std::exception& e) {
    return std::unexpected(std::string("metrics: ") + e.what());
  }
  return std::unique_ptr<Metrics>(new Metrics(std::move(impl)));
}

Metrics::Metrics(std::unique_ptr<internal::MetricsImpl> impl) : impl_(std::move(impl)) {}
Metrics::~Metrics() = default;

std::shared_ptr<prometheus::Registry> Metrics::registry() const { return impl_->registry; }

std::expected<std::string, std::string> Metrics::Serialize() const {
  try {
    return prometheus::TextSerializer().Serialize(impl_->registry->Collect());
  } catch (const std::exception& e) {
    return std::unexpected(std::string("metrics: serialize: ") + e.what());
  }
}

double Metrics::InputRecordsTotal() const { return impl_->input.Sum(); }

const TenantLabels& Metrics::tenants() const { return impl_->tenants; }
const ProviderBuckets& Metrics::providers() const { return impl_->providers; }

void Metrics::AddInputRecords(std::string_view format, bool ok, std::uint64_t n) {
  Add(impl_->input.Get(impl_->InputKey(format, ok)), n);
}
void Metrics::AddClassified(std::string_view tenant, std::string_view party,
                            std::string_view vendor, std::string_view bounce_class,
                            std::uint64_t n) {
  Add(impl_->classified.Get(impl_->ClassifiedKey(tenant, party, vendor, bounce_class)), n);
}
void Metrics::AddByReason(std::string_view reason, std::uint64_t n) {
  Add(impl_->by_reason.Get(impl_->by_reason.Key(impl_->reasons.Index(reason))), n);
}
void Metrics::AddByProvider(std::string_view recipient_domain, std::string_view party,
                            std::uint64_t n) {
  bool folded = false;
  Add(impl_->by_provider.Get(impl_->ProviderKey(recipient_domain, party, &folded)), n);
  if (folded) Add(impl_->folded, n);
}
void Metrics::AddDeadLetters(std::string_view reason, std::uint64_t n) {
  Add(impl_->dead_letters.Get(
          impl_->dead_letters.Key(impl_->dead_letter_reasons.Index(reason))),
      n);
}
void Metrics::AddDecisions(std::string_view kind, std::string_view scope, std::string_view party,
                           std::uint64_t n) {
  Add(impl_->decisions.Get(impl_->DecisionKey(kind, scope, party)), n);
}
void Metrics::AddDuplicateEvents(std::uint64_t n) { Add(impl_->duplicates, n); }
void Metrics::AddLateEvents(std::uint64_t n) { Add(impl_->late, n); }
void Metrics::AddRebalances(std::uint64_t n) { Add(impl_->rebalances, n); }
void Metrics::AddOffsetResets(std::uint64_t n) { Add(impl_->offset_resets, n); }
void Metrics::AddDeliveryErrors(std::uint64_t n) { Add(impl_->delivery_errors, n); }
void Metrics::AddStateWriteStallSeconds(double seconds) {
  internal::Inc(impl_->write_stall, seconds);
}
void Metrics::AddStateWriteErrors(std::uint64_t n) { Add(impl_->write_errors, n); }
void Metrics::AddRestoreRecords(std::uint64_t n) { Add(impl_->restore_records, n); }
namespace {
int ClientIndex(std::string_view client) {
  return client == "producer" ? 0 : client == "consumer" ? 1 : -1;
}
}  // namespace
void Metrics::AddKafkaRequestRetries(std::string_view client, std::uint64_t n) {
  if (const int i = ClientIndex(client); i >= 0) Add(impl_->kafka_retries[i], n);
}
void Metrics::AddKafkaDisconnects(std::string_view client, std::uint64_t n) {
  if (const int i = ClientIndex(client); i >= 0) Add(impl_->kafka_disconnects[i], n);
}
void Metrics::AddOffsetCommitFailures(std::uint64_t n) { Add(impl_->commit_failures, n); }
void Metrics::AddPartitionsLost(std::uint64_t n) { Add(impl_->partitions_lost, n); }
void Metrics::SetKafkaBrokerRtt(std::string_view client, double seconds) {
  if (const int i = ClientIndex(client); i >= 0) Set(impl_->kafka_rtt[i], seconds);
}

void Metrics::SetActiveDecisions(std::string_view kind, double count) {
  Set(impl_->active.Get(impl_->active.Key(impl_->active_kinds.Index(kind))), count);
}

void Metrics::SetConsumerLag(std::string_view topic, std::int32_t partition, double lag) {
  auto& m = *impl_;
  std::lock_guard lock(m.topic_mu);
  auto key = std::make_pair(m.TopicLabelLocked(topic), m.PartitionLabel(partition));
  auto it = m.lag.find(key);
  if (it == m.lag.end()) {
    prometheus::Gauge* gauge = nullptr;
    try {
      gauge = &m.lag_family->Add({{"topic", key.first}, {"partition", key.second}});
    } catch (const std::exception&) {
      return;
    }
    it = m.lag.emplace(std::move(key), gauge).first;
  }
  it->second->Set(lag);
}

void Metrics::RemoveConsumerLag(std::string_view topic, std::int32_t partition) {
  auto& m = *impl_;
  std::lock_guard lock(m.topic_mu);
  auto it = m.lag.find(std::make_pair(m.TopicLabelLocked(topic), m.PartitionLabel(partition)));
  if (it == m.lag.end()) return;
  try {
    m.lag_family->Remove(it->second);
  } catch (const std::exception&) {
  }
  m.lag.erase(it);
}

void Metrics::SetAssignedPartitions(std::string_view topic, double count) {
  auto& m = *impl_;
  std::lock_guard lock(m.topic_mu);
  std::string label = m.TopicLabelLocked(topic);
  auto it = m.assigned.find(label);
  if (it == m.assigned.end()) {
    prometheus::Gauge* gauge = nullptr;
    try {
      gauge = &m.assigned_family->Add({{"topic", label}});
    } catch (const std::exception&) {
      return;
    }
    it = m.assigned.emplace(std::move(label), gauge).first;
  }
  it->second->Set(count);
}

void Metrics::SetProducerQueue(double messages) { Set(impl_->producer_queue, messages); }
void Metrics::SetStateLiveBytes(double bytes) { Set(impl_->live_bytes, bytes); }
void Metrics::SetStateMemoryBytes(double bytes) { Set(impl_->memory_bytes, bytes); }
void Metrics::SetStateSstBytes(double bytes) { Set(impl_->sst_bytes, bytes); }
void Metrics::SetStatePendingCompactionBytes(double bytes) { Set(impl_->pending_bytes, bytes); }
void Metrics::SetRestoringPartitions(double count) { Set(impl_->restoring, count); }
void Metrics::SetStateWriteBlocked(bool blocked) { Set(impl_->write_blocked, blocked ? 1.0 : 0.0); }
void Metrics::SetReady(bool ready) { Set(impl_->ready, ready ? 1 : 0); }
void Metrics::SetLastEventTimestamp(double unix_seconds) {
  std::lock_guard lock(impl_->last_event_mu);
  if (unix_seconds <= impl_->last_event_value) return;
  impl_->last_event_value = unix_seconds;
  Set(impl_->last_event, unix_seconds);
}

void Metrics::ObserveLatency(std::string_view stage, double seconds) {
  if (auto* h = impl_->latency.Get(impl_->latency.Key(impl_->latency_stages.Index(stage)))) {
    h->Observe(seconds);
  }
}
void Metrics::ObserveBatchDuration(std::string_view stage, double seconds) {
  if (auto* h = impl_->batch_duration.Get(
          impl_->batch_duration.Key(impl_->batch_stages.Index(stage)))) {
    h->Observe(seconds);
  }
}

void Metrics::Flush(BatchCounts& batch) {
  auto& m = *impl_;
  auto flush = [](internal::SeriesCache<prometheus::Counter>& cache, BatchCounts::Counts& counts) {
    for (const auto& [key, n] : counts) Add(cache.Get(key), n);
    counts.clear();
  };
  flush(m.input, batch.input_);
  flush(m.classified, batch.classified_);
  flush(m.by_reason, batch.reason_);
  flush(m.by_provider, batch.provider_);
  flush(m.dead_letters, batch.dead_letter_);
  flush(m.decisions, batch.decision_);
  Add(m.folded, batch.folded_);
  Add(m.duplicates, batch.duplicates_);
  Add(m.late, batch.late_);
  for (std::size_t s = 0; s < batch.latency_.size(); ++s) {
    auto& h = batch.latency_[s];
    if (h.count == 0) continue;
    if (auto* histogram = m.latency.Get(m.latency.Key(s))) {
      try {
        histogram->ObserveMultiple(h.buckets, h.sum);
      } catch (const std::exception&) {
      }
    }
  }
  if (batch.last_event_time_ > 0) SetLastEventTimestamp(batch.last_event_time_);
  batch.Clear();
}

// --- BatchCounts ---------------------------------------------------------------------------

BatchCounts::BatchCounts(const Metrics& metrics)
    : impl_(metrics.impl_.get()), latency_(impl_->latency_stages.size()) {
  for (auto& h : latency_) h.buckets.assign(LatencyBuckets().size() + 1, 0);
}
BatchCounts::~BatchCounts() = default;
BatchCounts::BatchCounts(BatchCounts&&) noexcept = default;
BatchCounts& BatchCounts::operator=(BatchCounts&&) noexcept = default;

void BatchCounts::InputRecord(std::string_view format, bool ok) {
  ++input_[impl_->InputKey(format, ok)];
}

void BatchCounts::Event(std::string_view tenant, std::string_view party, std::string_view vendor,
                        std::string_view bounce_class, std::string_view reason,
                        std::string_view recipient_domain) {
  ++classified_[impl_->ClassifiedKey(tenant, party, vendor, bounce_class)];
  ++reason_[impl_->by_reason.Key(impl_->reasons.Index(reason))];
  bool folded = false;
  ++provider_[impl_->ProviderKey(recipient_domain, party, &folded)];
  if (folded) ++folded_;
}

void BatchCounts::DeadLetter(std::string_view reason) {
  ++dead_letter_[impl_->dead_letters.Key(impl_->dead_letter_reasons.Index(reason))];
}

void BatchCounts::Decision(std::string_view kind, std::string_view scope,
                           std::string_view party) {
  ++decision_[impl_->DecisionKey(kind, scope, party)];
}

void BatchCounts::Latency(std::string_view stage, double seconds) {
  auto& h = latency_[impl_->latency_stages.Index(stage)];
  const auto& bounds = LatencyBuckets();
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
  h.buckets[bucket] += 1;
  h.sum += seconds;
  ++h.count;
}

bool BatchCounts::empty() const {
  if (!input_.empty() || !classified_.empty() || !reason_.empty() || !provider_.empty() ||
      !dead_letter_.empty() || !decision_.empty() || folded_ != 0 || duplicates_ != 0 ||
      late_ != 0 || last_event_time_ > 0) {
    return false;
  }
  return std::all_of(latency_.begin(), latency_.end(), [](const Histo& h) { return h.count == 0; });
}

void BatchCounts::Clear() {
  input_.clear();
  classified_.clear();
  reason_.clear();
  provider_.clear();
  dead_letter_.clear();
  decision_.clear();
  folded_ = duplicates_ = late_ = 0;
  for (auto& h : latency_) {
    std::fill(h.buckets.begin(), h.buckets.end(), 0);
    h.sum = 0;
    h.count = 0;
  }
  last_event_time_ = 0;
}

}  // namespace bouncestream::metrics
