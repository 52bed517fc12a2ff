// The multi-pattern engines behind the classifier. One scan of the text reports every pattern
// that matches; the classifier then walks the hits in rule order.
#ifndef BOUNCESTREAM_CLASSIFY_INTERNAL_MATCH_ENGINE_H_
#define BOUNCESTREAM_CLASSIFY_INTERNAL_MATCH_ENGINE_H_

#include <expected>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"
#include "classify/rule_set.h"

namespace bouncestream::classify::internal {

struct PatternSpec {
  std::string_view pattern;
  std::string_view id;
  std::string_view file;
  int line = 0;
};

class EngineScratch {
 public:
  virtual ~EngineScratch() = default;
};

class MatchEngine {
 public:
  virtual ~MatchEngine() = default;
  static std::expected<std::unique_ptr<MatchEngine>, std::vector<RuleError>> Create(
      Engine engine, const std::vector<PatternSpec>& patterns);

  virtual std::unique_ptr<EngineScratch> NewScratch() const = 0;
  // Appends the index of every matching pattern to `hits`, in ascending order.
  virtual void Scan(std::string_view text, EngineScratch& scratch,
                    std::vector<unsigned>* hits) const = 0;
};

std::expected<std::unique_ptr<MatchEngine>, std::vector<RuleError>> CreateRe2SetEngine(
    const std::vector<PatternSpec>& patterns);
std::expected<std::unique_ptr<MatchEngine>, std::vector<RuleError>> CreateVectorscanEngine(
    const std::vector<PatternSpec>& patterns);

}  // namespace bouncestream::classify::internal

#endif  // BOUNCESTREAM_CLASSIFY_INTERNAL_MATCH_ENGINE_H_
