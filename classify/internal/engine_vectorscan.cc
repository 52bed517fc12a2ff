// Vectorscan (Hyperscan API) engine: block mode, caseless, one match report per pattern.
#include <hs/hs.h>

#include <algorithm>

#include "classify/internal/match_engine.h"

namespace bouncestream::classify::internal {
namespace {

class HsScratch final : public EngineScratch {
 public:
  explicit HsScratch(hs_scratch_t* s) : scratch(s) {}
  ~HsScratch() override { hs_free_scratch(scratch); }
  hs_scratch_t* scratch;
};

int OnMatch(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
            unsigned int /*flags*/, void* context) {
  static_cast<std::vector<unsigned>*>(context)->push_back(id);
  return 0;  // keep scanning: every pattern reports once (SINGLEMATCH)
}

class VectorscanEngine final : public MatchEngine {
 public:
  ~VectorscanEngine() override {
    hs_free_scratch(prototype_);
    hs_free_database(db_);
  }

  std::vector<RuleError> Build(const std::vector<PatternSpec>& patterns) {
    std::vector<RuleError> errors;
    std::vector<std::string> owned;
    owned.reserve(patterns.size());
    std::vector<const char*> expressions;
    std::vector<unsigned> flags(patterns.size(), HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH);
    std::vector<unsigned> ids(patterns.size());
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      owned.emplace_back(patterns[i].pattern);
      ids[i] = static_cast<unsigned>(i);
    }
    for (const auto& s : owned) expressions.push_back(s.c_str());
    if (patterns.empty()) return errors;
    hs_compile_error_t* error = nullptr;
    if (hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                         static_cast<unsigned>(expressions.size()), HS_MODE_BLOCK, nullptr, &db_,
                         &error) != HS_SUCCESS) {
      const int at = error != nullptr ? error->expression : -1;
      std::string message = error != nullptr ? error->message : "unknown error";
      if (at >= 0 && static_cast<std::size_t>(at) < patterns.size()) {
        const auto& p = patterns[static_cast<std::size_t>(at)];
        errors.push_back({std::string(p.file), p.line,
                          "pattern of '" + std::string(p.id) + "' (Vectorscan): " + message});
      } else {
        errors.push_back({"", 0, "Vectorscan compile: " + message});
      }
      hs_free_compile_error(error);
      return errors;
    }
    if (hs_alloc_scratch(db_, &prototype_) != HS_SUCCESS) {
      errors.push_back({"", 0, "Vectorscan: cannot allocate scratch"});
    }
    return errors;
  }

  std::unique_ptr<EngineScratch> NewScratch() const override {
    hs_scratch_t* copy = nullptr;
    if (prototype_ != nullptr) hs_clone_scratch(prototype_, &copy);
    return std::make_unique<HsScratch>(copy);
  }

  void Scan(std::string_view text, EngineScratch& scratch,
            std::vector<unsigned>* hits) const override {
    if (db_ == nullptr) return;
    auto& s = static_cast<HsScratch&>(scratch);
    const std::size_t first = hits->size();
    hs_scan(db_, text.data(), static_cast<unsigned>(text.size()), 0, s.scratch, OnMatch, hits);
    std::sort(hits->begin() + static_cast<std::ptrdiff_t>(first), hits->end());
  }

 private:
  hs_database_t* db_ = nullptr;
  hs_scratch_t* prototype_ = nullptr;
};

}  // namespace

std::expected<std::unique_ptr<MatchEngine>, std::vector<RuleError>> CreateVectorscanEngine(
    const std::vector<PatternSpec>& patterns) {
  auto engine = std::make_unique<VectorscanEngine>();
  auto errors = engine->Build(patterns);
  if (!errors.empty()) return std::unexpected(std::move(errors));
  return engine;
}

}  // namespace bouncestream::classify::internal
