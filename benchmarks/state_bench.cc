// state_bench: the state engine's write path on one thread (DESIGN.md §4), next to
// ../shared/perf-probe's probe_rocksdb merge_agg (3 window-counter updates per event).
//
//   state_bench [bounces.ndjson] [max_events=400000] [reps=5] [batch=1000] [stages=windows,decisions]
//               [commit=batch]
//
// Input: the probe's gen_bounces records ($BOUNCESTREAM_BENCH_DIR/bounces.ndjson or
// /tmp/perf-probe/bounces.ndjson; synthesised when neither exists), turned into Observations
// outside the timing: tenant = the sender's domain, sending_ip = ip_pool, vendor from the
// recipient domain, signal from the SMTP codes and the reply text.
// Stages (each: fresh state dir under $TMPDIR, WAL on, sync=false, Apply per `batch` events,
// a checkpoint (Apply with checkpoint=true, then Commit) every `commit` events, a multiple of
// `batch`; the Applies between checkpoints have checkpoint=false):
//   windows    every event counted only (Transient/Other): 5 window keys per event (4 when the
//              pool is empty), dedupe entry, changelog values, offsets; no decision look-ups
//   decisions  the realistic signals: hard/soft/end-user/admin/platform rules, decision reads,
//              suppressions and pauses, expiry
// Before timing, the first 20,000 events are applied in one batch, in batches of 997 and in
// batches of 997 with a checkpoint every third batch into three dirs: the summaries' hashes
// must be equal (exit 1 otherwise).
// Under callgrind, run with --instr-atstart=no: only the timed runs are instrumented
// (CALLGRIND_START_INSTRUMENTATION in TimedPlay), so the per-event instruction count is
// Collected / (max_events * reps).
// Output lines: "ours_<stage> median <events/s> ... runs: ..." (parsed by benchmarks/state.sh).
#include <time.h>

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BS_CG_START() CALLGRIND_START_INSTRUMENTATION
#define BS_CG_STOP() CALLGRIND_STOP_INSTRUMENTATION
#else
#define BS_CG_START() ((void)0)
#define BS_CG_STOP() ((void)0)
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "state/engine.h"

namespace bs = bouncestream::state;

