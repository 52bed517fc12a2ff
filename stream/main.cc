// bouncestream: one binary, subcommands. Exit codes: 0 ok, 1 runtime error, 2 usage.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "stream/cli/commands.h"

namespace {

using bouncestream::stream::cli::kExitUsage;

void AddRuleOptions(CLI::App* cmd, bouncestream::stream::cli::RuleOptions* rules) {
  cmd->add_option("--rules", rules->rules_path,
                  "Rule file or directory (default: the shipped rules, or $BOUNCESTREAM_RULES)");
  cmd->add_option("--engine", rules->engine, "Pattern engine: vectorscan or re2set")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = bouncestream::stream::cli;
  CLI::App app{"bouncestream: classify bounces and attribute who is blocking (filter platform, "
               "recipient admin, end user), as a Kafka stream processor"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(BOUNCESTREAM_VERSION));

  cli::ClassifyOptions classify_opts;
  auto* classify = app.add_subcommand(
      "classify", "Classify events from files or stdin; one JSON object per line out");
  classify->add_option("files", classify_opts.files, "Input files (NDJSON or a JSON array); - = stdin");
  classify->add_option("--format", classify_opts.format,
                       "Input format: auto, canonical, kumomta, powermta, postfix, postal, ses, "
                       "sendgrid, mailgun, postmark, sparkpost")
      ->capture_default_str();
  classify->add_option("--output", classify_opts.output, "json (NDJSON) or table")
      ->capture_default_str();
  classify->add_flag("--stats", classify_opts.stats,
                     "Print counts by party, vendor and reason at the end (stderr for json)");
  AddRuleOptions(classify, &classify_opts.rules);

  cli::ExplainOptions explain_opts;
  auto* explain = app.add_subcommand(
      "explain", "Explain one reply text: who blocked, why, what to do, the rule, confidence");
  explain->add_option("text", explain_opts.text, "The SMTP reply / diagnostic text")->required();
  explain->add_option("--mx", explain_opts.mx, "Remote host that answered (MX / Remote-MTA)");
  explain->add_option("--code", explain_opts.code, "SMTP reply code, if not in the text");
  explain->add_option("--status", explain_opts.status, "Enhanced status code (5.7.1)");
  explain->add_flag("--json", explain_opts.json, "Print JSON instead of text");
  AddRuleOptions(explain, &explain_opts.rules);

  std::string check_path;
  auto* check = app.add_subcommand(
      "check-rules", "Validate rule files: syntax, ids, patterns in both engines, examples");
  check->add_option("path", check_path, "Rule file or directory (default: the shipped rules)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  if (*classify) return cli::RunClassify(classify_opts);
  if (*explain) return cli::RunExplain(explain_opts);
  if (*check) return cli::RunCheckRules(check_path);
  return kExitUsage;
}
