// stream_bench: events/s of the stream processor's per-record path, single thread, in three stages.
//
//   stream_bench [records=200000] [reps=5] [e2e_records=40000] [e2e_reps=3]
//                [stages=decode,pipeline,encode,e2e]
//
// Input: TrafficGenerator's realistic mixed stream (six formats, ~1 % retried duplicates,
// ~0.5 % malformed records), pre-generated, so generation is never timed.
//   1. decode: one reused Decoder, format auto-detected, per input format and overall; then all
//      records, and the canonical ones, with the format given (the cost of auto-detection).
//   2. pipeline (decode+classify+encode): the per-record CPU work of `bouncestream run`
//      (Processor::Impl::ProcessMessage in stream/processor.cc) without Kafka: decode, classify
//      with the shipped rules and the engine `run` defaults to (one Session; override with
//      BOUNCESTREAM_BENCH_ENGINE, which the e2e processor then gets too), build the classified
//      JSON record (event + classification + source object) and its key, or the dead letter's
//      header values.
//   2b. encode: stage 2's encoding alone (the classified record with its source object and the
//      key) over events decoded and classified beforehand.
//   3. e2e: a dev broker child, the records produced to `in` (timed separately), one
//      `bouncestream run` child; timed from its start until a reader consumer (all partitions of
//      both output topics, from the beginning) has seen every expected output (classified + dead
//      letters). That includes rule compilation, the group join (~3 s on the mock) and the first
//      offset and metadata look-ups, so the rate from the first output to the last is reported
//      too: from the outputs' CreateTime (stamped by the processor's producer, so the reader's
//      fetch latency is left out), with the processor's CPU sampled from /proc around that
//      window; and "steady", from the moment every input partition has produced an output
//      (librdkafka starts the partitions' fetches up to ~0.5 s apart) to the last output.
//      Fewer runs (e2e_reps), each on a fresh broker. N is capped so that no partition
//      of any topic exceeds 4.5 MiB (the mock drops a partition's oldest data beyond 5 MiB;
//      outputs are keyed by recipient domain, so the gmail.com partition fills first). The
//      input is produced in large batches: the mock returns one batch per partition per fetch.
// Before timing: stage 2's outputs for the first 1000 records must equal, byte for byte, a second
// independent pass (its own RuleSet, Classifier and Session, a fresh Decoder per record,
// EncodeClassified + a separately written source object), and over all records the decoded events
// and dead letters must match the generator's own counts. After each e2e run every output is
// compared byte for byte (key and value; dead letters: source partition/offset headers and
// payload) with what stage 2's code gives for the delivered input partition/offset; a missing or
// different output, an offset reset in the processor's log, or a processor exit code other than 0
// fails the benchmark (exit 1). Children are stopped on every exit path (and get SIGKILL if this
// process dies).
//
// Rates are records/s; every generated record yields exactly one output (one event or one dead
// letter), so records/s = output events/s. CPU is the thread's CPU time (stages 1-2) or the
// processor process's user+sys from /proc (stage 3, 10 ms ticks), as CPU-seconds per million.
//
// Environment: BOUNCESTREAM_BENCH_ENGINE (re2set | vectorscan), STREAM_BENCH_DIR (e2e work dir,
// default $TMPDIR/stream_bench-PID), STREAM_BENCH_KEEP=1 (keep the e2e logs),
// STREAM_BENCH_RUN_ARGS (extra `run` arguments, e.g. "-X debug=fetch"),
// STREAM_BENCH_READER_DEBUG (librdkafka debug contexts of the reader, to stderr),
// STREAM_BENCH_GROUPS (only these stage-1 rows, comma list, e.g. "canonical_format_given"),
// STREAM_BENCH_DUMP=FILE (before stage 2: every output of stage 2's code for all records, dead
// letters with their decode error, one line each, to diff two builds).
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "classify/classifier.h"
#include "benchmarks/bench_child.h"
#include "stream/cli/child.h"
#include "stream/config.h"
#include "stream/decode.h"
#include "stream/demo/generator.h"
#include "stream/encode.h"
#include "stream/json_writer.h"
#include "stream/cli/commands.h"
#include "stream/kafka_produce.h"

