// redos_bench: the time per event of the classifier on adversarial texts, both engines.
//
//   redos_bench [max_bytes=4194304] [reps=3]
//
// Texts (each at 64 KiB, 256 KiB, 1 MiB and 4 MiB, up to max_bytes):
//   * runs of one character a backtracking engine would try at every offset ('a', ' ', '5', '.',
//     '-', '<', '@', '\t'), and of two-character alternations ("a ", "5.");
//   * repeated prefixes of every literal of every shipped rule and fingerprint (the literal
//     minus its last character, so each copy almost matches: the classic ReDoS input), once per
//     rule family and all families together;
//   * nested-looking constructs ("((((", "[[[[", "a-a-a-", "<<<<@@@@>>>>") and repeated reply
//     heads ("550 5.1.1 550 5.1.1 ...");
//   * invalid UTF-8 (lone continuation bytes, truncated en dashes, 0xff), and seeded random bytes.
// Two modes: `capped` is the shipped classifier (scan limit 64 KiB, the bounded time per event);
// `uncapped` lifts the limit to 4 MiB to show that the engines themselves are linear: ns/byte
// at 4 MiB stays within a small factor of ns/byte at 64 KiB. Before timing, both engines must
// pick the same rule for every text (exit 1 otherwise). Prints one row per text, size, engine
// and mode (best of `reps` runs, in thread CPU time so that other load on the machine does not
// count), then the maxima.
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "classify/classifier.h"

using namespace bouncestream::classify;

namespace {

double ThreadCpuNs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Family {
  std::string name;
  std::string unit;  // repeated to the size
};

// Literal runs (letters, digits, spaces) of a pattern, at least 4 bytes long.
std::vector<std::string> Literals(const std::string& pattern) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    if (cur.size() >= 4) out.push_back(cur);
    cur.clear();
  };
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char n = pattern[i + 1];
      if (n == 's') {
        cur.push_back(' ');
      } else if (n == '.' || n == '-' || n == '/' || n == '[' || n == ']' || n == '(' ||
                 n == ')') {
        cur.push_back(n);
      } else {
        flush();
      }
      ++i;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == ' ' || c == '-' || c == '#' || c == ':' || c == ',' || c == '@') {
      cur.push_back(c);
    } else {
      flush();
    }
  }
  flush();
  return out;
}

std::vector<Family> Families(const RuleSet& rules) {
  std::vector<Family> f;
  for (const char* run : {"a", " ", "5", ".", "-", "<", "@", "\t", "a ", "5."}) {
    f.push_back({std::string("run '") + run + "'", run});
  }
  f.push_back({"nested (((", "(((("});
  f.push_back({"nested [[[", "[[[["});
  f.push_back({"a-a-a-", "a-a-"});
  f.push_back({"<<@@>>", "<<<<@@@@>>>>"});
  f.push_back({"reply heads", "550 5.1.1 "});
  f.push_back({"utf8 lone cont", "\x80\xbf"});
  f.push_back({"utf8 trunc dash", "\xe2\x80"});
  f.push_back({"utf8 0xff", "\xff\xfe"});
  {
    std::mt19937 rng(42);
    std::string r(4096, '\0');
    for (char& c : r) c = static_cast<char>(rng());
    f.push_back({"random bytes", r});
  }
  // Almost-matching literal prefixes, per rule file (family) and all together.
  std::map<std::string, std::string> per_file;
  auto add = [&](const std::string& file, const std::string& pattern) {
    for (const std::string& lit : Literals(pattern)) {
      per_file[file] += lit.substr(0, lit.size() - 1);
      per_file[file] += ' ';
    }
  };
  for (const auto& r : rules.rules()) add(r.file, r.pattern);
  for (const auto& fp : rules.fingerprints()) add(fp.file, fp.pattern);
  std::string all;
  for (const auto& [file, unit] : per_file) {
    if (unit.empty()) continue;
    const std::string base = file.substr(file.find_last_of('/') + 1);
    f.push_back({"prefixes " + base, unit});
    all += unit;
  }
  f.push_back({"prefixes all", all});
  return f;
}

std::string Fill(const std::string& unit, std::size_t size) {
  std::string s;
  s.reserve(size);
  while (s.size() < size) s.append(unit, 0, std::min(unit.size(), size - s.size()));
  return s;
}

struct Row {
  double ns_event = 0;
  double ns_byte = 0;  // per byte scanned (min(size, cap))
  std::string_view rule;
};

