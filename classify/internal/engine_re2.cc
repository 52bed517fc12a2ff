// RE2::Set engine: all patterns in one DFA, caseless, Latin-1 (byte) semantics.
#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>

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

class Re2Scratch final : public EngineScratch {
 public:
  std::vector<int> matches;
};

class Re2SetEngine final : public MatchEngine {
 public:
  Re2SetEngine() : set_(SetOptions(), RE2::UNANCHORED) {}

  std::vector<RuleError> Build(const std::vector<PatternSpec>& patterns) {
    std::vector<RuleError> errors;
    for (const auto& p : patterns) {
      std::string error;
      if (set_.Add(p.pattern, &error) < 0) {
        errors.push_back({std::string(p.file), p.line,
                          "pattern of '" + std::string(p.id) + "' (RE2): " + error});
      }
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
    for (int m : s.matches) hits->push_back(static_cast<unsigned>(m));
  }

 private:
  RE2::Set set_;
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
