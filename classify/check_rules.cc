#include "classify/check_rules.h"

#include <algorithm>
#include <map>

#include "classify/classifier.h"

namespace bouncestream::classify {
namespace {

BounceEvent EventOf(const RuleExample& ex) {
  BounceEvent ev;
  ev.text = ex.text;
  ev.mx = ex.mx;
  ev.smtp_code = ex.smtp_code;
  ev.enhanced_code = ex.enhanced_code;
  ev.type = ex.type;
  return ev;
}

std::string Where(const RuleSet& set, std::string_view rule_id) {
  for (const auto& r : set.rules()) {
    if (r.id == rule_id) return " (" + r.file + ":" + std::to_string(r.line) + ")";
  }
  return {};
}

}  // namespace

CheckReport CheckRules(const std::filesystem::path& path) {
  CheckReport report;
  auto loaded = RuleSet::Load(path);
  if (!loaded) {
    report.errors = std::move(loaded.error());
    return report;
  }
  const RuleSet& set = **loaded;
  report.files = set.files().size();
  report.rules = set.rules().size();
  report.fingerprints = set.fingerprints().size();
  report.mx_suffixes = set.mx_fingerprints().size();
  report.version = set.version();

  // Both engines must accept every pattern, so switching engines never changes what loads.
  std::vector<std::shared_ptr<const Classifier>> classifiers;
  for (Engine engine : {Engine::kRe2Set, Engine::kVectorscan}) {
    auto c = Classifier::Create(*loaded, {.engine = engine});
    if (!c) {
      report.errors.insert(report.errors.end(), c.error().begin(), c.error().end());
    } else {
      classifiers.push_back(*c);
    }
  }
  if (classifiers.size() != 2) return report;
  Classifier::Session re2(classifiers[0]);
  Classifier::Session hs(classifiers[1]);

  auto check_example = [&](const Rule& r, const RuleExample& ex, bool counter) {
    ++report.examples_checked;
    const BounceEvent ev = EventOf(ex);
    const Classification a = re2.Classify(ev);
    const Classification b = hs.Classify(ev);
    if (a.rule != b.rule) {
      report.errors.push_back({r.file, ex.line,
                               "engines disagree on an example of '" + r.id + "': re2set says '" +
                                   std::string(a.rule) + "', vectorscan says '" +
                                   std::string(b.rule) + "'"});
      return;
    }
    if (!counter && a.rule != r.id) {
      report.errors.push_back(
          {r.file, ex.line,
           "example of '" + r.id + "' is decided by '" + std::string(a.rule) + "'" +
               Where(set, a.rule) +
               (a.rule == "none" ? " (no rule matched)" : " (an earlier rule takes it)")});
    }
    if (counter && a.rule == r.id) {
      report.errors.push_back(
          {r.file, ex.line, "counter-example of '" + r.id + "' is decided by that rule"});
    }
  };
  for (const Rule& r : set.rules()) {
    for (const auto& ex : r.examples) check_example(r, ex, false);
    for (const auto& ex : r.counter_examples) check_example(r, ex, true);
  }
  for (const Fingerprint& fp : set.fingerprints()) {
    for (const auto& ex : fp.examples) {
      ++report.examples_checked;
      std::vector<std::string_view> matched;
      re2.Trace(EventOf(ex), &matched);
      if (std::find(matched.begin(), matched.end(), fp.id) == matched.end()) {
        report.errors.push_back(
            {fp.file, ex.line, "example of fingerprint '" + fp.id + "' does not match it"});
      }
    }
  }
  return report;
}

}  // namespace bouncestream::classify
