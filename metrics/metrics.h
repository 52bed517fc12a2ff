// The registry of bouncestream's metrics (the names, types and labels of metrics/METRICS.md).
//
// A Metrics object creates every metric once, with its help text, and keeps the label lookups
// cached: a label tuple is resolved through the bounded label sets (labels.h) to a small integer
// key, and the key to the prometheus series through a hash map, so a hot-path update costs a few
// hash lookups and one atomic add. In per-record loops, count into a BatchCounts (plain integers
// per label tuple) and Flush() it once per poll batch.
//
// Thread safety: every Metrics method may be called from any thread. A BatchCounts belongs to one
// thread at a time. No method throws; prometheus-cpp exceptions are caught inside (a series that
// cannot be created is skipped).
#ifndef BOUNCESTREAM_METRICS_METRICS_H_
#define BOUNCESTREAM_METRICS_METRICS_H_

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "metrics/labels.h"

namespace prometheus {
class Registry;
}  // namespace prometheus

namespace bouncestream::metrics {

struct MetricsOptions {
  std::string version;   // bouncestream_build_info{version}; GuardFreeLabel'd
  std::string revision;  // bouncestream_build_info{revision}; e.g. the git commit
  std::vector<std::string> tenant_allow_list;  // other tenants are labelled "other"
  ProviderList providers;                      // empty = DefaultProviders()
  LabelVocabulary vocabulary = DefaultVocabulary();
  std::size_t max_topics = 64;          // distinct topic label values; later ones are "other"
  std::int32_t max_partitions = 4096;   // partition label 0..max-1, others "other"
};

// Bucket boundaries (seconds) of the two histograms.
const std::vector<double>& LatencyBuckets();        // 1 ms .. 10 min
const std::vector<double>& BatchDurationBuckets();  // 0.1 ms .. 10 s

class BatchCounts;

namespace internal {
struct MetricsImpl;
}  // namespace internal

class Metrics {
 public:
  // Fails on an invalid option (an unsafe tenant id or provider bucket, a duplicate label value).
  static std::expected<std::unique_ptr<Metrics>, std::string> Create(MetricsOptions options);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The registry, for an exposer (Server serves it) or a test. Never null.
  std::shared_ptr<prometheus::Registry> registry() const;
  // Prometheus text exposition format (version 0.0.4) of every metric.
  std::expected<std::string, std::string> Serialize() const;

  // Sum of bouncestream_input_records_total over all labels (cheap: no registry scrape).
  double InputRecordsTotal() const;

  const TenantLabels& tenants() const;
  const ProviderBuckets& providers() const;

  // --- counters (one cached lookup per call; in per-record loops use BatchCounts) ---------
  void AddInputRecords(std::string_view format, bool ok, std::uint64_t n = 1);
  void AddClassified(std::string_view tenant, std::string_view party, std::string_view vendor,
                     std::string_view bounce_class, std::uint64_t n = 1);
  void AddByReason(std::string_view reason, std::uint64_t n = 1);
  // `recipient_domain` is folded into its provider bucket (an address is accepted: its domain
  // is used); a fold into "other" also counts bouncestream_provider_folded_total.
  void AddByProvider(std::string_view recipient_domain, std::string_view party,
                     std::uint64_t n = 1);
  void AddDeadLetters(std::string_view reason, std::uint64_t n = 1);
  void AddDecisions(std::string_view kind, std::string_view scope, std::string_view party,
                    std::uint64_t n = 1);
  void AddDuplicateEvents(std::uint64_t n = 1);
  void AddLateEvents(std::uint64_t n = 1);
  void AddRebalances(std::uint64_t n = 1);
  void AddOffsetResets(std::uint64_t n = 1);
  void AddDeliveryErrors(std::uint64_t n = 1);
  void AddStateWriteStallSeconds(double seconds);
  void AddStateWriteErrors(std::uint64_t n = 1);
  void AddRestoreRecords(std::uint64_t n = 1);
  // Kafka client health. `client`: "producer" or "consumer" (anything else is ignored).
  void AddKafkaRequestRetries(std::string_view client, std::uint64_t n);  // librdkafka txretries
  void AddKafkaDisconnects(std::string_view client, std::uint64_t n);     // broker disconnects
  void AddOffsetCommitFailures(std::uint64_t n = 1);
  void AddPartitionsLost(std::uint64_t n = 1);  // assignments lost (session expired)

