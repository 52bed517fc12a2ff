// `bouncestream explain` and `bouncestream check-rules`.
#include <cstdio>

#include "classify/check_rules.h"
#include "classify/explain.h"
#include "stream/cli/commands.h"
#include "stream/cli/rules_loader.h"
#include "stream/encode.h"
#include "stream/json_writer.h"

namespace bouncestream::stream::cli {

int RunExplain(const ExplainOptions& options) {
  auto classifier = LoadClassifier(options.rules);
  if (!classifier) return kExitRuntime;
  classify::Classifier::Session session(classifier);
  classify::BounceEvent ev;
  ev.text = options.text;
  ev.mx = options.mx;
  ev.smtp_code = options.code;
  ev.enhanced_code = options.status;
  ev.type = (options.code >= 400 && options.code < 500) ? classify::EventType::kDeferral
                                                         : classify::EventType::kBounce;
  std::vector<std::string_view> matched;
  const auto c = session.Trace(ev, &matched);
  if (options.json) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    w.Field("text", ev.text);
    w.Field("mx", ev.mx);
    w.Key("classification");
    WriteClassification(w, c);
    w.Field("who", classify::DescribeParty(c.party));
    w.Field("what_to_do", classify::DescribeAction(c.action));
    w.Key("matched");
    w.BeginArray();
    for (auto id : matched) w.String(id);
    w.EndArray();
    w.EndObject();
    std::printf("%s\n", out.c_str());
  } else {
    std::fputs(classify::ExplainText(c).c_str(), stdout);
    if (!matched.empty()) {
      std::string list;
      for (auto id : matched) {
        if (!list.empty()) list += ", ";
        list += id;
      }
      std::printf("matched:    %s\n", list.c_str());
    }
  }
  return kExitOk;
}

int RunCheckRules(const std::string& path) {
  const std::filesystem::path p =
      path.empty() ? classify::DefaultRulesPath() : std::filesystem::path(path);
  const auto report = classify::CheckRules(p);
  for (const auto& e : report.errors) std::fprintf(stderr, "%s\n", e.ToString().c_str());
  if (!report.ok()) {
    std::fprintf(stderr, "check-rules: %zu problem(s) in %s\n", report.errors.size(),
                 p.string().c_str());
    return kExitRuntime;
  }
  std::printf("check-rules: ok: %zu files, %zu rules, %zu fingerprints, %zu mx suffixes, "
              "%zu examples checked with both engines\nversion: %s\n",
              report.files, report.rules, report.fingerprints, report.mx_suffixes,
              report.examples_checked, report.version.c_str());
  return kExitOk;
}

}  // namespace bouncestream::stream::cli
