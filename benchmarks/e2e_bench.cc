// e2e_bench: end to end through the dev broker with state and decisions: consume -> decode ->
// classify -> produce classified -> consume classified -> state (RocksDB) -> produce decisions
// and changelog -> commit, by 1 or more `bouncestream run` instances in one group.
//
//   e2e_bench [records=100000] [reps=3] [instances=1] [scale=1] [window=15000]
//
// Per run: a fresh `bouncestream devbroker` child (bounces.in:6, bouncestream.classified:6, the
// changelog :6, decision topics), `instances` processors (own state dirs, `run`'s defaults), and
// once every instance holds its share of the group's partitions, this process produces the input
// (MakeRecords: TrafficGenerator's stream, `scale` x the distinct recipients), keyed by recipient
// domain with the murmur2 partitioner, so that each classified partition is fed by one input
// partition in input order. The mock broker keeps 5 MiB per partition, so the input is produced
// in chunks: at most `window` events may be produced and not yet read and classified (the
// classified topic's high watermarks: what the input stage has turned into classified records),
// and at most 4 x `window` not yet committed by the state stage (a processor with a backlog
// checkpoints every second or 10,000 records per partition, so its committed offsets trail what
// it has read by up to a second; bounding the commits by `window` alone would measure that
// cadence instead of the processor). Unread records never pass the mock's retention; if one did,
// the run fails on the offset reset.
// Timed from the first input record produced until the group's committed offsets cover every
// input record and every classified record (the state stage stores its offsets only after the
// batch's decisions and changelog records are acknowledged and its RocksDB WriteBatch is written;
// offsets are committed every 200 ms, so that is the resolution).
// CPU: the processors' user+sys from /proc during the timed window (10 ms ticks), per million
// events; RSS: the largest VmRSS of a processor seen during the run (sampled every 50 ms).
//
// Check (before a result counts; exit 1 otherwise): every processor exits 0 on SIGTERM, no
// offset reset and no truncated changelog in their logs, and the state dirs (opened read-only
// after the run; per partition the dir with the highest next offset) hold exactly the partition
// hashes (all windows and active decisions) and next offsets of path_common.h's in-process pass
// over the same records (the reference; computed before the runs; it reads the classified
// records' JSON, the processors read their observation headers). When the hashes differ, every
// partition of the input and classified topics that the broker still holds (its last 5 MiB) is
// written to the run's dir (input-P.txt, classified-P.txt: offset, headers, value), next to what
// was produced (expected-input-P.txt), before the broker stops.
//
// Output: "ours_e2e_i<instances>_x<scale> median <events/s> events/s cpu_s_per_M <c> ... runs: ..."
// E2E_BENCH_SOAK_SECONDS=600: instead, the memory run (Soak below; `window` applies).
// Environment: E2E_BENCH_DIR (work dir, default $TMPDIR/e2e_bench-PID), E2E_BENCH_KEEP=1 (keep
// logs, state dirs and the reference's state dir), E2E_BENCH_RUN_ARGS (extra `run` arguments).
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "benchmarks/path_common.h"
#include "benchmarks/bench_child.h"

namespace fs = std::filesystem;
using namespace bouncestream;
using bench::Child;
using bench::GeneratedRecord;
using bench::ReadFile;
using bench::Spawn;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kClassified = "bouncestream.classified";

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


// user+sys CPU seconds of another process, -1 if it is gone.
double ChildCpu(pid_t pid) {
  std::string s = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const std::size_t rp = s.rfind(')');
  if (rp == std::string::npos) return -1;
  std::istringstream in(s.substr(rp + 2));
  std::string f;
  unsigned long long ticks = 0;
  for (int field = 3; field <= 15 && in >> f; ++field) {
    if (field >= 14) ticks += std::strtoull(f.c_str(), nullptr, 10);
  }
  return static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long ChildRssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}


// A dev broker with the input, classified, changelog and output topics of one run (a fresh
// broker per run: the mock cannot drop topics, and earlier outputs would count against its
// 5 MiB per partition).
bool StartBroker(const fs::path& dir, const std::string& group, Child* broker,
                 std::string* bootstrap) {
  const std::string bs_file = (dir / "bootstrap").string();
  const std::string np = ":" + std::to_string(bench::kPartitions);
  return Spawn(broker,
               {"devbroker", "--port", "0", "--topic", std::string(bench::kInputTopic) + np,
                "--topic", std::string(kClassified) + np, "--topic",
                group + "-state-changelog" + np, "--topic", "bouncestream.dlq:2", "--topic",
                "bouncestream.suppressions:6", "--topic", "bouncestream.blocks:2", "--topic",
                "bouncestream.alerts:2", "--topic", "bouncestream.audit:1", "--topic",
                "bouncestream.admin:1", "--bootstrap-file", bs_file},
               (dir / "devbroker.log").string()) &&
         bench::WaitForBootstrap(bs_file, broker, bootstrap);
}

