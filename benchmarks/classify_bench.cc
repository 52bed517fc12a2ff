// classify_bench: events/s of the classifier on the shipped rules, single thread, both engines.
//
//   classify_bench [bounces.ndjson from perf-probe's gen_bounces] [max_events=400000] [reps=5]
//
// The stream is the probe's synthetic diagnostics with our own filter texts (every row of the
// acceptance tables in tests/classify/testdata) mixed in as every 8th event. Before timing, the
// output is checked against a reference: every table row must classify as the table says, both
// engines must pick the same rule for every event, and a Session with its result cache must give
// exactly (every field) what a Session without it gives. Prints the median of `reps` runs, per
// engine, of three rows:
//   ours_<engine>          the stream as it is (texts repeat, as in real bounce streams), the
//                          Session's result cache on (the default), a fresh Session per run so
//                          only repeats within one pass hit; the cache hit rate is printed
//   ours_<engine>_nocache  the same stream, cache off: the cost of the scan and Decide alone
//   ours_<engine>_unique   every (text, mx, code, status) once, cache off: no repeat to exploit
// Every run passes over the same events, so RE2's lazy DFA is warm from the second run on; with
// BOUNCESTREAM_BENCH_HELDOUT=1 a fourth row (re2set only) times texts the DFA has not seen: a fresh
// classifier, one untimed pass over the first half of the unique events, then one timed pass over
// the second half (min(reps, 3) times, each with a fresh classifier).
//
// Environment: BOUNCESTREAM_BENCH_ENGINE=re2set|vectorscan times one engine only;
// BOUNCESTREAM_BENCH_ROWS=stream,nocache,unique times only those rows;
// BOUNCESTREAM_BENCH_WARMUP=1 runs one untimed pass first (RE2's DFA is built lazily: a cold pass
// costs ~48x a warm one in callgrind instructions); BOUNCESTREAM_BENCH_TABLES=<file.tsv> mixes in
// one table only. Instruction counts of the timed passes alone:
//   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*TimedPass*' classify_bench ...
#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>
#include <string>
#include <vector>

#include "classify/classifier.h"

using namespace bouncestream::classify;
using Clock = std::chrono::steady_clock;

namespace {

struct Item {
  std::string text, mx, expect;  // expect: "vendor/party/action" for table rows, else empty
  int code = 0;
  std::string status;
};

std::vector<Item> LoadProbeStream(const char* path, std::size_t max) {
  std::vector<Item> out;
  simdjson::padded_string json;
  if (simdjson::padded_string::load(path).get(json)) {
    std::fprintf(stderr, "cannot read %s\n", path);
    std::exit(1);
  }
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document_stream docs;
  if (parser.iterate_many(json).get(docs)) std::exit(1);
  for (auto doc : docs) {
    if (out.size() >= max) break;
    Item it;
    std::string_view s;
    if (doc["diagnostic"].get_string().get(s) == simdjson::SUCCESS) it.text.assign(s);
    int64_t code = 0;
    if (doc["smtp_code"].get_int64().get(code) == simdjson::SUCCESS) it.code = static_cast<int>(code);
    if (doc["enhanced"].get_string().get(s) == simdjson::SUCCESS) it.status.assign(s);
    out.push_back(std::move(it));
  }
  return out;
}

std::vector<Item> LoadTables() {
  std::vector<Item> out;
  std::vector<std::string> names{"mimecast_table.tsv", "filters_table.tsv"};
  if (const char* only = std::getenv("BOUNCESTREAM_BENCH_TABLES")) names = {only};
  for (const auto& name : names) {
    std::ifstream in(std::string(BOUNCESTREAM_SOURCE_DIR) + "/tests/classify/testdata/" + name);
    std::string line;
    bool header = true;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (header) {
        header = false;
        continue;
      }
      std::vector<std::string> c;
      std::stringstream ss(line);
      std::string cell;
      while (std::getline(ss, cell, '\t')) c.push_back(cell);
      c.resize(8);
      Item it;
      it.text = c[0];
      it.mx = c[1];
      it.code = c[2].empty() ? 0 : std::stoi(c[2]);
      it.expect = c[3] + "/" + c[4] + "/" + c[5];
      out.push_back(std::move(it));
    }
  }
  return out;
}

BounceEvent EventOf(const Item& it) {
  BounceEvent ev;
  ev.text = it.text;
  ev.mx = it.mx;
  ev.smtp_code = it.code;
  ev.enhanced_code = it.status;
  return ev;
}

// One timed pass over the events; not inlined so that `valgrind --tool=callgrind
// --toggle-collect='*TimedPass*'` counts exactly the classifications that are timed. `noipa`,
// not only `noinline`: WarmupPass has the same body, and GCC's identical-code folding
// (-fipa-icf, on at -O2) made both one function, so the toggle also counted the warm-up pass.
[[gnu::noipa]] std::size_t TimedPass(Classifier::Session& s, const std::vector<BounceEvent>& events) {
  std::size_t sink = 0;
  for (const auto& ev : events) sink += static_cast<std::size_t>(s.Classify(ev).reason);
  return sink;
}