namespace {

namespace classify = bouncestream::classify;
namespace cli = bouncestream::stream::cli;
namespace fs = std::filesystem;
using bouncestream::stream::Decoder;
using bouncestream::stream::EncodeClassified;
using bouncestream::stream::EncodeClassifiedRecord;
using bouncestream::stream::GeneratedRecord;
using bouncestream::stream::InputFormat;
using bouncestream::stream::JsonWriter;
using bouncestream::stream::ProduceCopy;
using bouncestream::stream::TrafficGenerator;
using Clock = std::chrono::steady_clock;
using bouncestream::bench::Child;
using bouncestream::bench::ReadFile;
using bouncestream::bench::Spawn;
using bouncestream::bench::WaitForBootstrap;

constexpr const char* kInTopic = "in";
constexpr const char* kClassifiedTopic = "bouncestream.classified";
constexpr const char* kDlqTopic = "bouncestream.dlq";
constexpr int kInPartitions = 6;
constexpr int kClassifiedPartitions = 6;
constexpr int kDlqPartitions = 2;

// SIGINT/SIGTERM stop the runs (the children are killed on the way out): the processor's flag.
std::atomic<bool>& g_stop = cli::StopFlag();
std::string g_engine;  // the classifier engine of stage 2 and of the e2e processor

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double CpuNow(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double ThreadCpu() { return CpuNow(CLOCK_THREAD_CPUTIME_ID); }
double ProcessCpu() { return CpuNow(CLOCK_PROCESS_CPUTIME_ID); }

// user+sys CPU seconds of another process, -1 if it is gone.
double ChildCpu(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  std::FILE* f = std::fopen(path, "r");
  if (f == nullptr) return -1;
  char buf[2048];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return -1;
  ++p;
  unsigned long long ticks = 0;
  for (int field = 3; field <= 15; ++field) {  // after ")": state is field 3; utime 14, stime 15
    while (*p == ' ') ++p;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(p, &end, 10);
    if (field >= 14) ticks += v;
    while (*p != ' ' && *p != '\0') ++p;
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string ToLowerAscii(std::string_view s) {  // as stream/processor.cc does for output keys
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}


// ---------------------------------------------------------------------------------------------
// Stage 2's code: the per-record CPU path of Processor::Impl::ProcessMessage without Kafka.

struct Output {
  bool dead_letter = false;
  std::string_view key, value;
  // Dead letters: the header values the processor formats.
  std::string_view partition_text, offset_text;
  std::string_view reason, detail;  // dead letters: the decode error (for STREAM_BENCH_DUMP)
};

class Pipeline {
 public:
  explicit Pipeline(std::shared_ptr<const classify::Classifier> c) : session_(std::move(c)) {}

  // Calls out(const Output&) for every output record of one input record.
  template <class Out>
  void Process(std::string_view payload, std::string_view in_key, std::string_view topic,
               std::int32_t partition, std::int64_t offset, Out&& out) {
    events_.clear();
    decoder_.Reset();
    auto decoded = decoder_.Decode(payload, InputFormat::kAuto, &events_);
    if (!decoded) {
      // DeadLetter(): the header values; key and payload go out unchanged. (The processor also
      // formats a rate-limited log line, at most one per error kind per 10 s: not done here.)
      partition_text_ = std::to_string(partition);
      offset_text_ = std::to_string(offset);
      out(Output{true, in_key, payload, partition_text_, offset_text_, decoded.error().kind,
                 decoded.error().detail});
      return;
    }
    for (const auto& ev : events_) {
      const auto c = session_.Classify(ev);
      value_.clear();
      EncodeClassifiedRecord(ev, c, {topic, partition, offset, ToString(*decoded)}, &value_);
      const std::string key = ToLowerAscii(ev.RecipientDomain());
      out(Output{false, key, value_, {}, {}, {}, {}});
    }
  }

 private:
  classify::Classifier::Session session_;
  Decoder decoder_;
  std::vector<classify::BounceEvent> events_;
  std::string value_, partition_text_, offset_text_;
};

std::string Flatten(const Output& o) {
  std::string s = o.dead_letter ? "dlq\t" : "classified\t";
  if (o.dead_letter) {
    s.append(o.partition_text).append("\t").append(o.offset_text).append("\t");
  }
  s.append(o.key).append("\t").append(o.value);
  return s;
}

// The independent second pass for the reference check.
std::vector<std::string> ReferencePass(const std::vector<GeneratedRecord>& records, std::size_t n,
                                       std::shared_ptr<const classify::Classifier> classifier) {
  std::vector<std::string> out;
  classify::Classifier::Session session(std::move(classifier));
  for (std::size_t i = 0; i < n; ++i) {
    const GeneratedRecord& r = records[i];
    const auto partition = static_cast<std::int64_t>(i % kInPartitions);
    const auto offset = static_cast<std::int64_t>(i / kInPartitions);
    Decoder decoder;
    std::vector<classify::BounceEvent> events;
    auto decoded = decoder.Decode(r.value, InputFormat::kAuto, &events);
    if (!decoded) {
      out.push_back("dlq\t" + std::to_string(partition) + "\t" + std::to_string(offset) + "\t" +
                    r.key + "\t" + r.value);
      continue;
    }
    for (const auto& ev : events) {
      std::string value;
      EncodeClassified(ev, session.Classify(ev), &value);
      value.pop_back();  // reopen the record to add the source object
      value.push_back(',');
      JsonWriter w(&value);
      w.Key("source");
      w.BeginObject();
      w.Field("topic", std::string_view(kInTopic));
      w.Field("partition", partition);
      w.Field("offset", offset);
      w.Field("format", ToString(*decoded));
      w.EndObject();
      value.push_back('}');
      std::string key;
      for (char c : ev.RecipientDomain()) {
        key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c);
      }
      out.push_back("classified\t" + key + "\t" + value);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reporting.

struct Runs {
  std::vector<double> rate;        // per second
  std::vector<double> cpu_per_m;   // CPU-seconds per million
};

void PrintRuns(const std::string& name, const char* unit, const Runs& r, const std::string& note) {
  const double m = Median(r.rate);
  char cpu[32] = "-";
  if (!r.cpu_per_m.empty()) std::snprintf(cpu, sizeof cpu, "%.3f", Median(r.cpu_per_m));
  std::printf("%-34s median %10.0f %s %8.0f ns  cpu_s_per_M %7s  (runs:", name.c_str(), m, unit,
              m > 0 ? 1e9 / m : 0.0, cpu);
  for (double x : r.rate) std::printf(" %.0f", x);
  std::printf(")%s%s\n", note.empty() ? "" : "  ", note.c_str());
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Stage 1.

int StageDecode(std::span<const GeneratedRecord> records, int reps) {
  std::map<std::string, std::vector<const GeneratedRecord*>> groups;
  std::vector<const GeneratedRecord*> all;
  for (const auto& r : records) {
    all.push_back(&r);
    groups[r.malformed ? std::string("malformed") : std::string(ToString(r.format))].push_back(&r);
  }
  Decoder decoder;
  std::vector<classify::BounceEvent> events;
  std::size_t sink = 0;
  auto run = [&](const std::vector<const GeneratedRecord*>& group, const std::string& name,
                 bool explicit_format) {
    std::size_t bytes = 0;
    for (const auto* r : group) bytes += r->value.size();
    Runs runs;
    for (int rep = 0; rep < reps && !g_stop.load(); ++rep) {
      const double c0 = ThreadCpu();
      const auto t0 = Clock::now();
      for (const auto* r : group) {
        events.clear();
        decoder.Reset();
        auto d = decoder.Decode(r->value, explicit_format ? r->format : InputFormat::kAuto,
                                &events);
        sink += d ? events.size() : 1;
      }
      const double sec = Seconds(Clock::now() - t0);
      const double cpu = ThreadCpu() - c0;
      runs.rate.push_back(static_cast<double>(group.size()) / sec);
      runs.cpu_per_m.push_back(cpu / static_cast<double>(group.size()) * 1e6);
    }
    char note[96];
    std::snprintf(note, sizeof note, "n=%zu mean %.0f B", group.size(),
                  static_cast<double>(bytes) / static_cast<double>(group.size()));
    PrintRuns("ours_decode/" + name, "records/s", runs, note);
  };
  std::printf("\n== stage 1: decode (one reused Decoder, format auto-detected), median of %d\n",
              reps);
  // STREAM_BENCH_GROUPS=a,b: only these rows (e.g. for one format under callgrind).
  const char* only = std::getenv("STREAM_BENCH_GROUPS");
  const std::string wanted = std::string(",") + (only != nullptr ? only : "") + ",";
  auto want = [&](const std::string& name) {
    return only == nullptr || *only == '\0' || wanted.find("," + name + ",") != std::string::npos;
  };
  for (const auto& [name, group] : groups) {
    if (want(name)) run(group, name, false);
  }
  if (want("all")) run(all, "all", false);
  // The same records with the format given (an input configured as TOPIC:FORMAT): the difference
  // to "all" is the cost of auto-detection.
  if (want("all_format_given")) run(all, "all_format_given", true);
  // The product's own format with the format given: the figure G1 of
  // shared/reference/performance-ceilings.md compares with probe_parse[copy].
  if (want("canonical_format_given")) run(groups["canonical"], "canonical_format_given", true);
  std::printf("(sink %zu)\n", sink % 10);
  return g_stop.load() ? 130 : 0;
}

// ---------------------------------------------------------------------------------------------
// Stage 2.

int StagePipeline(std::span<const GeneratedRecord> records, int reps,
                  const std::shared_ptr<const classify::Classifier>& classifier) {
  Pipeline pipeline(classifier);
  std::size_t out_bytes = 0, outputs = 0;
  Runs runs;
  for (int rep = 0; rep < reps && !g_stop.load(); ++rep) {
    outputs = out_bytes = 0;
    const double c0 = ThreadCpu();
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < records.size(); ++i) {
      const GeneratedRecord& r = records[i];
      pipeline.Process(r.value, r.key, kInTopic, static_cast<std::int32_t>(i % kInPartitions),
                       static_cast<std::int64_t>(i / kInPartitions), [&](const Output& o) {
                         ++outputs;
                         out_bytes += o.key.size() + o.value.size();
                       });
    }
    const double sec = Seconds(Clock::now() - t0);
    const double cpu = ThreadCpu() - c0;
    runs.rate.push_back(static_cast<double>(outputs) / sec);
    runs.cpu_per_m.push_back(cpu / static_cast<double>(outputs) * 1e6);
  }
  std::printf("\n== stage 2: decode+classify+encode (the per-record path of `run`, no Kafka), "
              "median of %d\n", reps);
  char note[128];
  std::snprintf(note, sizeof note, "n=%zu outputs, out %.0f B/output", outputs,
                static_cast<double>(out_bytes) / static_cast<double>(std::max<std::size_t>(outputs, 1)));
  PrintRuns("ours_pipeline", "events/s", runs, note);
  return g_stop.load() ? 130 : 0;
}

// Stage 2b: encode alone. The events of the first records (at most 50,000) are decoded and
// classified once, outside the timing; each run then encodes every one of them as stage 2 does
// (EncodeClassifiedRecord with its source object, and the lower-cased key), as many passes as
// make up `records` events.
int StageEncode(std::span<const GeneratedRecord> records, int reps,
                const std::shared_ptr<const classify::Classifier>& classifier) {
  struct Item {
    classify::BounceEvent ev;
    classify::Classification c;
    std::int32_t partition;
    std::int64_t offset;
    std::string_view format;
  };
  const std::size_t m = std::min<std::size_t>(records.size(), 50000);
  Decoder decoder;  // never Reset: the events' views stay valid for the whole stage
  classify::Classifier::Session session(classifier);
  std::vector<classify::BounceEvent> events;
  std::vector<Item> items;
  for (std::size_t i = 0; i < m; ++i) {
    events.clear();
    auto decoded = decoder.Decode(records[i].value, InputFormat::kAuto, &events);
    if (!decoded) continue;
    for (const auto& ev : events) {
      items.push_back(Item{ev, session.Classify(ev), static_cast<std::int32_t>(i % kInPartitions),
                           static_cast<std::int64_t>(i / kInPartitions), ToString(*decoded)});
    }
  }
  if (items.empty()) return 0;
  const std::size_t passes = std::max<std::size_t>(1, (records.size() + items.size() - 1) / items.size());
  std::string value, key;
  std::size_t out_bytes = 0, outputs = 0;
  Runs runs;
  for (int rep = 0; rep < reps && !g_stop.load(); ++rep) {
    outputs = out_bytes = 0;
    const double c0 = ThreadCpu();
    const auto t0 = Clock::now();
    for (std::size_t pass = 0; pass < passes; ++pass) {
      for (const Item& it : items) {
        value.clear();
        EncodeClassifiedRecord(it.ev, it.c, {kInTopic, it.partition, it.offset, it.format}, &value);
        key = ToLowerAscii(it.ev.RecipientDomain());
        out_bytes += key.size() + value.size();
        ++outputs;
      }
    }
    const double sec = Seconds(Clock::now() - t0);
    const double cpu = ThreadCpu() - c0;
    runs.rate.push_back(static_cast<double>(outputs) / sec);
    runs.cpu_per_m.push_back(cpu / static_cast<double>(outputs) * 1e6);
  }
  std::printf("\n== stage 2b: encode (classified record + key of already classified events), "
              "median of %d\n", reps);
  char note[128];
  std::snprintf(note, sizeof note, "n=%zu outputs (%zu events x %zu passes), out %.0f B/output",
                outputs, items.size(), passes,
                static_cast<double>(out_bytes) / static_cast<double>(std::max<std::size_t>(outputs, 1)));
  PrintRuns("ours_encode", "events/s", runs, note);
  return g_stop.load() ? 130 : 0;
}

// STREAM_BENCH_DUMP=FILE: every output of stage 2's code for all records, one line each (dead
// letters with their decode error), to compare two builds byte for byte.
int DumpOutputs(std::span<const GeneratedRecord> records,
                const std::shared_ptr<const classify::Classifier>& classifier, const char* path) {
  std::FILE* f = std::fopen(path, "wb");
  if (f == nullptr) return 1;
  Pipeline pipeline(classifier);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const GeneratedRecord& r = records[i];
    pipeline.Process(r.value, r.key, kInTopic, static_cast<std::int32_t>(i % kInPartitions),
                     static_cast<std::int64_t>(i / kInPartitions), [&](const Output& o) {
                       std::string line = Flatten(o);
                       if (o.dead_letter) {
                         line.append("\t").append(o.reason).append("\t").append(o.detail);
                       }
                       line.push_back('\n');
                       std::fwrite(line.data(), 1, line.size(), f);
                     });
  }
  std::fclose(f);
  std::printf("dump: %zu records' outputs written to %s\n", records.size(), path);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Stage 3.


struct Kafka {
  rd_kafka_t* rk = nullptr;
  bool consumer = false;
  Kafka() = default;
  Kafka(const Kafka&) = delete;
  Kafka& operator=(const Kafka&) = delete;
  ~Kafka() { Close(); }
  void Close() {
    if (rk == nullptr) return;
    if (consumer) rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    rk = nullptr;
  }
};

struct Delivery {
  std::int32_t partition = -1;
  std::int64_t offset = -1;
  bool done = false;
  bool failed = false;
};

bool NewClient(Kafka* k, rd_kafka_type_t type,
               const std::vector<std::pair<std::string, std::string>>& props,
               void (*dr)(rd_kafka_t*, const rd_kafka_message_t*, void*)) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [key, value] : props) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "stream_bench: %s: %s\n", key.c_str(), err);
      rd_kafka_conf_destroy(conf);
      return false;
    }
  }
  if (dr != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, dr);
  k->rk = rd_kafka_new(type, conf, err, sizeof err);
  if (k->rk == nullptr) {
    std::fprintf(stderr, "stream_bench: kafka client: %s\n", err);
    return false;
  }
  k->consumer = type == RD_KAFKA_CONSUMER;
  if (k->consumer) rd_kafka_poll_set_consumer(k->rk);
  return true;
}

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* d = static_cast<Delivery*>(m->_private);
  if (d == nullptr) return;
  d->done = true;
  d->failed = m->err != RD_KAFKA_RESP_ERR_NO_ERROR;
  d->partition = m->partition;
  d->offset = m->offset;
}

