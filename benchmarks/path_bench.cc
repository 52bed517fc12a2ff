// path_bench: events/s of the whole per-event path of `bouncestream run` without Kafka, one
// thread, with durable state and decisions (benchmarks/path_common.h describes the path):
// decode (auto) -> classify -> encode the classified record -> read it back as an Observation
// -> Engine::Apply per classified partition -> decision JSON + key, per poll batch of `batch`
// input records (`run`'s batch.max.messages default, 1000), with `run`'s checkpoint cadence:
// a partition's checkpoint (changelog values + Engine::Commit: RocksDB WriteBatch, WAL on,
// sync=false, `run`'s default cache sizes) closes once it holds [state] checkpoint_events
// records (default 10000) or its first batch is checkpoint_interval old (default 1 s); the
// checkpoints still open at the end are closed inside the timed part.
//
//   path_bench [records=100000] [reps=5] [scale=1] [batch=1000] [check_records=20000]
//
// Input: TrafficGenerator's stream (six formats, ~1 % duplicates, ~0.5 % malformed), generated
// before timing; `scale` multiplies the distinct recipients (1, 4, 16: see MakeRecords).
// Before timing, the first `check_records` records go through the timed code (batches of `batch`)
// and through an independent slower pass (its own rule set, classifier, ObservationReader and
// state dir, a fresh Decoder per record, one input record per batch, one checkpoint per batch:
// the old cadence; it reads the classified records' JSON, the timed code their observation
// headers). Both must end with the same
// partition hashes (all windows and active decisions) and, per partition, the same multiset of
// decision records (EncodeJson bytes); the event and dead-letter counts must be the generator's.
// Otherwise exit 1. A check-only run: reps=0.
//
// Output: "ours_path[_x<scale>] median <events/s> events/s ... cpu_s_per_M <process CPU per M>
// thread_cpu_s_per_M <this thread> ... runs: ..." (parsed by benchmarks/run.sh); the process CPU
// includes RocksDB's flush/compaction threads. Also the state's size after the last run
// (window keys, SST and live bytes) and the peak RSS.
// Environment: BOUNCESTREAM_BENCH_ENGINE (re2set | vectorscan; default `run`'s),
// PATH_BENCH_BLOCK_CACHE (bytes), PATH_BENCH_HOT_ENTRIES (hot window entries),
// PATH_BENCH_CHECKPOINT_EVENTS (records per checkpoint; 1 = a checkpoint per poll batch, the
// cadence before issue 5), PATH_BENCH_CHECKPOINT_INTERVAL_MS (0 = by records only: instruction
// counts then do not depend on the speed, e.g. under callgrind; the timed runs are in TimedPass,
// `valgrind --tool=callgrind --toggle-collect='*TimedPass*'`),
// PATH_BENCH_DIR (work dir, default $TMPDIR/path_bench-PID), PATH_BENCH_SECONDS (instead of reps:
// one run that loops over fresh copies of the stream for that long, printing the RSS every 10 s;
// the 10-minute memory run).
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "benchmarks/path_common.h"

namespace fs = std::filesystem;
using namespace bouncestream;
using bench::GeneratedRecord;

