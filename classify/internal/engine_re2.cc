// RE2::Set engine: all patterns in one DFA, caseless, Latin-1 (byte) semantics.
//
// Wide counted repeats (`.{0,60}`, `[^\n]{0,160}`, `[^>]{0,255}`, `\S{1,64}`) make the
// Set's lazy DFA large: every position inside every repeat in flight is its own state, and the
// states of patterns in flight at once multiply. So the Set holds a relaxed form of each such
// pattern (`.{0,60}` becomes `.*`, `[^>]{0,255}` becomes `[^>]*`: a superset of the texts), and a
// hit of a relaxed pattern is confirmed with the exact pattern alone (one RE2 per relaxed
// pattern). The hits are therefore exactly those of the exact patterns.
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>
#include <string>

#include "classify/internal/match_engine.h"

namespace bouncestream::classify::internal {
namespace {

RE2::Options SetOptions() {
  RE2::Options options;
  options.set_case_sensitive(false);
  options.set_encoding(RE2::Options::EncodingLatin1);
  options.set_never_capture(true);
  options.set_log_errors(false);
  options.set_max_mem(int64_t{256} << 20);  // room for the DFA of a few hundred rules
  return options;
}

// `pattern` with every wide counted repeat of a wide atom (`.`, `\S` or a negated class
// `[^...]`, outside character classes) replaced by `*` (m = 0) or `+` (m >= 1): `{m,n}` with
// n - m >= 4, and `{m,}` or `{m,n}` with m >= 4. Repeats of narrow atoms (`\d`, `\W`,
// `[-\s\d.]`, `[a-z0-9.-]`) stay exact: they add few DFA states, and relaxed they would need a
// confirm on many texts. The result matches a superset of the texts the pattern matches;
// nullopt when there is no such repeat.
std::optional<std::string> RelaxWideRepeats(std::string_view pattern) {
  std::string out;
  out.reserve(pattern.size());
  bool changed = false;
  bool in_class = false;
  bool negated_class = false;
  bool wide_atom = false;  // the last atom emitted is `.`, `\S` or a negated class
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out += c;
      out += pattern[++i];
      if (!in_class) wide_atom = pattern[i] == 'S';
      continue;
    }
    if (in_class) {
      if (c == ']') {
        in_class = false;
        wide_atom = negated_class;
      }
      out += c;
      continue;
    }
    if (c == '[') {
      in_class = true;
      negated_class = false;
      out += c;
      // A ']' right after '[' or '[^' is a literal member.
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') {
        out += pattern[++i];
        negated_class = true;
      }
      if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];
      continue;
    }
    if (c == '{' && wide_atom) {
      std::size_t j = i + 1;
      auto number = [&](int* v) {
        const std::size_t start = j;
        *v = 0;
        while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j])) &&
               j - start < 6) {
          *v = *v * 10 + (pattern[j++] - '0');
        }
        return j > start;
      };
      int m = 0;
      int n = -1;  // -1: no upper bound
      if (number(&m) && j < pattern.size() && pattern[j] == ',') {
        ++j;
        if (!number(&n)) n = -1;
        if (j < pattern.size() && pattern[j] == '}' && (m >= 4 || (n >= 0 && n - m >= 4))) {
          out += m == 0 ? "*" : "+";
          i = j;
          changed = true;
          wide_atom = false;
          continue;
        }
      }
    }
    wide_atom = c == '.';
    out += c;
  }
  if (!changed) return std::nullopt;
  return out;
}

class Re2Scratch final : public EngineScratch {
 public:
  std::vector<int> matches;
};

class Re2SetEngine final : public MatchEngine {
 public:
  Re2SetEngine() : set_(SetOptions(), RE2::UNANCHORED) {}

  // One pass over the patterns: each is parsed once (a relaxed one twice: its exact RE2 and its
  // relaxed form in the Set). A pattern RE2 rejects is reported with its file:line and the pass
  // goes on, so every bad pattern is listed; the Set is then not compiled.
  std::vector<RuleError> Build(const std::vector<PatternSpec>& patterns) {
    std::vector<RuleError> errors;
    exact_.resize(patterns.size());
    // Scan() maps Set indices to rule patterns: index i must be pattern i (after a rejected
    // pattern the indices shift, but then the Set is not used).
    auto misplaced = [&](const PatternSpec& p, int got, std::size_t want) {
      if (!errors.empty() || got == static_cast<int>(want)) return false;
      errors.push_back({std::string(p.file), p.line,
                        "pattern of '" + std::string(p.id) + "' (RE2, scan set): index " +
                            std::to_string(got) + " instead of " + std::to_string(want)});
      return true;
    };
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      const auto& p = patterns[i];
      std::string error;
      if (auto relaxed = RelaxWideRepeats(p.pattern)) {
        // A relaxed form that RE2 rejects, or an exact pattern RE2 cannot compile alone, leaves
        // the exact pattern in the Set.
        auto exact = std::make_unique<RE2>(p.pattern, SetOptions());
        if (exact->ok()) {
          if (const int got = set_.Add(*relaxed, &error); got >= 0) {
            if (misplaced(p, got, i)) return errors;
            exact_[i] = std::move(exact);
            continue;
          }
          error.clear();
        }
      }
      const int got = set_.Add(p.pattern, &error);
      if (got < 0) {
        errors.push_back({std::string(p.file), p.line,
                          "pattern of '" + std::string(p.id) + "' (RE2): " + error});
        continue;
      }
      if (misplaced(p, got, i)) return errors;
    }
    if (errors.empty() && !set_.Compile()) {
      errors.push_back({"", 0, "RE2::Set failed to compile (out of memory?)"});
    }
    return errors;
  }

  std::unique_ptr<EngineScratch> NewScratch() const override {
    return std::make_unique<Re2Scratch>();
  }

  void Scan(std::string_view text, EngineScratch& scratch,
            std::vector<unsigned>* hits) const override {
    auto& s = static_cast<Re2Scratch&>(scratch);
    s.matches.clear();
    set_.Match(text, &s.matches);
    std::sort(s.matches.begin(), s.matches.end());
    for (int m : s.matches) {
      const auto& exact = exact_[static_cast<std::size_t>(m)];
      if (exact != nullptr && !RE2::PartialMatch(text, *exact)) continue;
      hits->push_back(static_cast<unsigned>(m));
    }
  }

 private:
  RE2::Set set_;
  // By pattern index; set where the Set holds a relaxed form.
  std::vector<std::unique_ptr<RE2>> exact_;
};

}  // namespace

std::expected<std::unique_ptr<MatchEngine>, std::vector<RuleError>> CreateRe2SetEngine(
    const std::vector<PatternSpec>& patterns) {
  auto engine = std::make_unique<Re2SetEngine>();
  auto errors = engine->Build(patterns);
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return engine;
}

std::expected<std::unique_ptr<MatchEngine>, std::vector<RuleError>> MatchEngine::Create(
    Engine engine, const std::vector<PatternSpec>& patterns) {
  switch (engine) {
    case Engine::kRe2Set: return CreateRe2SetEngine(patterns);
    case Engine::kVectorscan: return CreateVectorscanEngine(patterns);
  }
  return std::unexpected(std::vector<RuleError>{{"", 0, "unknown engine"}});
}

}  // namespace bouncestream::classify::internal