std::int32_t PartitionOf(std::string_view key, int partitions) {
  // librdkafka's default partitioner (consistent_random) for a non-empty key.
  return rd_kafka_msg_partitioner_consistent(nullptr, key.data(), key.size(), partitions, nullptr,
                                             nullptr);
}

// The largest prefix of `records` (at most `want`) that keeps every partition of every topic
// under `budget` bytes (payload + key + a per-record allowance for Kafka's record and batch
// framing; the mock drops a partition's oldest data beyond 5 MiB).
std::size_t FitPartitions(const std::vector<GeneratedRecord>& records, std::size_t want,
                          const std::shared_ptr<const classify::Classifier>& classifier,
                          double budget, double* largest) {
  constexpr double kOverhead = 80;      // record + share of batch header, generous
  constexpr double kDlqHeaders = 260;   // six bouncestream.* headers
  std::vector<double> in(kInPartitions), out(kClassifiedPartitions), dlq(kDlqPartitions);
  Pipeline pipeline(classifier);
  std::size_t n = 0;
  *largest = 0;
  for (; n < std::min(want, records.size()); ++n) {
    const GeneratedRecord& r = records[n];
    std::vector<double> in2 = in, out2 = out, dlq2 = dlq;
    in2[static_cast<std::size_t>(PartitionOf(r.key, kInPartitions))] +=
        static_cast<double>(r.key.size() + r.value.size()) + kOverhead;
    pipeline.Process(r.value, r.key, kInTopic, 5, 9999999, [&](const Output& o) {
      const double size = static_cast<double>(o.key.size() + o.value.size()) + kOverhead;
      if (o.dead_letter) {
        dlq2[static_cast<std::size_t>(PartitionOf(o.key, kDlqPartitions))] += size + kDlqHeaders;
      } else if (o.key.empty()) {
        for (double& p : out2) p += size / kClassifiedPartitions;  // random partition
      } else {
        out2[static_cast<std::size_t>(PartitionOf(o.key, kClassifiedPartitions))] += size;
      }
    });
    double top = 0;
    for (const auto* v : {&in2, &out2, &dlq2}) {
      for (double x : *v) top = std::max(top, x);
    }
    if (top > budget) break;
    *largest = top;
    in = std::move(in2);
    out = std::move(out2);
    dlq = std::move(dlq2);
  }
  return n;
}