namespace {

double CpuNow(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

long RssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::int64_t EnvInt(const char* name, std::int64_t def) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoll(v) : def;
}

struct RunResult {
  double wall = 0, cpu = 0, thread_cpu = 0;
  bench::PathStats stats;
  std::string hashes;
  std::int64_t window_keys = 0;
  state::StoreStats store;
};

// Records [0, n) batch by batch, then the checkpoints still open.
__attribute__((noinline)) std::expected<void, std::string> Pass(
    bench::WholePath& w, const std::vector<GeneratedRecord>& records,
    const std::vector<bench::Placed>& placed, std::size_t n, std::size_t batch) {
  for (std::size_t i = 0; i < n; i += batch) {
    const std::size_t m = std::min(batch, n - i);
    if (auto b = w.Batch(std::span(records).subspan(i, m), std::span(placed).subspan(i, m)); !b) {
      return std::unexpected(b.error());
    }
  }
  return w.Finish();
}
// The timed runs' pass (callgrind --toggle-collect='*TimedPass*' counts only these).
__attribute__((noinline)) std::expected<void, std::string> TimedPass(
    bench::WholePath& w, const std::vector<GeneratedRecord>& records,
    const std::vector<bench::Placed>& placed, std::size_t n, std::size_t batch) {
  return Pass(w, records, placed, n, batch);
}

// Runs records [0, n) through a fresh WholePath in `dir`, batch by batch.
std::expected<RunResult, std::string> Run(const std::vector<GeneratedRecord>& records,
                                          const std::vector<bench::Placed>& placed, std::size_t n,
                                          std::size_t batch, bench::PathOptions o,
                                          std::shared_ptr<const classify::Classifier> classifier,
                                          std::unique_ptr<bench::WholePath>* keep = nullptr,
                                          bool timed = false) {
  fs::remove_all(o.dir);
  auto w = bench::WholePath::Open(o, std::move(classifier));
  if (!w) return std::unexpected("open: " + w.error());
  RunResult r;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = CpuNow(CLOCK_PROCESS_CPUTIME_ID), tc0 = CpuNow(CLOCK_THREAD_CPUTIME_ID);
  if (auto p = timed ? TimedPass(**w, records, placed, n, batch) : Pass(**w, records, placed, n, batch);
      !p) {
    return std::unexpected(p.error());
  }
  r.thread_cpu = CpuNow(CLOCK_THREAD_CPUTIME_ID) - tc0;
  r.cpu = CpuNow(CLOCK_PROCESS_CPUTIME_ID) - c0;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.stats = (*w)->stats();
  const auto summaries = (*w)->Summaries();
  r.hashes = bench::HashList(summaries);
  for (const auto& s : summaries) r.window_keys += s.window_keys;
  r.store = (*w)->StoreStats();
  if (keep != nullptr) *keep = std::move(*w);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 5;
  const int scale = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  const std::size_t batch = argc > 4 ? std::max<std::size_t>(1, std::strtoull(argv[4], nullptr, 10)) : 1000;
  const std::size_t check_n =
      std::min<std::size_t>(n, argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 20000);
  std::string engine = stream::Config{}.engine;
  if (const char* e = std::getenv("BOUNCESTREAM_BENCH_ENGINE"); e != nullptr && *e != '\0') engine = e;
  const char* tmp = std::getenv("TMPDIR");
  const fs::path dir = std::getenv("PATH_BENCH_DIR") != nullptr
                           ? fs::path(std::getenv("PATH_BENCH_DIR"))
                           : fs::path(tmp != nullptr ? tmp : "/tmp") /
                                 ("path_bench-" + std::to_string(getpid()));
  fs::create_directories(dir);
  bench::PathOptions opts;
  opts.block_cache_bytes = EnvInt("PATH_BENCH_BLOCK_CACHE", opts.block_cache_bytes);
  opts.hot_window_entries = EnvInt("PATH_BENCH_HOT_ENTRIES", opts.hot_window_entries);
  opts.checkpoint_events = std::max<std::int64_t>(1, EnvInt("PATH_BENCH_CHECKPOINT_EVENTS", opts.checkpoint_events));
  opts.checkpoint_interval_ms =
      std::max<std::int64_t>(0, EnvInt("PATH_BENCH_CHECKPOINT_INTERVAL_MS", opts.checkpoint_interval_ms));

  auto classifier = bench::MakeClassifier(engine);
  auto classifier2 = bench::MakeClassifier(engine);  // the reference pass's own
  if (classifier == nullptr || classifier2 == nullptr) return 1;

  const auto records = bench::MakeRecords(n, scale);
  const auto placed = bench::Place(records);
  std::int64_t want_events = 0, want_dlq = 0, bytes = 0;
  std::int64_t check_events = 0, check_dlq = 0;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    want_events += r.events;
    want_dlq += r.malformed ? 1 : 0;
    if (i < check_n) {
      check_events += r.events;
      check_dlq += r.malformed ? 1 : 0;
    }
    bytes += static_cast<std::int64_t>(r.value.size());
  }
  std::printf("path_bench: %zu records (mean %.0f B), recipients x%d, batch %zu, engine %s, "
              "block cache %lld B, hot window entries %lld, checkpoint every %lld records or "
              "%lld ms\n",
              n, static_cast<double>(bytes) / static_cast<double>(std::max<std::size_t>(n, 1)),
              scale, batch, engine.c_str(), static_cast<long long>(opts.block_cache_bytes),
              static_cast<long long>(opts.hot_window_entries),
              static_cast<long long>(opts.checkpoint_events),
              static_cast<long long>(opts.checkpoint_interval_ms));