// An untimed pass (BOUNCESTREAM_BENCH_WARMUP=1), outside callgrind's collection.
[[gnu::noipa]] std::size_t WarmupPass(Classifier::Session& s, const std::vector<BounceEvent>& events) {
  std::size_t sink = 0;
  for (const auto& ev : events) sink += static_cast<std::size_t>(s.Classify(ev).reason);
  return sink;
}

bool SameClassification(const Classification& a, const Classification& b) {
  return a.reason == b.reason && a.bounce_class == b.bounce_class && a.hard == b.hard &&
         a.vendor == b.vendor && a.vendor_source == b.vendor_source && a.party == b.party &&
         a.action == b.action && a.confidence == b.confidence && a.rule == b.rule &&
         a.doc.view() == b.doc.view() && a.dnsbl == b.dnsbl && a.smtp_code == b.smtp_code &&
         a.enhanced_code == b.enhanced_code && a.text_truncated == b.text_truncated;
}

bool RowWanted(const char* row) {
  const char* only = std::getenv("BOUNCESTREAM_BENCH_ROWS");
  if (only == nullptr) return true;
  const std::string list = std::string(",") + only + ",";
  return list.find(std::string(",") + row + ",") != std::string::npos;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = argc > 1 ? argv[1] : "/tmp/perf-probe/bounces.ndjson";
  const std::size_t max = argc > 2 ? std::stoul(argv[2]) : 400000;
  const int reps = argc > 3 ? std::stoi(argv[3]) : 5;

  auto probe = LoadProbeStream(path, max);
  const auto tables = LoadTables();
  if (tables.empty()) {
    std::fprintf(stderr, "no acceptance tables found\n");
    return 1;
  }
  std::vector<Item> items;
  items.reserve(probe.size() + probe.size() / 7 + 1);
  std::size_t t = 0;
  for (std::size_t i = 0; i < probe.size(); ++i) {
    if (i % 8 == 7) items.push_back(tables[t++ % tables.size()]);
    items.push_back(std::move(probe[i]));
  }
  std::vector<BounceEvent> events;
  events.reserve(items.size());
  std::size_t bytes = 0;
  for (const auto& it : items) {
    events.push_back(EventOf(it));
    bytes += it.text.size();
  }

  auto rules = RuleSet::Load(DefaultRulesPath());
  if (!rules) {
    std::fprintf(stderr, "rules: %s\n", rules.error()[0].ToString().c_str());
    return 1;
  }
  std::printf("classify_bench: %zu events (%zu table rows mixed in), mean text %.0f B, %zu rules, "
              "%zu fingerprints\n",
              events.size(), items.size() - std::min(items.size(), max), double(bytes) / events.size(),
              (*rules)->rules().size(), (*rules)->fingerprints().size());

  // Reference check before timing.
  std::vector<std::vector<std::string_view>> chosen;
  int bad = 0;
  for (Engine engine : {Engine::kVectorscan, Engine::kRe2Set}) {
    auto c = Classifier::Create(*rules, {.engine = engine});
    if (!c) return 1;
    Classifier::Session s(*c);
    auto& ids = chosen.emplace_back();
    for (std::size_t i = 0; i < events.size(); ++i) {
      const auto r = s.Classify(events[i]);
      ids.push_back(r.rule);
      if (!items[i].expect.empty()) {
        const std::string got = std::string(ToString(r.vendor)) + "/" +
                                std::string(ToString(r.party)) + "/" +
                                std::string(ToString(r.action));
        if (got != items[i].expect && bad++ < 5) {
          std::fprintf(stderr, "reference mismatch (%s): %s -> %s, want %s\n",
                       std::string(ToString(engine)).c_str(), items[i].text.c_str(), got.c_str(),
                       items[i].expect.c_str());
        }
      }
    }
  }
  for (std::size_t e = 1; e < chosen.size(); ++e) {
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (chosen[0][i] != chosen[e][i] && bad++ < 10) {
        std::fprintf(stderr, "engines disagree on: %s (%s vs %s)\n", items[i].text.c_str(),
                     std::string(chosen[0][i]).c_str(), std::string(chosen[e][i]).c_str());
      }
    }
  }
  // The result cache must be exact: every field equal to a Session without it, on every event,
  // over two passes (the second answers the repeats from the cache).
  std::uint64_t check_hits = 0;
  for (Engine engine : {Engine::kVectorscan, Engine::kRe2Set}) {
    auto cached = Classifier::Create(*rules, {.engine = engine, .session_cache_slots = 4096});
    auto plain = Classifier::Create(*rules, {.engine = engine, .session_cache_slots = 0});
    if (!cached || !plain) return 1;
    Classifier::Session sc(*cached), sp(*plain);
    for (int pass = 0; pass < 2; ++pass) {
      for (std::size_t i = 0; i < events.size(); ++i) {
        if (!SameClassification(sc.Classify(events[i]), sp.Classify(events[i])) && bad++ < 10) {
          std::fprintf(stderr, "cached result differs (%s): %s\n", std::string(ToString(engine)).c_str(),
                       items[i].text.c_str());
        }
      }
    }
    check_hits += sc.cache_hits();
  }
  if (check_hits == 0) {
    std::fprintf(stderr, "classify_bench: the result cache never hit in the check\n");
    ++bad;
  }
  if (bad > 0) {
    std::fprintf(stderr, "classify_bench: %d reference mismatches, not timing\n", bad);
    return 1;
  }
  std::printf("reference check: ok (table rows as expected, engines agree on every event, cached "
              "results equal uncached ones)\n");

  // Every distinct (text, mx, code, status, type) once, in first-seen order.
  std::vector<BounceEvent> unique;
  {
    std::set<std::tuple<std::string_view, std::string_view, int, std::string_view>> seen;
    for (const auto& ev : events) {
      if (seen.emplace(ev.text, ev.mx, ev.smtp_code, ev.enhanced_code).second) unique.push_back(ev);
    }
  }
  std::printf("distinct events: %zu of %zu (%.1f %% are repeats)\n", unique.size(), events.size(),
              100.0 * (1.0 - double(unique.size()) / events.size()));

  std::vector<Engine> timed{Engine::kVectorscan, Engine::kRe2Set};
  if (const char* only = std::getenv("BOUNCESTREAM_BENCH_ENGINE")) {
    if (auto e = ParseEngine(only)) timed = {*e};
  }
  struct Row {
    const char* name;
    const char* suffix;
    const std::vector<BounceEvent>* events;
    bool cache;
  };
  const Row rows[] = {{"stream", "", &events, true},
                      {"nocache", "_nocache", &events, false},
                      {"unique", "_unique", &unique, false}};
  for (Engine engine : timed) {
    for (const Row& row : rows) {
      if (!RowWanted(row.name)) continue;
      ClassifierOptions options{.engine = engine};
      options.session_cache_slots = row.cache ? 4096 : 0;
      auto c = Classifier::Create(*rules, options);
      Classifier::Session s(*c);
      std::vector<double> rates;
      std::size_t sink = 0;
      if (std::getenv("BOUNCESTREAM_BENCH_WARMUP") != nullptr) sink += WarmupPass(s, *row.events);
      std::uint64_t hits = 0, misses = 0;
      for (int r = 0; r < reps; ++r) {
        // A fresh Session per run: its cache starts empty, so only repeats within one pass hit
        // (the DFA lives in the Classifier and stays warm across runs).
        Classifier::Session run(*c);
        const auto t0 = Clock::now();
        sink += TimedPass(run, *row.events);
        const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
        rates.push_back(row.events->size() / sec);
        hits += run.cache_hits();
        misses += run.cache_misses();
      }
      const std::string name = std::string(ToString(engine)) + row.suffix;
      std::printf("ours_%-19s median %9.0f events/s %7.0f ns/event (runs:", name.c_str(),
                  Median(rates), 1e9 / Median(rates));
      for (double x : rates) std::printf(" %.0f", x);
      std::printf(") cache %s", row.cache ? "on" : "off");
      if (row.cache) std::printf(" hit %.1f %%", 100.0 * double(hits) / double(std::max<std::uint64_t>(1, hits + misses)));
      std::printf(" n=%zu sink=%zu\n", row.events->size(), sink % 10);
    }
  }
  if (std::getenv("BOUNCESTREAM_BENCH_HELDOUT") != nullptr) {
    const std::size_t half = unique.size() / 2;
    const std::vector<BounceEvent> seen_part(unique.begin(), unique.begin() + half);
    const std::vector<BounceEvent> held_out(unique.begin() + half, unique.end());
    std::vector<double> rates;
    std::size_t sink = 0;
    for (int r = 0; r < std::min(reps, 3); ++r) {
      auto c = Classifier::Create(*rules, {.engine = Engine::kRe2Set, .session_cache_slots = 0});
      Classifier::Session s(*c);
      sink += WarmupPass(s, seen_part);
      const auto t0 = Clock::now();
      sink += TimedPass(s, held_out);
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      rates.push_back(held_out.size() / sec);
    }
    std::printf("ours_%-19s median %9.0f events/s %7.0f ns/event (runs:", "re2set_heldout",
                Median(rates), 1e9 / Median(rates));
    for (double x : rates) std::printf(" %.0f", x);
    std::printf(") cache off, DFA warmed on the other %zu unique events n=%zu sink=%zu\n", half,
                held_out.size(), sink % 10);
  }
  return 0;
}