// `bouncestream run` for one instance of the group, plus E2E_BENCH_RUN_ARGS (e.g. --config with
// other [state] settings).
std::vector<std::string> RunArgs(const std::string& bootstrap, const std::string& group,
                                 const fs::path& state_dir) {
  std::vector<std::string> args{"run", "--bootstrap", bootstrap, "--group", group, "--input",
                                std::string(bench::kInputTopic) + ":auto", "--state-dir",
                                state_dir.string(), "--metrics-addr", "127.0.0.1:0"};
  if (const char* extra = std::getenv("E2E_BENCH_RUN_ARGS")) {
    std::istringstream in(extra);
    for (std::string a; in >> a;) args.push_back(a);
  }
  return args;
}

rd_kafka_t* NewClient(rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& props) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      std::fprintf(stderr, "e2e_bench: %s: %s\n", k.c_str(), err);
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) std::fprintf(stderr, "e2e_bench: client: %s\n", err);
  return rk;
}

// The `count` of the last "partitions assigned" line in a processor log (-1: none yet).
int LastAssigned(const std::string& log) {
  const std::string s = ReadFile(log);
  const std::size_t p = s.rfind("\"msg\":\"partitions assigned\"");
  if (p == std::string::npos) return -1;
  const std::size_t c = s.find("\"count\":", p);
  if (c == std::string::npos) return -1;
  return std::atoi(s.c_str() + c + 8);
}

// After a failed check: every record of `topic` partition `partition` (offset, headers, value, one
// line each) into `file`, so a run that went wrong can be compared with the input it was fed.
void DumpPartition(const std::string& bootstrap, const char* topic, int partition,
                   const fs::path& file) {
  rd_kafka_t* c = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                {"group.id", "e2e-dump"},
                                                {"enable.auto.commit", "false"}});
  if (c == nullptr) return;
  std::int64_t low = 0, high = 0;
  rd_kafka_query_watermark_offsets(c, topic, partition, &low, &high, 5000);
  rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(l, topic, partition)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(c, l);
  rd_kafka_topic_partition_list_destroy(l);
  std::ofstream out(file);
  std::int64_t next = low;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (next < high && Clock::now() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 200);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      out << m->offset << '\t';
      rd_kafka_headers_t* h = nullptr;
      if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name = nullptr;
        const void* v = nullptr;
        std::size_t n = 0;
        for (std::size_t i = 0;
             rd_kafka_header_get_all(h, i, &name, &v, &n) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
          out << name << '=' << std::string_view(static_cast<const char*>(v), v ? n : 0) << ' ';
        }
      }
      out << '\t' << std::string_view(static_cast<const char*>(m->payload), m->len) << '\n';
      next = m->offset + 1;
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(c);
  rd_kafka_destroy(c);
}

struct Reference {
  std::string hashes;
  std::vector<std::int64_t> input_count, classified_count;  // per partition
  std::int64_t events = 0;
};

struct RunResult {
  double seconds = 0, cpu = 0, broker_cpu = 0;
  long max_rss_kb = 0;
};