struct E2eResult {
  double produce_rate = 0, produce_sec = 0;
  double e2e_rate = 0, first_last_rate = 0, steady_rate = 0, first_sec = 0, total_sec = 0;
  double cpu_total_per_m = 0, cpu_first_last_per_m = 0, cpu_steady_per_m = 0;
  std::size_t outputs = 0, extra = 0;
};

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// CPU seconds of the processes involved at one moment (wall clock in ms, as Kafka timestamps).
struct CpuSample {
  std::int64_t ms = 0;
  double processor = 0, broker = 0, own = 0;
};

// Wall-clock time (ms) of the first processor log line whose message is `msg`, -1 if none.
std::int64_t LogTimeMs(const std::string& log, std::string_view msg) {
  const std::string needle = "\"msg\":\"" + std::string(msg) + "\"";
  const std::size_t at = log.find(needle);
  if (at == std::string::npos) return -1;
  const std::size_t line = log.rfind('\n', at);
  const std::size_t ts = log.find("\"ts\":\"", line == std::string::npos ? 0 : line);
  if (ts == std::string::npos || ts > at) return -1;
  std::tm tm{};
  int ms = 0;
  if (std::sscanf(log.c_str() + ts + 6, "%4d-%2d-%2dT%2d:%2d:%2d.%3d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7) {
    return -1;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}


// One end-to-end run in its own broker (the mock cannot drop topics, and outputs of an earlier run
// would count against the 5 MiB partition limit).
bool RunE2eOnce(const std::vector<GeneratedRecord>& records, std::size_t n,
                const std::shared_ptr<const classify::Classifier>& classifier,
                const fs::path& dir, int rep, E2eResult* res) {
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "stream_bench e2e run %d: %s (logs in %s)\n", rep, why.c_str(),
                 dir.string().c_str());
    return false;
  };
  fs::remove_all(dir);
  fs::create_directories(dir);
  Child broker;
  const std::string group = "bench-" + std::to_string(getpid()) + "-" + std::to_string(rep);
  const std::string bs_file = (dir / "bootstrap").string();
  if (!Spawn(&broker,
             {"devbroker", "--port", "0", "--topic", std::string(kInTopic) + ":6", "--topic",
              std::string(kClassifiedTopic) + ":6", "--topic", std::string(kDlqTopic) + ":2",
              "--topic", group + "-state-changelog:6", "--topic", "bouncestream.suppressions:6",
              "--topic", "bouncestream.blocks:2", "--topic", "bouncestream.alerts:2",
              "--bootstrap-file", bs_file},
             (dir / "devbroker.log").string())) {
    return fail("cannot start the dev broker");
  }
  std::string bootstrap;
  if (!WaitForBootstrap(bs_file, &broker, &bootstrap, &g_stop)) return fail("the dev broker did not start");

  // The reader: every partition of both output topics from the beginning, no group join.
  Kafka reader;
  std::vector<std::pair<std::string, std::string>> reader_props{
      {"bootstrap.servers", bootstrap},
      {"group.id", "stream-bench-reader-" + std::to_string(getpid())},
      {"enable.auto.commit", "false"},
      {"enable.partition.eof", "false"},
      {"fetch.wait.max.ms", "10"}};
  if (const char* debug = std::getenv("STREAM_BENCH_READER_DEBUG")) {
    reader_props.emplace_back("debug", debug);  // librdkafka debug contexts, to stderr
  }
  if (!NewClient(&reader, RD_KAFKA_CONSUMER, reader_props, nullptr)) {
    return fail("reader");
  }
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
  for (int p = 0; p < kClassifiedPartitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, kClassifiedTopic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  for (int p = 0; p < kDlqPartitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, kDlqTopic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  }
  const rd_kafka_resp_err_t assigned = rd_kafka_assign(reader.rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (assigned != RD_KAFKA_RESP_ERR_NO_ERROR) return fail("reader assign failed");

  // Produce the input (timed on its own). Large batches (up to batch.size, 1 MB): the mock
  // returns one batch per partition per fetch where a real broker returns up to
  // max.partition.fetch.bytes, so small input batches would make the processor wait on fetch
  // round trips instead of measuring it.
  std::vector<Delivery> delivered(n);
  {
    Kafka producer;
    if (!NewClient(&producer, RD_KAFKA_PRODUCER,
                   {{"bootstrap.servers", bootstrap}, {"linger.ms", "100"}}, OnDelivery)) {
      return fail("producer");
    }
    const auto t0 = Clock::now();
    for (std::size_t i = 0; i < n; ++i) {
      for (;;) {
        const rd_kafka_resp_err_t e = ProduceCopy(producer.rk, kInTopic, records[i].key,
                                                  records[i].value, &delivered[i]);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
          return fail(std::string("produce: ") + rd_kafka_err2name(e));
        }
        rd_kafka_poll(producer.rk, 10);
      }
      rd_kafka_poll(producer.rk, 0);
    }
    if (rd_kafka_flush(producer.rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return fail("producer flush timed out");
    }
    res->produce_sec = Seconds(Clock::now() - t0);
    res->produce_rate = static_cast<double>(n) / res->produce_sec;
  }
  std::size_t want_classified = 0, want_dlq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!delivered[i].done || delivered[i].failed) {
      return fail("input record " + std::to_string(i) + " was not delivered");
    }
    if (records[i].malformed) {
      ++want_dlq;
    } else {
      want_classified += static_cast<std::size_t>(records[i].events);
    }
  }

  // The processor, timed from its start.
  Child processor;
  const auto t0 = Clock::now();
  const std::int64_t t0_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  std::vector<std::string> run_args{"run",     "--bootstrap", bootstrap,
                                    "--group", group,         "--input",
                                    std::string(kInTopic) + ":auto", "--state-dir",
                                    (dir / "state").string(), "--engine", g_engine,
                                    "--metrics-addr", "127.0.0.1:0"};
  // Extra `run` arguments for experiments, e.g. STREAM_BENCH_RUN_ARGS="--engine re2set".
  if (const char* extra = std::getenv("STREAM_BENCH_RUN_ARGS")) {
    std::string_view rest(extra);
    while (!rest.empty()) {
      const std::size_t sp = rest.find(' ');
      if (sp != 0) run_args.emplace_back(rest.substr(0, sp));
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp + 1);
    }
  }
  if (!Spawn(&processor, run_args, (dir / "processor.log").string())) {
    return fail("cannot start the processor");
  }
  std::vector<std::string> got_classified, got_dlq;
  got_classified.reserve(want_classified);
  got_dlq.reserve(want_dlq);
  std::vector<CpuSample> samples;
  auto sample = [&] {
    samples.push_back({WallMs(), ChildCpu(processor.pid), ChildCpu(broker.pid), ProcessCpu()});
  };
  Clock::time_point t_first{}, t_last{};
  std::string consume_error;
  std::int64_t ts_min = INT64_MAX, ts_max = 0;  // CreateTime of the outputs (set by the processor)
  struct OutputMeta {
    std::int64_t ts;
    int source_partition;
  };
  std::vector<OutputMeta> metas;
  metas.reserve(want_classified + want_dlq);
  auto last_progress = Clock::now();
  std::size_t last_have = 0;
  auto take = [&](rd_kafka_message_t* m) {
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && consume_error.empty()) {
        consume_error = std::string(rd_kafka_err2name(m->err)) + ": " + rd_kafka_message_errstr(m);
      }
      return;
    }
    const std::int64_t ts = rd_kafka_message_timestamp(m, nullptr);
    if (ts > 0) {
      ts_min = std::min(ts_min, ts);
      ts_max = std::max(ts_max, ts);
    }
    const std::string_view key(static_cast<const char*>(m->key), m->key_len);
    const std::string_view value(static_cast<const char*>(m->payload), m->len);
    std::string s;
    if (std::string_view(rd_kafka_topic_name(m->rkt)) == kDlqTopic) {
      rd_kafka_headers_t* h = nullptr;
      const void* pv = nullptr;
      const void* ov = nullptr;
      std::size_t ps = 0, os = 0;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_header_get_last(h, "bouncestream.source.partition", &pv, &ps);
        rd_kafka_header_get_last(h, "bouncestream.source.offset", &ov, &os);
      }
      s = "dlq\t";
      if (pv != nullptr) s.append(static_cast<const char*>(pv), ps);
      s += '\t';
      if (ov != nullptr) s.append(static_cast<const char*>(ov), os);
      s += '\t';
      s.append(key).append("\t").append(value);
      got_dlq.push_back(std::move(s));
      metas.push_back({ts, pv != nullptr ? std::atoi(std::string(static_cast<const char*>(pv), ps).c_str()) : -1});
    } else {
      s = "classified\t";
      s.append(key).append("\t").append(value);
      got_classified.push_back(std::move(s));
      const std::string_view tag = "\"source\":{\"topic\":\"in\",\"partition\":";
      const std::size_t at = value.rfind(tag);
      metas.push_back({ts, at == std::string_view::npos
                               ? -1
                               : std::atoi(std::string(value.substr(at + tag.size(), 4)).c_str())});
    }
  };
  const std::size_t want = want_classified + want_dlq;
  auto have = [&] { return got_classified.size() + got_dlq.size(); };
  while (have() < want) {
    if (g_stop.load()) return fail("interrupted");
    for (int burst = 0; burst < 10000; ++burst) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(reader.rk, burst == 0 ? 10 : 0);
      if (m == nullptr) break;
      const std::size_t had = have();
      take(m);
      rd_kafka_message_destroy(m);
      if (had == 0 && have() == 1) t_first = Clock::now();
      if (have() >= want) break;
    }
    sample();
    if (have() >= want) {
      t_last = Clock::now();
      break;
    }
    if (!consume_error.empty()) return fail("reader: " + consume_error);
    if (have() != last_have) {
      last_have = have();
      last_progress = Clock::now();
    }
    const double idle = Seconds(Clock::now() - last_progress);
    if ((have() == 0 && Seconds(Clock::now() - t0) > 60) || (have() > 0 && idle > 30)) {
      return fail("timed out: " + std::to_string(got_classified.size()) + " of " +
                  std::to_string(want_classified) + " classified, " +
                  std::to_string(got_dlq.size()) + " of " + std::to_string(want_dlq) +
                  " dead letters");
    }
    if (!processor.Running()) {
      return fail("the processor exited early with " + std::to_string(processor.exit_code));
    }
    if (!broker.Running()) return fail("the dev broker exited");
  }
  // A short drain: anything more is a duplicate (not expected with one member and no faults).
  const std::size_t before_drain = got_classified.size() + got_dlq.size();
  const auto drain_until = Clock::now() + std::chrono::milliseconds(500);
  while (Clock::now() < drain_until) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(reader.rk, 20);
    if (m == nullptr) continue;
    take(m);
    rd_kafka_message_destroy(m);
  }
  res->extra = got_classified.size() + got_dlq.size() - before_drain;

  const int code = processor.Stop(20000);
  const std::string raw_log = ReadFile(processor.log);
  const std::int64_t started_ms = LogTimeMs(raw_log, "processor started");
  const std::int64_t assigned_ms = LogTimeMs(raw_log, "partitions assigned");
  // The processor runs with auto.offset.reset=error and logs a real reset (a position lost to
  // retention) as "kafka offset reset: ..."; its final "stopped" line counts them.
  if (raw_log.find("\"msg\":\"kafka offset reset") != std::string::npos) {
    return fail("the processor logged an offset reset");
  }
  const auto stopped = raw_log.find("\"msg\":\"stopped\"");
  const auto resets = raw_log.find("\"offset_resets\":", stopped == std::string::npos ? 0 : stopped);
  if (stopped == std::string::npos || resets == std::string::npos) {
    return fail("the processor did not log its final counters");
  }
  if (std::strtol(raw_log.c_str() + resets + 16, nullptr, 10) != 0) {
    return fail("the processor counted offset resets");
  }
  if (code != 0) return fail("the processor exited with " + std::to_string(code));

  // Every output, byte for byte, against stage 2's code for the delivered partition/offset.
  std::unordered_map<std::string, int> expected;
  {
    Pipeline pipeline(classifier);
    for (std::size_t i = 0; i < n; ++i) {
      pipeline.Process(records[i].value, records[i].key, kInTopic, delivered[i].partition,
                       delivered[i].offset, [&](const Output& o) { ++expected[Flatten(o)]; });
    }
  }
  std::size_t unexpected = 0, duplicates = 0;
  for (const auto* list : {&got_classified, &got_dlq}) {
    for (const auto& s : *list) {
      auto it = expected.find(s);
      if (it == expected.end()) {
        if (unexpected++ < 3) {
          std::fprintf(stderr, "unexpected output: %.400s\n", s.c_str());
        }
      } else if (it->second-- <= 0) {
        ++duplicates;
      }
    }
  }
  std::size_t missing = 0;
  for (const auto& [s, left] : expected) {
    if (left > 0) {
      if (missing < 3) std::fprintf(stderr, "missing output: %.400s\n", s.c_str());
      missing += static_cast<std::size_t>(left);
    }
  }
  if (missing > 0 || unexpected > 0) {
    return fail(std::to_string(missing) + " outputs missing, " + std::to_string(unexpected) +
                " outputs differ from the reference");
  }
  if (duplicates != res->extra) {
    std::fprintf(stderr, "stream_bench e2e run %d: %zu duplicate outputs\n", rep, duplicates);
  }
  reader.Close();  // before the broker goes, or it logs the disconnects
  broker.Stop(5000);

  // Windows on the outputs' CreateTime (stamped by the processor's producer, ms), so the
  // reader's fetch latency does not count; the processor's CPU from the samples around them.
  //  first->last: the first output to the last.
  //  steady: from the moment every input partition has produced an output to the last (librdkafka
  //  starts the partitions' fetchers up to ~0.5 s apart after the assignment).
  std::map<int, std::int64_t> first_of_partition;
  for (const auto& x : metas) {
    auto [it, added] = first_of_partition.emplace(x.source_partition, x.ts);
    if (!added) it->second = std::min(it->second, x.ts);
  }
  std::int64_t all_flowing = ts_min;
  for (const auto& [p, ts] : first_of_partition) all_flowing = std::max(all_flowing, ts);
  std::size_t steady_n = 0;
  for (const auto& x : metas) steady_n += x.ts >= all_flowing ? 1 : 0;
  auto cpu_between = [&](std::int64_t from, std::int64_t to, double* span) {
    const CpuSample* w0 = &samples.front();
    const CpuSample* w1 = &samples.back();
    for (const auto& x : samples) {
      if (x.ms <= from) w0 = &x;
    }
    for (auto it = samples.rbegin(); it != samples.rend(); ++it) {
      if (it->ms >= to) w1 = &*it;
    }
    *span = static_cast<double>(w1->ms - w0->ms) / 1e3;
    return w1->processor - w0->processor;
  };
  double span_first_last = 0, span_steady = 0;
  const double cpu_first_last = cpu_between(ts_min, ts_max, &span_first_last);
  const double cpu_steady = cpu_between(all_flowing, ts_max, &span_steady);
  const double window = static_cast<double>(ts_max - ts_min) / 1e3;
  const double steady_window = static_cast<double>(ts_max - all_flowing) / 1e3;
  res->outputs = want;
  res->total_sec = Seconds(t_last - t0);
  res->first_sec = static_cast<double>(ts_min - t0_ms) / 1e3;
  res->e2e_rate = static_cast<double>(want) / res->total_sec;
  res->first_last_rate = window > 0 ? static_cast<double>(want - 1) / window : 0;
  res->steady_rate =
      steady_window > 0 && steady_n > 1 ? static_cast<double>(steady_n - 1) / steady_window : 0;
  res->cpu_total_per_m = samples.back().processor / static_cast<double>(want) * 1e6;
  res->cpu_first_last_per_m = cpu_first_last / static_cast<double>(want) * 1e6;
  res->cpu_steady_per_m =
      steady_n > 0 ? cpu_steady / static_cast<double>(steady_n) * 1e6 : 0;
  auto since_start = [&](std::int64_t ms) {
    return ms < 0 ? -1.0 : static_cast<double>(ms - t0_ms) / 1e3;
  };
  std::printf("e2e run %d: produce %.3f s; after the processor's start: rules loaded and clients "
              "up %.2f s, partitions assigned %.2f s, outputs produced from %.2f s (all input "
              "partitions flowing %.2f s) to %.2f s, reader saw the first %.2f s, the last "
              "%.2f s; processor CPU %.2f s in all, %.2f s over %.3f s around first->last, "
              "%.2f s over %.3f s around steady (%zu outputs); %zu duplicates\n",
              rep, res->produce_sec, since_start(started_ms), since_start(assigned_ms),
              res->first_sec, since_start(all_flowing), since_start(ts_max), Seconds(t_first - t0),
              res->total_sec, samples.back().processor, cpu_first_last, span_first_last,
              cpu_steady, span_steady, steady_n, res->extra);
  std::fflush(stdout);
  const char* keep = std::getenv("STREAM_BENCH_KEEP");
  if (keep == nullptr || *keep == '\0' || *keep == '0') fs::remove_all(dir);
  return true;
}