  // --- gauges ---------------------------------------------------------------------------
  void SetActiveDecisions(std::string_view kind, double count);
  // Per-partition lag from librdkafka statistics (consumer_lag); remove it on revoke.
  void SetConsumerLag(std::string_view topic, std::int32_t partition, double lag);
  void RemoveConsumerLag(std::string_view topic, std::int32_t partition);
  void SetAssignedPartitions(std::string_view topic, double count);
  void SetProducerQueue(double messages);
  void SetStateLiveBytes(double bytes);
  void SetStateMemoryBytes(double bytes);  // StoreStats.memory_bytes
  void SetStateSstBytes(double bytes);
  void SetStatePendingCompactionBytes(double bytes);
  void SetRestoringPartitions(double count);
  // Largest average round-trip time over the client's brokers (librdkafka statistics).
  void SetKafkaBrokerRtt(std::string_view client, double seconds);
  // 1 while state writes fail and consumption is paused until they succeed again.
  void SetStateWriteBlocked(bool blocked);
  void SetReady(bool ready);
  // Keeps the maximum: an older timestamp never moves the gauge back.
  void SetLastEventTimestamp(double unix_seconds);

  // --- histograms -----------------------------------------------------------------------
  void ObserveLatency(std::string_view stage, double seconds);        // classify, decide
  void ObserveBatchDuration(std::string_view stage, double seconds);  // classify, state

  // Adds everything counted in `batch` to the metrics and clears it.
  void Flush(BatchCounts& batch);

 private:
  friend class BatchCounts;
  explicit Metrics(std::unique_ptr<internal::MetricsImpl> impl);
  std::unique_ptr<internal::MetricsImpl> impl_;
};

// Per-batch aggregation: plain integers per label tuple, no atomics, no prometheus calls.
// Create one per processing thread (it refers to its Metrics, which must outlive it), count
// during a poll batch, then Metrics::Flush(batch) once.
class BatchCounts {
 public:
  explicit BatchCounts(const Metrics& metrics);
  ~BatchCounts();
  BatchCounts(BatchCounts&&) noexcept;
  BatchCounts& operator=(BatchCounts&&) noexcept;

  void InputRecord(std::string_view format, bool ok);
  // One classified event: events_classified_total, events_by_reason_total and
  // events_by_provider_total (plus provider_folded_total when the domain folds to "other").
  void Event(std::string_view tenant, std::string_view party, std::string_view vendor,
             std::string_view bounce_class, std::string_view reason,
             std::string_view recipient_domain);
  void DeadLetter(std::string_view reason);
  void Decision(std::string_view kind, std::string_view scope, std::string_view party);
  void Duplicate() { ++duplicates_; }
  void Late() { ++late_; }
  void Latency(std::string_view stage, double seconds);
  void EventTime(double unix_seconds) {
    if (unix_seconds > last_event_time_) last_event_time_ = unix_seconds;
  }

  bool empty() const;
  void Clear();

 private:
  friend class Metrics;
  struct Histo {
    std::vector<double> buckets;  // non-cumulative increments, +Inf last
    double sum = 0;
    std::uint64_t count = 0;
  };
  using Counts = std::unordered_map<std::uint64_t, std::uint64_t>;

  const internal::MetricsImpl* impl_;
  Counts input_, classified_, reason_, provider_, dead_letter_, decision_;
  std::uint64_t folded_ = 0, duplicates_ = 0, late_ = 0;
  std::vector<Histo> latency_;  // by latency stage index
  double last_event_time_ = 0;
};

}  // namespace bouncestream::metrics

#endif  // BOUNCESTREAM_METRICS_METRICS_H_