  // ---- reference check ----
  {
    bench::PathOptions a = opts;
    a.dir = (dir / "check-a").string();
    a.keep_decisions = true;
    bench::PathOptions b = opts;
    b.dir = (dir / "check-b").string();
    b.keep_decisions = true;
    b.fresh_decoder_per_record = true;
    b.read_json = true;  // the timed code reads the observation headers
    b.checkpoint_events = 1;  // one checkpoint per batch (of one record)
    b.checkpoint_interval_ms = 0;
    std::unique_ptr<bench::WholePath> wa, wb;
    auto ra = Run(records, placed, check_n, batch, a, classifier, &wa);
    auto rb = Run(records, placed, check_n, 1, b, classifier2, &wb);
    if (!ra || !rb) {
      std::fprintf(stderr, "check run failed: %s\n", (!ra ? ra.error() : rb.error()).c_str());
      return 1;
    }
    bool ok = true;
    if (ra->hashes != rb->hashes || ra->hashes.empty()) {
      std::fprintf(stderr, "CHECK FAILED: partition hashes differ\n  timed code: %s\n  reference:  %s\n",
                   ra->hashes.c_str(), rb->hashes.c_str());
      ok = false;
    }
    auto da = wa->decisions(), db = wb->decisions();
    std::int64_t ndec = 0;
    for (auto* m : {&da, &db}) {
      for (auto& [p, v] : *m) std::sort(v.begin(), v.end());
    }
    for (const auto& [p, v] : da) ndec += static_cast<std::int64_t>(v.size());
    if (da != db) {
      std::fprintf(stderr, "CHECK FAILED: decision records differ (%lld vs %lld)\n",
                   static_cast<long long>(ra->stats.decisions), static_cast<long long>(rb->stats.decisions));
      ok = false;
    }
    if (ra->stats.events != check_events || ra->stats.dead_letters != check_dlq ||
        rb->stats.events != check_events || rb->stats.dead_letters != check_dlq) {
      std::fprintf(stderr, "CHECK FAILED: events/dead letters %lld/%lld and %lld/%lld, generator %lld/%lld\n",
                   static_cast<long long>(ra->stats.events), static_cast<long long>(ra->stats.dead_letters),
                   static_cast<long long>(rb->stats.events), static_cast<long long>(rb->stats.dead_letters),
                   static_cast<long long>(check_events), static_cast<long long>(check_dlq));
      ok = false;
    }
    if (ndec == 0) {
      std::fprintf(stderr, "CHECK FAILED: no decisions at all\n");
      ok = false;
    }
    wa.reset();
    wb.reset();
    fs::remove_all(a.dir);
    fs::remove_all(b.dir);
    if (!ok) return 1;
    std::printf("check ok: %zu records, batch %zu, %lld checkpoints vs batch 1, checkpoint per "
                "batch (fresh decoder, own classifier): %lld decisions, hashes %s\n",
                check_n, batch, static_cast<long long>(ra->stats.checkpoints),
                static_cast<long long>(ndec), ra->hashes.c_str());
    std::fflush(stdout);
  }