namespace {

struct Record {
  std::string id, tenant, sender, recipient, domain, pool, vendor, reason, text;
  std::int64_t ts = 0;
  int code = 0;
  std::string enhanced;
};

// Value of "key": in a flat JSON object (string values keep their escapes; numbers as text).
std::string_view Field(std::string_view line, std::string_view key) {
  std::string pat = "\"" + std::string(key) + "\":";
  auto p = line.find(pat);
  if (p == std::string_view::npos) return {};
  p += pat.size();
  if (p < line.size() && line[p] == '"') {
    std::size_t e = p + 1;
    while (e < line.size() && line[e] != '"') e += line[e] == '\\' ? 2 : 1;
    return line.substr(p + 1, e - p - 1);
  }
  std::size_t e = line.find_first_of(",}", p);
  return line.substr(p, e - p);
}

std::string VendorOf(std::string_view domain) {
  if (domain.find("gmail") != std::string_view::npos ||
      domain.find("google") != std::string_view::npos) {
    return "google";
  }
  if (domain.find("outlook") != std::string_view::npos ||
      domain.find("hotmail") != std::string_view::npos ||
      domain.find("live.") != std::string_view::npos) {
    return "microsoft";
  }
  if (domain.find("yahoo") != std::string_view::npos) return "yahoo";
  return "other";
}

std::vector<Record> Load(const std::string& path, std::size_t max) {
  std::vector<Record> out;
  std::ifstream in(path);
  std::string line;
  while (out.size() < max && std::getline(in, line)) {
    Record r;
    r.id = Field(line, "msg_id");
    r.ts = std::atoll(std::string(Field(line, "ts")).c_str());
    r.sender = Field(line, "sender");
    r.recipient = Field(line, "recipient");
    r.domain = Field(line, "rcpt_domain");
    r.pool = Field(line, "ip_pool");
    r.code = std::atoi(std::string(Field(line, "smtp_code")).c_str());
    r.enhanced = Field(line, "enhanced");
    r.text = Field(line, "diagnostic");
    auto at = r.sender.find('@');
    r.tenant = at == std::string::npos ? "t" : r.sender.substr(at + 1);
    r.vendor = VendorOf(r.domain);
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Record> Synthesise(std::size_t n) {
  std::vector<Record> out;
  std::uint64_t x = 88172645463325252ull;
  auto rnd = [&x](std::uint64_t k) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x % k;
  };
  static const char* kDomains[] = {"gmail.com", "outlook.com", "yahoo.com", "corp.example",
                                   "web.de",    "orange.fr",   "icloud.com", "gmx.net"};
  static const char* kEnh[] = {"5.1.1", "5.2.2", "5.7.1", "4.7.0", "5.7.606", "4.2.2"};
  for (std::size_t i = 0; i < n; ++i) {
    Record r;
    r.id = "syn." + std::to_string(i);
    r.ts = 1'732'300'000'000 + static_cast<std::int64_t>(i) * 5;
    r.domain = kDomains[rnd(8)];
    r.recipient = "u" + std::to_string(rnd(300'000)) + "@" + r.domain;
    r.tenant = "t" + std::to_string(rnd(50)) + ".example";
    r.sender = "news@" + r.tenant;
    r.pool = "pool-" + std::to_string(rnd(7));
    r.enhanced = kEnh[rnd(6)];
    r.code = r.enhanced[0] == '5' ? 550 : 450;
    r.text = r.code == 550 ? "550 5.7.1 rejected" : "450 try again later";
    r.vendor = VendorOf(r.domain);
    out.push_back(std::move(r));
  }
  return out;
}

bs::Signal SignalOf(const Record& r) {
  std::string_view e = r.enhanced, t = r.text;
  auto has = [t](std::string_view s) { return t.find(s) != std::string_view::npos; };
  if (e.starts_with("5.1.")) return bs::Signal::kHardInvalid;
  if (e.starts_with("5.2.")) return bs::Signal::kSoft;
  if (e.starts_with("5.7.") || e.starts_with("4.7.")) {
    if (has("RBL") || has("Spamhaus") || has("reputation") || has("banned") || has("block list") ||
        has("blocklist") || has("IP")) {
      return bs::Signal::kPlatformBlock;
    }
    if (has("policy") || has("Policy")) return bs::Signal::kAdminBlock;
    if (has("SPF") || has("DKIM") || has("DMARC") || has("authenticat")) {
      return bs::Signal::kSenderConfig;
    }
    return bs::Signal::kEndUserBlock;
  }
  if (r.code >= 500) return bs::Signal::kSoft;
  if (r.code >= 400) return bs::Signal::kTransient;
  return bs::Signal::kOther;
}

std::vector<bs::Observation> ToObservations(const std::vector<Record>& recs, bool decisions) {
  std::vector<bs::Observation> out;
  out.reserve(recs.size());
  for (const Record& r : recs) {
    bs::Observation o;
    o.event_id = r.id;
    o.event_time_ms = r.ts;
    o.tenant = r.tenant;
    o.sender = r.sender;
    o.recipient = r.recipient;
    o.domain = r.domain;
    o.sending_ip = r.pool;
    o.vendor = r.vendor;
    o.reason = "bench";
    o.reason_code = static_cast<std::uint8_t>(r.code % 64);
    o.party = "unknown";
    o.rule = "bench.rule";
    o.text = r.text;
    o.signal = decisions ? SignalOf(r) : (r.code >= 500 ? bs::Signal::kOther : bs::Signal::kTransient);
    out.push_back(o);
  }
  return out;
}

std::string TempBase() {
  const char* t = std::getenv("TMPDIR");
  return std::string(t != nullptr && *t != '\0' ? t : "/tmp");
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct RunResult {
  double seconds = 0, cpu = 0, apply_s = 0, commit_s = 0;
  std::int64_t decisions = 0, window_keys = 0, changelog = 0;
  std::string hash;
};

// Applies `obs` in batches into a fresh dir; returns timing and the partition's hash.
RunResult Play(const std::vector<bs::Observation>& obs, std::size_t batch, std::size_t commit,
               const std::string& dir, bool timed) {
  std::filesystem::remove_all(dir);
  bs::FakeClock clock(1'732'300'000'000);
  bs::EngineOptions o;
  o.dir = dir;
  o.clock = &clock;
  o.sync_writes = false;
  auto engine = bs::Engine::Open(o);
  if (!engine) {
    std::fprintf(stderr, "open: %s\n", engine.error().c_str());
    std::exit(1);
  }
  RunResult r;
  auto t0 = std::chrono::steady_clock::now();
  double c0 = ThreadCpuSeconds();
  for (std::size_t pos = 0; pos < obs.size(); pos += batch) {
    std::size_t n = std::min(batch, obs.size() - pos);
    auto ta = std::chrono::steady_clock::now();
    const bool checkpoint = (pos + n) % commit == 0 || pos + n == obs.size();
    auto res = (*engine)->Apply(0, std::span(obs).subspan(pos, n),
                                static_cast<std::int64_t>(pos + n), checkpoint);
    auto tb = std::chrono::steady_clock::now();
    r.apply_s += std::chrono::duration<double>(tb - ta).count();
    if (!res) {
      std::fprintf(stderr, "apply: %s\n", res.error().c_str());
      std::exit(1);
    }
    r.decisions += static_cast<std::int64_t>(res->decisions.size());
    r.window_keys += res->stats.window_keys;
    r.changelog += static_cast<std::int64_t>(res->changelog.size());
    if (auto c = (*engine)->Commit(*res); !c) {
      std::fprintf(stderr, "commit: %s\n", c.error().c_str());
      std::exit(1);
    }
    r.commit_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count();
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu = ThreadCpuSeconds() - c0;
  if (!timed) {
    for (const auto& s : (*engine)->Summaries()) r.hash = s.hash;
  }
  engine->reset();
  std::filesystem::remove_all(dir);
  return r;
}

// The timed runs only (callgrind: --toggle-collect='*TimedPlay*' counts these and not the checks).
[[gnu::noinline]] RunResult TimedPlay(const std::vector<bs::Observation>& obs, std::size_t batch,
                                      std::size_t commit, const std::string& dir) {
  BS_CG_START();
  RunResult r = Play(obs, batch, commit, dir, true);
  BS_CG_STOP();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path = argc > 1 ? argv[1] : "";
  std::size_t max = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 400'000;
  int reps = argc > 3 ? std::atoi(argv[3]) : 5;
  std::size_t batch = argc > 4 ? std::strtoull(argv[4], nullptr, 10) : 1000;
  std::string stages = argc > 5 ? argv[5] : "windows,decisions";
  std::size_t commit = argc > 6 ? std::strtoull(argv[6], nullptr, 10) : batch;
  if (batch == 0 || commit == 0 || commit % batch != 0) {
    std::fprintf(stderr, "commit (%zu) must be a multiple of batch (%zu)\n", commit, batch);
    return 2;
  }
  if (path.empty()) {
    const char* d = std::getenv("BOUNCESTREAM_BENCH_DIR");
    for (std::string p : {d != nullptr ? std::string(d) + "/bounces.ndjson" : std::string(),
                          std::string("/tmp/perf-probe/bounces.ndjson")}) {
      if (!p.empty() && std::filesystem::exists(p)) {
        path = p;
        break;
      }
    }
  }
  std::vector<Record> recs = path.empty() ? Synthesise(max) : Load(path, max);
  std::printf("state_bench: %zu events from %s, batch %zu, checkpoint every %zu, WAL on, "
              "sync=false, %d reps\n",
              recs.size(), path.empty() ? "(synthesised)" : path.c_str(), batch, commit, reps);
  const std::string dir = TempBase() + "/state_bench." + std::to_string(getpid());

  for (std::string stage : {"windows", "decisions"}) {
    if (("," + stages + ",").find("," + stage + ",") == std::string::npos) continue;
    auto obs = ToObservations(recs, stage == "decisions");
    // Check: batch-cut invariance on a prefix.
    std::vector<bs::Observation> prefix(obs.begin(),
                                        obs.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min<std::size_t>(obs.size(), 20'000)));
    RunResult one = Play(prefix, prefix.size(), prefix.size(), dir, false);
    RunResult cut = Play(prefix, 997, 997, dir, false);
    RunResult deferred = Play(prefix, 997, 3 * 997, dir, false);
    if (one.hash.empty() || one.hash != cut.hash || one.decisions != cut.decisions ||
        one.hash != deferred.hash || one.decisions != deferred.decisions) {
      std::fprintf(stderr,
                   "check failed for %s: hash %s vs %s vs %s, decisions %lld vs %lld vs %lld\n",
                   stage.c_str(), one.hash.c_str(), cut.hash.c_str(), deferred.hash.c_str(),
                   static_cast<long long>(one.decisions), static_cast<long long>(cut.decisions),
                   static_cast<long long>(deferred.decisions));
      return 1;
    }
    std::vector<double> eps, cpu;
    RunResult last;
    for (int rep = 0; rep < reps; ++rep) {
      last = TimedPlay(obs, batch, commit, dir);
      eps.push_back(static_cast<double>(obs.size()) / last.seconds);
      cpu.push_back(last.cpu / static_cast<double>(obs.size()) * 1e6);
    }
    std::vector<double> sorted = eps;
    std::sort(sorted.begin(), sorted.end());
    std::sort(cpu.begin(), cpu.end());
    double med = sorted[sorted.size() / 2];
    std::printf("ours_%s median %.0f events/s (%.2f us/event) cpu_s_per_M %.2f keys/event %.2f "
                "changelog/event %.2f decisions %lld apply_share %.2f commit_share %.2f  runs:",
                stage.c_str(), med, 1e6 / med, cpu[cpu.size() / 2],
                static_cast<double>(last.window_keys) / static_cast<double>(obs.size()) *
                    static_cast<double>(batch) / static_cast<double>(batch),
                static_cast<double>(last.changelog) / static_cast<double>(obs.size()),
                static_cast<long long>(last.decisions), last.apply_s / last.seconds,
                last.commit_s / last.seconds);
    for (double e : eps) std::printf(" %.0f", e);
    std::printf("  check=%s\n", one.hash.c_str());
    std::fflush(stdout);
  }
  return 0;
}
