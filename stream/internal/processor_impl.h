// Internals of the stream processor shared by processor.cc (the input stage: decode, classify,
// produce) and decision_stage.cc (the decision stage: classified records -> state -> decisions).
#ifndef BOUNCESTREAM_STREAM_INTERNAL_PROCESSOR_IMPL_H_
#define BOUNCESTREAM_STREAM_INTERNAL_PROCESSOR_IMPL_H_

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <deque>
#include <future>
#include <mutex>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "classify/classifier.h"
#include "metrics/metrics.h"
#include "metrics/server.h"
#include "metrics/status_board.h"
#include "state/engine.h"
#include "stream/admin.h"
#include "stream/config.h"
#include "stream/decode.h"
#include "stream/kafka_produce.h"
#include "stream/log.h"
#include "stream/observe.h"
#include "stream/processor.h"

namespace bouncestream::stream {

struct PartitionTrack;

// One input record whose outputs are in flight.
struct InFlight {
  PartitionTrack* track = nullptr;
  std::int64_t offset = 0;
  int pending = 0;  // outputs not yet acknowledged
  bool failed = false;
};

struct PartitionTrack {
  std::string topic;
  std::int32_t partition = 0;
  std::deque<InFlight> inflight;  // in consumption order; deque keeps addresses stable
  bool assigned = true;
  // Where consumption of this assignment started: the committed offset (for a classified
  // partition: the state's), the earliest offset at the assignment (no committed offset;
  // FixEarliestOffsets), BEGINNING (that lookup failed, or after a reset) or INVALID (committed
  // offset unknown; librdkafka looks it up). Used to re-assign a partition that has not delivered
  // a record yet, and to replay a classified partition without state after a state recovery.
  std::int64_t start = RD_KAFKA_OFFSET_INVALID;
};

// An _AUTO_OFFSET_RESET consumer error: librdkafka could not start or continue fetching.
struct ResetError {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t offset = RD_KAFKA_OFFSET_INVALID;  // the offset it could not fetch, or logical
  std::string detail;
};

// A partition of the classified topic owned by the decision stage.
// Partition count of `topic` as the cluster reports it; 0 when it does not exist.
std::expected<int, std::string> PartitionCount(rd_kafka_t* rk, const std::string& topic);
// A consumer beside the group member (changelog restore, admin topic): the processor's consumer
// properties with `overrides` set; used with assign() only. nullptr and `error` on failure.
rd_kafka_t* NewSideConsumer(const Config& config, std::string_view role,
                            const KafkaProperties& overrides, std::string* error);

// An admin request from the HTTP endpoints, executed on the processor's thread.
struct PendingAdmin {
  AdminCommand command;
  std::promise<metrics::AdminResponse> result;
};

// Checkpoints (decision_stage.cc): a partition's poll batches are applied in memory (Apply with
// checkpoint = false) and their decisions published at once; the checkpoint is closed (changelog,
// commit marker, one RocksDB write, then the classified offset stored) when checkpoint_events
// records were applied or checkpoint_interval_ms after its first batch, and before a revoke, a
// shutdown and an operator action. The classified offset stored (and committed) never passes
// `next_offset`, the durable one.
struct StatePartition {
  std::int64_t next_offset = -1;     // what the durable state has applied up to (exclusive)
  std::int64_t applied_offset = -1;  // what the engine holds in memory (the open checkpoint)
  bool open = false;                 // the engine has an open checkpoint for this partition
  std::int64_t open_records = 0;     // classified records applied since the last checkpoint
  std::int64_t open_since_ms = 0;    // steady clock: the open checkpoint's first batch
};

struct Processor::Impl {
  Config config;
  classify::Classifier::Session session;
  Decoder decoder;
  ProcessorCounters counters;
  RateLimitedLog dead_letter_log;
  rd_kafka_t* consumer = nullptr;
  rd_kafka_t* producer = nullptr;
  std::map<std::pair<std::string, std::int32_t>, std::unique_ptr<PartitionTrack>> tracks;
  std::map<std::string, InputFormat, std::less<>> formats;  // input topic -> format
  std::vector<classify::BounceEvent> events;
  std::string value;
  std::string observation_header;  // of the classified record in `value`
  // Dead letters larger than this are cut (header bouncestream.truncated = original size):
  // librdkafka's default message.max.bytes is 1,000,000; headers and framing need room.
  std::size_t dlq_max_payload = 1'000'000 - 65'536;
  bool fatal = false;
  std::string fatal_reason;

  explicit Impl(std::shared_ptr<const classify::Classifier> c)
      : session(std::move(c)) {}

  ~Impl() {
    if (consumer != nullptr) rd_kafka_destroy(consumer);
    if (producer != nullptr) rd_kafka_destroy(producer);
    if (restore_consumer != nullptr) rd_kafka_destroy(restore_consumer);
    if (admin_consumer != nullptr) rd_kafka_destroy(admin_consumer);
  }

  // Metrics: counted per record into `counts`, flushed once per poll batch.
  std::unique_ptr<metrics::Metrics> metrics;
  std::unique_ptr<metrics::BatchCounts> counts;
  metrics::StatusBoard board{50};
  std::unique_ptr<metrics::Server> server;  // /metrics, /, /healthz, /readyz, admin endpoints
  void SetReady(bool ready, std::string_view reason);
  std::int64_t last_stats_ms = 0;
  std::int64_t stall_micros_seen = 0;
  bool assigned_once = false;
  void UpdateGauges();
  // librdkafka statistics of the producer (client 0) or the consumer (client 1).
  void OnStats(std::string_view json, int client);
  struct KafkaHealth {  // last cumulative sums seen in the statistics
    std::int64_t retries = 0;
    std::int64_t disconnects = 0;
  };
  KafkaHealth kafka_health[2];
  RateLimitedLog kafka_log;  // offset commit failures