  // ---- the 10-minute memory run ----
  if (const std::int64_t seconds = EnvInt("PATH_BENCH_SECONDS", 0); seconds > 0) {
    bench::PathOptions o = opts;
    o.dir = (dir / "soak").string();
    fs::remove_all(o.dir);
    auto w = bench::WholePath::Open(o, classifier);
    if (!w) return 1;
    // Loops over the stream; each lap shifts event ids and times so that nothing is a duplicate
    // and time moves on (windows expire, as in a long run).
    stream::GeneratorOptions go;
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t done = 0, next_report = 0;
    std::vector<GeneratedRecord> lap;
    std::vector<bench::Placed> lap_placed;
    std::vector<std::int64_t> next_offset(bench::kPartitions, 0);
    for (std::uint64_t seed = 1;; ++seed) {
      go.seed = seed;
      go.start_time_s = stream::GeneratorOptions{}.start_time_s +
                        static_cast<std::int64_t>(seed - 1) * static_cast<std::int64_t>(n / 100 + 1);
      stream::TrafficGenerator gen(go);
      lap.clear();
      lap_placed.clear();
      for (std::size_t i = 0; i < n; ++i) {
        lap.push_back(gen.Next());
        const std::int32_t p = stream::PartitionForKey(lap.back().key, bench::kPartitions);
        lap_placed.push_back({p, next_offset[static_cast<std::size_t>(p)]++});
      }
      for (std::size_t i = 0; i < n; i += batch) {
        const std::size_t m = std::min(batch, n - i);
        if (auto b = (*w)->Batch(std::span(lap).subspan(i, m), std::span(lap_placed).subspan(i, m)); !b) {
          std::fprintf(stderr, "soak: %s\n", b.error().c_str());
          return 1;
        }
        done += static_cast<std::int64_t>(m);
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (el >= static_cast<double>(next_report)) {
          const auto st = (*w)->StoreStats();
          std::printf("soak t=%4.0fs records %lld rss_kb %ld live_bytes %lld sst_bytes %lld\n", el,
                      static_cast<long long>(done), RssKb(), static_cast<long long>(st.live_bytes),
                      static_cast<long long>(st.sst_bytes));
          std::fflush(stdout);
          next_report += 10;
        }
        if (el >= static_cast<double>(seconds)) {
          std::printf("soak done: %lld records in %.0f s (%.0f/s)\n", static_cast<long long>(done), el,
                      static_cast<double>(done) / el);
          fs::remove_all(o.dir);
          return 0;
        }
      }
    }
  }

  // ---- encode alone: the classified record + key of events decoded and classified before ----
  {
    stream::Decoder dec;  // never Reset: every event's views stay valid
    std::vector<classify::BounceEvent> evs;
    std::vector<std::size_t> rec_of;
    std::vector<std::string> formats;
    for (std::size_t i = 0; i < records.size(); ++i) {
      const std::size_t before = evs.size();
      auto d = dec.Decode(records[i].value, stream::InputFormat::kAuto, &evs);
      const std::string f = d ? std::string(stream::ToString(*d)) : std::string();
      for (std::size_t j = before; j < evs.size(); ++j) {
        rec_of.push_back(i);
        formats.push_back(f);
      }
    }
    classify::Classifier::Session session(classifier);
    std::vector<classify::Classification> cls;
    cls.reserve(evs.size());
    for (const auto& ev : evs) cls.push_back(session.Classify(ev));
    // Checked: every generated event decoded, the same output bytes in every run (the bytes
    // themselves are what the whole path's reference check covers).
    std::string value, key;
    std::vector<double> erate, ecpu;
    std::uint64_t sum = 0;
    for (int rep = 0; rep < std::max(reps, 1); ++rep) {
      const double c0 = CpuNow(CLOCK_THREAD_CPUTIME_ID);
      const auto t0 = std::chrono::steady_clock::now();
      std::uint64_t h = 0;
      for (std::size_t i = 0; i < evs.size(); ++i) {
        value.clear();
        const auto& at = placed[rec_of[i]];
        stream::EncodeClassifiedRecord(evs[i], cls[i], {bench::kInputTopic, at.partition, at.offset, formats[i]},
                                       &value);
        key = bench::ToLowerAscii(evs[i].RecipientDomain());
        h += value.size() + key.size();
      }
      const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double cpu_s = CpuNow(CLOCK_THREAD_CPUTIME_ID) - c0;
      if (rep > 0 && h != sum) {
        std::fprintf(stderr, "encode: output size differs between runs\n");
        return 1;
      }
      sum = h;
      erate.push_back(static_cast<double>(evs.size()) / wall);
      ecpu.push_back(cpu_s / static_cast<double>(evs.size()) * 1e6);
    }
    if (static_cast<std::int64_t>(evs.size()) != want_events) {
      std::fprintf(stderr, "encode: %zu events decoded, generator %lld\n", evs.size(),
                   static_cast<long long>(want_events));
      return 1;
    }
    if (reps > 0 && scale == 1) {
      std::printf("ours_encode median %.0f events/s cpu_s_per_M %.2f bytes_per_event %.0f runs:", Median(erate),
                  Median(ecpu), static_cast<double>(sum) / static_cast<double>(evs.size()));
      for (double r : erate) std::printf(" %.0f", r);
      std::printf("\n");
      std::fflush(stdout);
    }
  }