bool RunOnce(const std::vector<GeneratedRecord>& records, const std::vector<bench::Placed>& placed,
             const Reference& ref, int instances, std::size_t window, const fs::path& dir, int rep,
             RunResult* res) {
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "e2e_bench run %d: %s (logs in %s)\n", rep, why.c_str(), dir.string().c_str());
    return false;
  };
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string group = "e2e" + std::to_string(rep);
  Child broker;
  std::string bootstrap;
  if (!StartBroker(dir, group, &broker, &bootstrap)) return fail("the dev broker did not start");

  std::vector<std::unique_ptr<Child>> procs;
  for (int i = 0; i < instances; ++i) {
    const std::vector<std::string> args =
        RunArgs(bootstrap, group, dir / ("state" + std::to_string(i)));
    procs.push_back(std::make_unique<Child>());
    if (!Spawn(procs.back().get(), args, (dir / ("processor" + std::to_string(i) + ".log")).string())) {
      return fail("cannot start a processor");
    }
  }
  // Every instance holds its share: the last assignments add up to the group's partitions.
  {
    const int total = 2 * bench::kPartitions;  // input + classified
    auto stable_since = Clock::time_point{};
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      int sum = 0;
      bool all = true;
      for (auto& p : procs) {
        if (!p->Running()) return fail("a processor exited before the run");
        const int c = LastAssigned(p->log);
        all &= c > 0;
        sum += std::max(c, 0);
      }
      if (all && sum == total) {
        if (stable_since == Clock::time_point{}) stable_since = Clock::now();
        if (Clock::now() - stable_since > std::chrono::milliseconds(instances > 1 ? 1500 : 200)) break;
      } else {
        stable_since = {};
      }
      if (Clock::now() > deadline) return fail("the group did not settle");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  rd_kafka_t* producer = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap},
                                                       {"partitioner", "murmur2"},
                                                       {"linger.ms", "50"},
                                                       {"batch.size", "1000000"}});
  rd_kafka_t* watcher = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                      {"group.id", group},
                                                      {"enable.auto.commit", "false"}});
  if (producer == nullptr || watcher == nullptr) return fail("kafka clients");
  struct Destroy {
    rd_kafka_t *p, *w;
    ~Destroy() {
      rd_kafka_flush(p, 5000);
      rd_kafka_destroy(p);
      rd_kafka_destroy(w);
    }
  } destroy{producer, watcher};

  // What the input stage has produced to the classified topic (its high watermarks, summed).
  std::int64_t read_classified = 0;
  auto poll_read = [&] {
    std::int64_t sum = 0;
    for (int p = 0; p < bench::kPartitions; ++p) {
      std::int64_t low = 0, high = 0;
      if (rd_kafka_query_watermark_offsets(watcher, kClassified, p, &low, &high, 5000) !=
          RD_KAFKA_RESP_ERR_NO_ERROR) {
        return;
      }
      sum += high;
    }
    read_classified = sum;
  };
  // Committed offsets of the group: input and classified, summed; also whether all are done.
  std::int64_t committed_input = 0, committed_classified = 0;
  auto poll_committed = [&]() -> bool {
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(2 * bench::kPartitions);
    for (int p = 0; p < bench::kPartitions; ++p) {
      rd_kafka_topic_partition_list_add(l, bench::kInputTopic, p);
      rd_kafka_topic_partition_list_add(l, kClassified, p);
    }
    const rd_kafka_resp_err_t e = rd_kafka_committed(watcher, l, 5000);
    bool done = e == RD_KAFKA_RESP_ERR_NO_ERROR;
    std::int64_t ci = 0, cc = 0;
    for (int i = 0; i < l->cnt; ++i) {
      const auto& tp = l->elems[i];
      const std::int64_t off = tp.offset < 0 ? 0 : tp.offset;
      const bool input = std::strcmp(tp.topic, bench::kInputTopic) == 0;
      (input ? ci : cc) += off;
      const auto& want = input ? ref.input_count : ref.classified_count;
      done &= off == want[static_cast<std::size_t>(tp.partition)];
    }
    rd_kafka_topic_partition_list_destroy(l);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
      committed_input = ci;
      committed_classified = cc;
    }
    return done;
  };

  std::vector<double> cpu0(procs.size());
  for (std::size_t i = 0; i < procs.size(); ++i) cpu0[i] = ChildCpu(procs[i]->pid);
  const double broker0 = ChildCpu(broker.pid);
  auto sample_rss = [&] {
    for (auto& p : procs) res->max_rss_kb = std::max(res->max_rss_kb, ChildRssKb(p->pid));
  };
  const auto t0 = Clock::now();
  std::size_t next = 0;
  std::int64_t produced_events = 0;
  auto last_poll = Clock::now() - std::chrono::seconds(1);
  bool done = false;
  while (!done) {
    // Produce while the backlog allows it.
    while (next < records.size() &&
           produced_events - read_classified < static_cast<std::int64_t>(window) &&
           produced_events - committed_classified < 4 * static_cast<std::int64_t>(window)) {
      const GeneratedRecord& r = records[next];
      rd_kafka_vu_t vu[4];
      vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vu[0].u.cstr = bench::kInputTopic;
      vu[1].vtype = RD_KAFKA_VTYPE_KEY;
      vu[1].u.mem = {const_cast<char*>(r.key.data()), r.key.size()};
      vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
      vu[2].u.mem = {const_cast<char*>(r.value.data()), r.value.size()};
      vu[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vu[3].u.i = RD_KAFKA_MSG_F_COPY;
      rd_kafka_error_t* err = rd_kafka_produceva(producer, vu, 4);
      const rd_kafka_resp_err_t e = err == nullptr ? RD_KAFKA_RESP_ERR_NO_ERROR : rd_kafka_error_code(err);
      if (err != nullptr) rd_kafka_error_destroy(err);
      if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        rd_kafka_poll(producer, 10);
        continue;
      }
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) return fail(std::string("produce: ") + rd_kafka_err2name(e));
      produced_events += r.events;
      ++next;
      if (next % 1000 == 0) rd_kafka_poll(producer, 0);
    }
    rd_kafka_poll(producer, 0);
    if (Clock::now() - last_poll >= std::chrono::milliseconds(50)) {
      last_poll = Clock::now();
      poll_read();
      done = poll_committed() && next == records.size();
      sample_rss();
      for (auto& p : procs) {
        if (!p->Running()) return fail("a processor exited during the run");
      }
      if (Clock::now() - t0 > std::chrono::seconds(600)) return fail("not done after 600 s");
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  res->seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (std::size_t i = 0; i < procs.size(); ++i) res->cpu += ChildCpu(procs[i]->pid) - cpu0[i];
  res->broker_cpu = ChildCpu(broker.pid) - broker0;
  (void)placed;

  // The check.
  for (auto& p : procs) {
    const int code = p->Stop(30000);
    if (code != 0) return fail("a processor exited with " + std::to_string(code));
    const std::string log = ReadFile(p->log);
    if (log.find("\"msg\":\"kafka offset reset") != std::string::npos) return fail("offset reset in " + p->log);
    if (log.find("changelog truncated") != std::string::npos) return fail("changelog truncated in " + p->log);
  }
  std::map<std::int32_t, state::PartitionSummary> best;
  state::SystemClock clock;
  for (int i = 0; i < instances; ++i) {
    state::EngineOptions o;
    o.dir = (dir / ("state" + std::to_string(i))).string();
    o.read_only = true;
    o.clock = &clock;
    o.policy = stream::Config{}.policy;
    auto e = state::Engine::Open(o);
    if (!e) return fail("open state dir " + o.dir + ": " + e.error());
    for (const auto& s : (*e)->Summaries()) {
      if (s.next_offset < 0) continue;
      auto it = best.find(s.partition);
      if (it == best.end() || s.next_offset > it->second.next_offset) best[s.partition] = s;
    }
  }
  std::vector<state::PartitionSummary> merged;
  for (const auto& [p, s] : best) {
    merged.push_back(s);
    if (s.next_offset != ref.classified_count[static_cast<std::size_t>(p)]) {
      return fail("partition " + std::to_string(p) + ": state next offset " +
                  std::to_string(s.next_offset) + ", expected " +
                  std::to_string(ref.classified_count[static_cast<std::size_t>(p)]));
    }
  }
  const std::string got = bench::HashList(merged);
  if (got != ref.hashes) {
    for (int p = 0; p < bench::kPartitions; ++p) {
      DumpPartition(bootstrap, bench::kInputTopic, p,
                    dir / ("input-" + std::to_string(p) + ".txt"));
      DumpPartition(bootstrap, kClassified, p, dir / ("classified-" + std::to_string(p) + ".txt"));
      std::ofstream expected(dir / ("expected-input-" + std::to_string(p) + ".txt"));
      for (std::size_t i = 0; i < records.size(); ++i) {
        if (placed[i].partition == p) {
          expected << placed[i].offset << "\t\t" << records[i].value << '\n';
        }
      }
    }
    return fail("state hashes differ from the in-process reference\n  broker run: " + got +
                "\n  reference:  " + ref.hashes);
  }
  if (std::getenv("E2E_BENCH_KEEP") == nullptr) fs::remove_all(dir);
  return true;
}