  // The decision stage (null when [state] enabled = false).
  std::unique_ptr<state::Engine> engine;
  std::unique_ptr<ObservationReader> reader;
  std::string changelog_topic;
  std::map<std::int32_t, StatePartition> state_parts;
  rd_kafka_t* restore_consumer = nullptr;
  state::SystemClock wall_clock;
  std::vector<rd_kafka_message_t*> state_batch;  // classified records of the current poll batch
  InFlight state_flight;  // the outputs of the current state batch (track == nullptr)

  std::expected<void, std::string> Connect();
  std::expected<void, std::string> OpenState();
  // Not `engine != nullptr`: the engine is closed for a moment while a disk fault is recovered.
  bool IsStateTopic(const char* topic) const {
    return config.state.enabled && config.topics.classified == topic;
  }
  // Decision stage: restore + start offsets for assigned classified partitions; forget revoked.
  void AssignState(rd_kafka_topic_partition_list_t* parts);
  void RevokeState(rd_kafka_topic_partition_list_t* parts);
  std::vector<std::pair<std::int32_t, std::int64_t>> start_offsets_to_store;
  void StoreStateStartOffsets();
  std::expected<void, std::string> Restore(std::int32_t partition);
  void ProcessStateBatch();
  // Closes the open checkpoints of `partitions` (every partition when empty): Apply(p, {}, ..,
  // true), then FinishCheckpoints. Returns false when one could not be written (fatal or state
  // blocked); true when none is open any more.
  bool CloseCheckpoints(std::string_view why, std::span<const std::int32_t> partitions = {});
  // The checkpoints due by time (checkpoint_interval_ms) and, with checkpoint_when_caught_up,
  // those of the partitions the stage has caught up with: once per loop iteration.
  void CheckpointDue();
  // The last poll drained the consumer queue (set by Run before the batch is processed).
  bool consumer_drained = false;
  // checkpoint_when_caught_up: the queue is drained and the partition is applied up to
  // `applied_offset` = its high watermark as the last fetch response gave it (unknown: caught up).
  bool CaughtUp(std::int32_t partition, std::int64_t applied_offset) const;
  // Revoke (not lost): closes the open checkpoints of the classified partitions in `parts`.
  void CloseRevokedCheckpoints(rd_kafka_topic_partition_list_t* parts);
  // Publishes the markers of `closing` (once every output in state_flight is acknowledged),
  // writes them (Commit) and stores the classified offsets. False when stopped or blocked.
  bool FinishCheckpoints(std::vector<state::BatchResult>& closing);
  // An engine Apply() failed (in a poll batch or closing a checkpoint, `why`): stops the
  // processor without committing (fatal), counts and logs it.
  void StateApplyFailed(std::int32_t partition, std::string_view why, std::string_view error);
  enum class PublishPhase { kBody, kMarker };
  bool PublishResult(const state::BatchResult& r, InFlight* flight, PublishPhase phase);
  bool AwaitFlight(const InFlight& flight);
  std::expected<void, std::string> CheckStateTopics();
  std::int32_t classified_partitions = 0;

  // Disk faults and back-pressure (decision_stage.cc). A state write that fails (disk full,
  // volume unwritable) does not stop the processor: consumption is paused, nothing more is
  // committed, and RetryState() reopens the state and restores the failed batches from the
  // changelog once a probe write succeeds. A producer queue above its bound pauses consumption
  // too, until it drains. Both run from PollAdmin(), once per loop iteration.
  bool state_blocked = false;
  std::string state_block_error;
  std::int64_t state_blocked_since_ms = 0;
  std::int64_t state_retry_at_ms = 0;
  int state_retry_delay_ms = 0;
  int state_retry_attempts = 0;
  bool backpressure = false;
  bool consumption_paused = false;
  std::int64_t backpressure_events = 0;
  int backpressure_bound = 0;  // producer queue records; 0 = not computed yet
  void BlockState(std::string_view what, std::int32_t partition, const std::string& error);
  void RetryState();
  void CheckBackpressure();
  void UpdatePause();

  // Operator commands (admin_stage.cc).
  rd_kafka_t* admin_consumer = nullptr;
  std::mutex admin_mu;
  std::deque<std::shared_ptr<PendingAdmin>> admin_queue;  // from the HTTP endpoints
  std::set<std::string> executed_requests;
  std::expected<void, std::string> StartAdmin();
  void PollAdmin();
  metrics::AdminResponse Execute(const AdminCommand& cmd, std::string_view mode);
  void ProcessBatch(std::vector<rd_kafka_message_t*>& batch);
  void ProcessMessage(const rd_kafka_message_t* m, PartitionTrack* track);
  bool ProduceOut(const OutRecord& record, InFlight* inflight);
  bool Produce(const std::string& topic, std::string_view key, std::string_view value,
               InFlight* inflight, rd_kafka_headers_t* headers);
  void DeadLetter(const rd_kafka_message_t* m, InFlight* inflight, InputFormat format,
                  const DecodeError& error);
  void StoreOffsets();
  void Commit(bool sync);
  void FlushProducer(int timeout_ms);
  void OnRebalance(rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts);
  int ChooseStartOffsets(rd_kafka_topic_partition_list_t* parts);
  void FixEarliestOffsets(rd_kafka_topic_partition_list_t* parts);
  void RestartAfterResets(const std::vector<ResetError>& resets);
  PartitionTrack* TrackOf(const char* topic, std::int32_t partition);
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_INTERNAL_PROCESSOR_IMPL_H_
