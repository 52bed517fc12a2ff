#include "stream/cli/rules_loader.h"

#include <cstdio>

namespace bouncestream::stream::cli {

std::shared_ptr<const classify::Classifier> LoadClassifier(const RuleOptions& options) {
  const auto engine = classify::ParseEngine(options.engine);
  if (!engine) {
    std::fprintf(stderr, "error: unknown engine '%s' (re2set or vectorscan)\n",
                 options.engine.c_str());
    return nullptr;
  }
  const std::filesystem::path path =
      options.rules_path.empty() ? classify::DefaultRulesPath()
                                 : std::filesystem::path(options.rules_path);
  auto rules = classify::RuleSet::Load(path);
  if (!rules) {
    for (const auto& e : rules.error()) std::fprintf(stderr, "error: %s\n", e.ToString().c_str());
    std::fprintf(stderr, "error: cannot load rules from %s (check them with "
                         "'bouncestream check-rules')\n", path.string().c_str());
    return nullptr;
  }
  auto classifier = classify::Classifier::Create(*rules, {.engine = *engine});
  if (!classifier) {
    for (const auto& e : classifier.error()) {
      std::fprintf(stderr, "error: %s\n", e.ToString().c_str());
    }
    return nullptr;
  }
  return *classifier;
}

}  // namespace bouncestream::stream::cli