int StageE2e(const std::vector<GeneratedRecord>& records, std::size_t want, int reps,
             const std::shared_ptr<const classify::Classifier>& classifier) {
  double largest = 0;
  constexpr double kBudget = 4.5 * 1024 * 1024;
  const std::size_t n = FitPartitions(records, want, classifier, kBudget, &largest);
  std::size_t events = 0, malformed = 0, bytes = 0;
  for (std::size_t i = 0; i < n; ++i) {
    events += static_cast<std::size_t>(records[i].events);
    malformed += records[i].malformed ? 1 : 0;
    bytes += records[i].value.size();
  }
  std::printf("\n== stage 3: end to end through the dev broker (one `bouncestream run`), "
              "median of %d runs (fewer than stages 1-2: each takes seconds)\n", reps);
  std::printf("%zu records%s (%zu events, %zu malformed, mean %.0f B); largest partition "
              "%.2f MiB incl. framing (the mock keeps 5 MiB per partition)\n",
              n, n < want ? " (capped to fit the partitions)" : "", events, malformed,
              static_cast<double>(bytes) / static_cast<double>(std::max<std::size_t>(n, 1)),
              largest / (1024 * 1024));
  const char* base_env = std::getenv("STREAM_BENCH_DIR");
  const fs::path base = base_env != nullptr && *base_env != '\0'
                            ? fs::path(base_env)
                            : fs::temp_directory_path() /
                                  ("stream_bench-" + std::to_string(getpid()));
  Runs produce, e2e, first_last, steady;
  std::vector<double> first;
  for (int rep = 0; rep < reps; ++rep) {
    E2eResult r;
    if (!RunE2eOnce(records, n, classifier, base / ("run" + std::to_string(rep)), rep, &r)) {
      return 1;
    }
    produce.rate.push_back(r.produce_rate);
    e2e.rate.push_back(r.e2e_rate);
    e2e.cpu_per_m.push_back(r.cpu_total_per_m);
    first_last.rate.push_back(r.first_last_rate);
    first_last.cpu_per_m.push_back(r.cpu_first_last_per_m);
    steady.rate.push_back(r.steady_rate);
    steady.cpu_per_m.push_back(r.cpu_steady_per_m);
    first.push_back(r.first_sec);
  }
  std::error_code ec;
  fs::remove(base, ec);
  PrintRuns("ours_produce", "records/s", produce, "(input, before the processor starts; cpu not measured)");
  char note[160];
  std::snprintf(note, sizeof note, "start of `run` -> last output, includes the group join "
                "(first output after %.2f s median); cpu = processor, whole run", Median(first));
  PrintRuns("ours_e2e", "events/s", e2e, note);
  PrintRuns("ours_e2e_first_last", "events/s", first_last,
            "first -> last output as produced (CreateTime); cpu = processor around that window");
  PrintRuns("ours_e2e_steady", "events/s", steady,
            "every input partition flowing -> last output (CreateTime); cpu = processor there");
  return 0;
}