std::int64_t DirBytes(const fs::path& d) {
  std::int64_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(d, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_regular_file(ec)) n += static_cast<std::int64_t>(it->file_size(ec));
  }
  return n;
}

// The memory run: one processor fed TrafficGenerator's endless stream (no duplicates of earlier
// laps: the generator never repeats an id; event time advances 10 ms per record) for `seconds`,
// as fast as it takes them (the same backlog window as the timed runs). Every 10 s: the
// processor's RSS, records done, the state dir's size; E2E_BENCH_RUN_ARGS applies (e.g. a
// --config file with other [state] memory bounds). No reference check (the stream is not
// kept); the processor must still exit 0 without an offset reset.
int Soak(int seconds, std::size_t window, const fs::path& dir) {
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string group = "soak";
  Child broker;
  std::string bootstrap;
  if (!StartBroker(dir, group, &broker, &bootstrap)) return 1;
  Child proc;
  const std::vector<std::string> args = RunArgs(bootstrap, group, dir / "state");
  if (!Spawn(&proc, args, (dir / "processor.log").string())) return 1;
  while (LastAssigned(proc.log) != 2 * bench::kPartitions) {
    if (!proc.Running()) return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  rd_kafka_t* producer = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap},
                                                       {"partitioner", "murmur2"},
                                                       {"linger.ms", "50"},
                                                       {"batch.size", "1000000"}});
  rd_kafka_t* watcher = NewClient(RD_KAFKA_CONSUMER, {{"bootstrap.servers", bootstrap},
                                                      {"group.id", group},
                                                      {"enable.auto.commit", "false"}});
  if (producer == nullptr || watcher == nullptr) return 1;
  stream::TrafficGenerator gen;
  std::int64_t produced = 0, produced_events = 0, done_classified = 0, done_input = 0;
  const auto t0 = Clock::now();
  auto next_sample = t0;
  auto last_poll = t0 - std::chrono::seconds(1);
  long rss_min = -1, rss_max = 0;
  while (Clock::now() - t0 < std::chrono::seconds(seconds)) {
    while (produced_events - done_classified < static_cast<std::int64_t>(window)) {
      GeneratedRecord r = gen.Next();
      rd_kafka_vu_t vu[4];
      vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
      vu[0].u.cstr = bench::kInputTopic;
      vu[1].vtype = RD_KAFKA_VTYPE_KEY;
      vu[1].u.mem = {r.key.data(), r.key.size()};
      vu[2].vtype = RD_KAFKA_VTYPE_VALUE;
      vu[2].u.mem = {r.value.data(), r.value.size()};
      vu[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vu[3].u.i = RD_KAFKA_MSG_F_COPY;
      for (;;) {
        rd_kafka_error_t* err = rd_kafka_produceva(producer, vu, 4);
        if (err == nullptr) break;
        const bool full = rd_kafka_error_code(err) == RD_KAFKA_RESP_ERR__QUEUE_FULL;
        rd_kafka_error_destroy(err);
        if (!full) return 1;
        rd_kafka_poll(producer, 10);
      }
      ++produced;
      produced_events += r.events;
    }
    rd_kafka_poll(producer, 0);
    if (Clock::now() - last_poll >= std::chrono::milliseconds(100)) {
      last_poll = Clock::now();
      rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(2 * bench::kPartitions);
      for (int p = 0; p < bench::kPartitions; ++p) {
        rd_kafka_topic_partition_list_add(l, bench::kInputTopic, p);
        rd_kafka_topic_partition_list_add(l, kClassified, p);
      }
      if (rd_kafka_committed(watcher, l, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        std::int64_t ci = 0, cc = 0;
        for (int i = 0; i < l->cnt; ++i) {
          const std::int64_t off = l->elems[i].offset < 0 ? 0 : l->elems[i].offset;
          (std::strcmp(l->elems[i].topic, bench::kInputTopic) == 0 ? ci : cc) += off;
        }
        done_input = ci;
        done_classified = cc;
      }
      rd_kafka_topic_partition_list_destroy(l);
      if (!proc.Running()) {
        std::fprintf(stderr, "soak: the processor exited\n");
        return 1;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (Clock::now() >= next_sample) {
      const long rss = ChildRssKb(proc.pid);
      rss_max = std::max(rss_max, rss);
      if (Clock::now() - t0 > std::chrono::seconds(60)) rss_min = rss_min < 0 ? rss : std::min(rss_min, rss);
      std::printf("soak t=%4.0fs input_done %lld state_done %lld rss_kb %ld state_dir_bytes %lld\n",
                  std::chrono::duration<double>(Clock::now() - t0).count(), static_cast<long long>(done_input),
                  static_cast<long long>(done_classified), rss, static_cast<long long>(DirBytes(dir / "state")));
      std::fflush(stdout);
      next_sample += std::chrono::seconds(10);
    }
  }
  rd_kafka_flush(producer, 5000);
  rd_kafka_destroy(producer);
  rd_kafka_destroy(watcher);
  const int code = proc.Stop(30000);
  const std::string log = ReadFile(proc.log);
  const bool reset = log.find("\"msg\":\"kafka offset reset") != std::string::npos;
  std::printf("soak done: %d s, %lld records produced, %lld events through the state stage (%.0f/s), "
              "processor exit %d, offset reset %s, RSS max %ld kB, min after the first minute %ld kB\n",
              seconds, static_cast<long long>(produced), static_cast<long long>(done_classified),
              static_cast<double>(done_classified) / seconds, code, reset ? "yes" : "no", rss_max, rss_min);
  if (std::getenv("E2E_BENCH_KEEP") == nullptr) fs::remove_all(dir);
  return code == 0 && !reset ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const int reps = argc > 2 ? std::max(1, std::atoi(argv[2])) : 3;
  const int instances = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  const int scale = argc > 4 ? std::max(1, std::atoi(argv[4])) : 1;
  const std::size_t window = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 15000;
  signal(SIGPIPE, SIG_IGN);
  const char* tmp = std::getenv("TMPDIR");
  const fs::path dir = std::getenv("E2E_BENCH_DIR") != nullptr
                           ? fs::path(std::getenv("E2E_BENCH_DIR"))
                           : fs::path(tmp != nullptr ? tmp : "/tmp") / ("e2e_bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  if (const char* soak = std::getenv("E2E_BENCH_SOAK_SECONDS"); soak != nullptr && std::atoi(soak) > 0) {
    return Soak(std::atoi(soak), window, dir / "soak");
  }

  const auto records = bench::MakeRecords(n, scale);
  const auto placed = bench::Place(records);
  Reference ref;
  ref.input_count.assign(bench::kPartitions, 0);
  ref.classified_count.assign(bench::kPartitions, 0);
  for (const auto& p : placed) ++ref.input_count[static_cast<std::size_t>(p.partition)];
  {
    auto classifier = bench::MakeClassifier(stream::Config{}.engine);
    if (classifier == nullptr) return 1;
    bench::PathOptions o;
    o.dir = (dir / "reference").string();
    o.read_json = true;  // the processors read the observation headers
    fs::remove_all(o.dir);
    auto w = bench::WholePath::Open(o, classifier);
    if (!w) {
      std::fprintf(stderr, "reference: %s\n", w.error().c_str());
      return 1;
    }
    for (std::size_t i = 0; i < n; i += 1000) {
      const std::size_t m = std::min<std::size_t>(1000, n - i);
      if (auto b = (*w)->Batch(std::span(records).subspan(i, m), std::span(placed).subspan(i, m)); !b) {
        std::fprintf(stderr, "reference: %s\n", b.error().c_str());
        return 1;
      }
    }
    const auto summaries = (*w)->Summaries();
    ref.hashes = bench::HashList(summaries);
    for (const auto& s : summaries) {
      if (s.next_offset >= 0) ref.classified_count[static_cast<std::size_t>(s.partition)] = s.next_offset;
    }
    ref.events = (*w)->stats().events;
    w->reset();
    if (std::getenv("E2E_BENCH_KEEP") == nullptr) fs::remove_all(o.dir);
  }
  std::printf("e2e_bench: %zu records (%lld events), %d instance(s), recipients x%d, window %zu; "
              "reference hashes %s\n",
              n, static_cast<long long>(ref.events), instances, scale, window, ref.hashes.c_str());
  std::fflush(stdout);

  std::vector<double> rate, cpu, bcpu;
  long rss = 0;
  for (int i = 0; i < reps; ++i) {
    RunResult r;
    if (!RunOnce(records, placed, ref, instances, window, dir / ("run" + std::to_string(i)), i, &r)) return 1;
    rate.push_back(static_cast<double>(n) / r.seconds);
    cpu.push_back(r.cpu / static_cast<double>(n) * 1e6);
    bcpu.push_back(r.broker_cpu / static_cast<double>(n) * 1e6);
    rss = std::max(rss, r.max_rss_kb);
    std::printf("run %d: %.2f s, %.0f events/s, processors %.2f CPU-s, broker %.2f CPU-s, max RSS %ld kB, check ok\n",
                i + 1, r.seconds, rate.back(), r.cpu, r.broker_cpu, r.max_rss_kb);
    std::fflush(stdout);
  }
  if (std::getenv("E2E_BENCH_KEEP") == nullptr) fs::remove_all(dir);
  std::printf("ours_e2e_i%d_x%d median %.0f events/s cpu_s_per_M %.2f broker_cpu_s_per_M %.2f "
              "max_rss_kb %ld runs:",
              instances, scale, Median(rate), Median(cpu), Median(bcpu), rss);
  for (double r : rate) std::printf(" %.0f", r);
  std::printf("\n");
  return 0;
}