  // ---- timed runs ----
  std::vector<double> rate, cpu, tcpu;
  RunResult last;
  for (int i = 0; i < reps; ++i) {
    bench::PathOptions o = opts;
    o.dir = (dir / "run").string();
    auto r = Run(records, placed, n, batch, o, classifier, nullptr, true);
    if (!r) {
      std::fprintf(stderr, "run failed: %s\n", r.error().c_str());
      return 1;
    }
    if (r->stats.events != want_events || r->stats.dead_letters != want_dlq) {
      std::fprintf(stderr, "run: %lld events / %lld dead letters, generator %lld / %lld\n",
                   static_cast<long long>(r->stats.events), static_cast<long long>(r->stats.dead_letters),
                   static_cast<long long>(want_events), static_cast<long long>(want_dlq));
      return 1;
    }
    if (i > 0 && r->hashes != last.hashes) {
      std::fprintf(stderr, "run %d: partition hashes differ from run 1\n", i + 1);
      return 1;
    }
    rate.push_back(static_cast<double>(n) / r->wall);
    cpu.push_back(r->cpu / static_cast<double>(n) * 1e6);
    tcpu.push_back(r->thread_cpu / static_cast<double>(n) * 1e6);
    last = *r;
  }
  fs::remove_all(dir);
  if (reps <= 0) return 0;
  const std::string name = scale == 1 ? "ours_path" : "ours_path_x" + std::to_string(scale);
  std::printf("%s median %.0f events/s cpu_s_per_M %.2f thread_cpu_s_per_M %.2f decisions %lld "
              "changelog %lld checkpoints %lld checkpoints_by_time %lld out_B_per_event %.0f window_keys %lld sst_bytes %lld live_bytes %lld "
              "hashes %s peak_rss_kb %ld runs:",
              name.c_str(), Median(rate), Median(cpu), Median(tcpu),
              static_cast<long long>(last.stats.decisions), static_cast<long long>(last.stats.changelog),
              static_cast<long long>(last.stats.checkpoints),
              static_cast<long long>(last.stats.checkpoints_by_time),
              static_cast<double>(last.stats.out_bytes) / static_cast<double>(n),
              static_cast<long long>(last.window_keys), static_cast<long long>(last.store.sst_bytes),
              static_cast<long long>(last.store.live_bytes), last.hashes.c_str(),
              [] {
                rusage ru{};
                getrusage(RUSAGE_SELF, &ru);
                return ru.ru_maxrss;
              }());
  for (double r : rate) std::printf(" %.0f", r);
  std::printf("\n");
  return 0;
}