// ---------------------------------------------------------------------------------------------

bool Counts(const std::vector<GeneratedRecord>& records,
            const std::shared_ptr<const classify::Classifier>& classifier) {
  std::size_t gen_events = 0, gen_malformed = 0, events = 0, dead = 0, wrong = 0, format = 0;
  Decoder decoder;
  std::vector<classify::BounceEvent> evs;
  Pipeline pipeline(classifier);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const GeneratedRecord& r = records[i];
    gen_events += static_cast<std::size_t>(r.events);
    gen_malformed += r.malformed ? 1 : 0;
    std::size_t e = 0, d = 0;
    pipeline.Process(r.value, r.key, kInTopic, 0, static_cast<std::int64_t>(i),
                     [&](const Output& o) { (o.dead_letter ? d : e) += 1; });
    events += e;
    dead += d;
    if (e != static_cast<std::size_t>(r.events) || d != (r.malformed ? 1u : 0u)) {
      if (wrong++ < 3) {
        std::fprintf(stderr, "record %zu: %zu events + %zu dead letters, generator says %d%s: %.200s\n",
                     i, e, d, r.events, r.malformed ? " (malformed)" : "", r.value.c_str());
      }
    }
    evs.clear();
    decoder.Reset();
    auto f = decoder.Decode(r.value, InputFormat::kAuto, &evs);
    if (f && *f != r.format && format++ < 3) {
      std::fprintf(stderr, "record %zu: detected %s, generated as %s\n", i,
                   std::string(ToString(*f)).c_str(), std::string(ToString(r.format)).c_str());
    }
  }
  std::printf("counts: %zu events (generator %zu), %zu dead letters (generator %zu malformed), "
              "%zu records disagree, %zu formats detected differently\n",
              events, gen_events, dead, gen_malformed, wrong, format);
  return wrong == 0 && events == gen_events && dead == gen_malformed && format == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 200000;
  const int reps = argc > 2 ? std::stoi(argv[2]) : 5;
  const std::size_t e2e_n = argc > 3 ? std::stoul(argv[3]) : 40000;
  const int e2e_reps = argc > 4 ? std::stoi(argv[4]) : 3;
  const std::string stages = std::string(",") + (argc > 5 ? argv[5] : "decode,pipeline,encode,e2e") + ",";
  auto stage = [&](const char* s) { return stages.find("," + std::string(s) + ",") != std::string::npos; };

  cli::InstallStopHandlers();

  const auto g0 = Clock::now();
  std::vector<GeneratedRecord> records;
  records.reserve(std::max(n, e2e_n));
  TrafficGenerator generator;
  std::size_t bytes = 0, events = 0, malformed = 0, duplicates = 0;
  for (std::size_t i = 0; i < std::max(n, e2e_n); ++i) {
    records.push_back(generator.Next());
    bytes += records.back().value.size();
    events += static_cast<std::size_t>(records.back().events);
    malformed += records.back().malformed ? 1 : 0;
    duplicates += records.back().duplicate ? 1 : 0;
  }
  std::printf("stream_bench: %zu TrafficGenerator records (seed 42), mean %.0f B, %zu events, "
              "%zu malformed, %zu duplicates; generated in %.2f s\n",
              records.size(), static_cast<double>(bytes) / static_cast<double>(records.size()),
              events, malformed, duplicates, Seconds(Clock::now() - g0));

  auto rules = classify::RuleSet::Load(classify::DefaultRulesPath());
  if (!rules) {
    std::fprintf(stderr, "rules: %s\n", rules.error()[0].ToString().c_str());
    return 1;
  }
  // The engine `bouncestream run` uses by default (or BOUNCESTREAM_BENCH_ENGINE), here and in
  // the e2e processor.
  std::string engine_name = bouncestream::stream::Config{}.engine;
  if (const char* e = std::getenv("BOUNCESTREAM_BENCH_ENGINE"); e != nullptr && *e != '\0') {
    engine_name = e;
  }
  const auto engine = classify::ParseEngine(engine_name);
  if (!engine) {
    std::fprintf(stderr, "unknown engine %s\n", engine_name.c_str());
    return 1;
  }
  g_engine = std::string(ToString(*engine));
  auto classifier = classify::Classifier::Create(*rules, {.engine = *engine});
  if (!classifier) {
    std::fprintf(stderr, "classifier: %s\n", classifier.error()[0].ToString().c_str());
    return 1;
  }
  // The reference pass gets its own rule set and classifier.
  auto rules2 = classify::RuleSet::Load(classify::DefaultRulesPath());
  if (!rules2) return 1;
  auto classifier2 = classify::Classifier::Create(*rules2, {.engine = *engine});
  if (!classifier2) return 1;
  std::printf("rules: %s, %zu rules, engine %s\n", classify::DefaultRulesPath().string().c_str(),
              (*rules)->rules().size(), std::string(ToString((*classifier)->options().engine)).c_str());

  // Reference check before timing.
  {
    const std::size_t m = std::min<std::size_t>(1000, records.size());
    std::vector<std::string> ours;
    Pipeline pipeline(*classifier);
    for (std::size_t i = 0; i < m; ++i) {
      pipeline.Process(records[i].value, records[i].key, kInTopic,
                       static_cast<std::int32_t>(i % kInPartitions),
                       static_cast<std::int64_t>(i / kInPartitions),
                       [&](const Output& o) { ours.push_back(Flatten(o)); });
    }
    const std::vector<std::string> ref = ReferencePass(records, m, *classifier2);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < std::max(ours.size(), ref.size()); ++i) {
      const std::string a = i < ours.size() ? ours[i] : "(none)";
      const std::string b = i < ref.size() ? ref[i] : "(none)";
      if (a != b && differ++ < 3) {
        std::fprintf(stderr, "reference mismatch at output %zu:\n  ours: %.500s\n  ref:  %.500s\n",
                     i, a.c_str(), b.c_str());
      }
    }
    const bool counts_ok = Counts(records, *classifier);
    if (differ > 0 || ours.size() != ref.size() || !counts_ok) {
      std::fprintf(stderr, "stream_bench: reference check failed (%zu of %zu outputs differ), "
                           "not timing\n", differ, ours.size());
      return 1;
    }
    std::printf("reference check: ok (%zu outputs of the first %zu records identical to an "
                "independent pass; event and dead-letter counts match the generator)\n",
                ours.size(), m);
  }

  const std::span<const GeneratedRecord> timed(records.data(), n);
  int rc = 0;
  if (rc == 0 && stage("decode")) rc = StageDecode(timed, reps);
  if (const char* dump = std::getenv("STREAM_BENCH_DUMP"); dump != nullptr && *dump != '\0') {
    rc = DumpOutputs(timed, *classifier, dump);
  }
  if (rc == 0 && stage("pipeline")) rc = StagePipeline(timed, reps, *classifier);
  if (rc == 0 && stage("encode")) rc = StageEncode(timed, reps, *classifier);
  if (rc == 0 && stage("e2e")) rc = StageE2e(records, e2e_n, e2e_reps, *classifier);
  return rc;
}