Row Time(Classifier::Session& s, const std::string& text, std::size_t cap, int reps) {
  BounceEvent ev;
  ev.text = text;
  Row row;
  row.rule = s.Classify(ev).rule;  // warm
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const double t0 = ThreadCpuNs();
    const Classification c = s.Classify(ev);
    const double ns = ThreadCpuNs() - t0;
    best = std::min(best, ns);
    if (c.rule != row.rule) {
      std::fprintf(stderr, "unstable result\n");
      std::exit(1);
    }
  }
  row.ns_event = best;
  row.ns_byte = best / static_cast<double>(std::min(text.size(), cap));
  return row;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t max_bytes = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 4u << 20;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 3;
  auto rules = RuleSet::Load(DefaultRulesPath());
  if (!rules) {
    std::fprintf(stderr, "cannot load the shipped rules\n");
    return 1;
  }
  const std::size_t sizes[] = {64u << 10, 256u << 10, 1u << 20, 4u << 20};
  const std::vector<Family> families = Families(**rules);
  struct Mode {
    const char* name;
    std::size_t cap;
  };
  const Mode modes[] = {{"capped", ClassifierOptions{}.max_text_bytes}, {"uncapped", 4u << 20}};
  std::printf("%-26s %9s %-10s %-8s %12s %9s  %s\n", "text", "bytes", "engine", "mode",
              "ns/event", "ns/byte", "rule");
  int failures = 0;
  double max_event[2][2] = {};   // [mode][engine]
  double max_byte[2][2] = {};
  double worst_ratio[2] = {};    // uncapped: ns/byte at the largest size / at 64 KiB, per engine
  std::string worst_ratio_text[2];
  for (std::size_t m = 0; m < 2; ++m) {
    std::shared_ptr<const Classifier> c[2];
    for (int e = 0; e < 2; ++e) {
      const Engine engine = e == 0 ? Engine::kRe2Set : Engine::kVectorscan;
      auto made = Classifier::Create(*rules, {.engine = engine, .max_text_bytes = modes[m].cap});
      if (!made) return 1;
      c[e] = *made;
    }
    Classifier::Session s[2] = {Classifier::Session(c[0]), Classifier::Session(c[1])};
    for (const Family& f : families) {
      double first_ns_byte[2] = {0, 0};
      for (std::size_t size : sizes) {
        if (size > max_bytes) continue;
        const std::string text = Fill(f.unit, size);
        Row rows[2];
        for (int e = 0; e < 2; ++e) {
          rows[e] = Time(s[e], text, modes[m].cap, reps);
          max_event[m][e] = std::max(max_event[m][e], rows[e].ns_event);
          max_byte[m][e] = std::max(max_byte[m][e], rows[e].ns_byte);
          if (size == sizes[0]) first_ns_byte[e] = rows[e].ns_byte;
          if (m == 1 && first_ns_byte[e] > 0) {
            const double ratio = rows[e].ns_byte / first_ns_byte[e];
            if (ratio > worst_ratio[e]) {
              worst_ratio[e] = ratio;
              worst_ratio_text[e] = f.name + " @" + std::to_string(size);
            }
          }
          std::printf("%-26.26s %9zu %-10s %-8s %12.0f %9.3f  %.*s\n", f.name.c_str(), size,
                      e == 0 ? "re2set" : "vectorscan", modes[m].name, rows[e].ns_event,
                      rows[e].ns_byte, static_cast<int>(rows[e].rule.size()),
                      rows[e].rule.data());
        }
        if (rows[0].rule != rows[1].rule) {
          std::printf("  ENGINES DISAGREE on '%s' at %zu bytes\n", f.name.c_str(), size);
          ++failures;
        }
      }
    }
  }
  std::printf("\nsummary (%zu texts x %zu sizes, best of %d)\n", families.size(), std::size(sizes),
              reps);
  for (std::size_t m = 0; m < 2; ++m) {
    for (int e = 0; e < 2; ++e) {
      std::printf("  %-8s %-10s max %10.3f ms/event  max %7.3f ns/byte\n", modes[m].name,
                  e == 0 ? "re2set" : "vectorscan", max_event[m][e] / 1e6, max_byte[m][e]);
    }
  }
  for (int e = 0; e < 2; ++e) {
    std::printf("  uncapped %-10s worst ns/byte growth from 64 KiB: x%.2f (%s)\n",
                e == 0 ? "re2set" : "vectorscan", worst_ratio[e], worst_ratio_text[e].c_str());
  }
  std::printf("engine disagreements: %d\n", failures);
  return failures == 0 ? 0 : 1;
}
