// bouncestream: one binary, subcommands. Exit codes: 0 ok, 1 runtime error, 2 usage.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "stream/cli/commands.h"

namespace {

using bouncestream::stream::cli::kExitUsage;

void AddRuleOptions(CLI::App* cmd, bouncestream::stream::cli::RuleOptions* rules) {
  cmd->add_option("--rules", rules->rules_path,
                  "Rule file or directory (default: the shipped rules, or $BOUNCESTREAM_RULES)");
  cmd->add_option("--engine", rules->engine, "Pattern engine: re2set or vectorscan")
      ->capture_default_str();
}

// Flags that would carry a secret on argv: accepted by the parser only to be refused with a
// clear message (secrets come from files or the environment).
void AddRefusedSecrets(CLI::App* cmd, std::vector<std::string>* refused) {
  for (const char* name : {"--admin-token", "--token", "--hmac-key", "--password",
                           "--sasl-password", "--ssl-key-password"}) {
    cmd->add_option_function<std::string>(
           name, [refused, name](const std::string&) { refused->push_back(name); },
           "Refused: secrets never on the command line")
        ->group("");
  }
}

// Options of the state subcommands that talk to Kafka.
void AddStateKafkaOptions(CLI::App* cmd, bouncestream::stream::cli::StateOptions* o) {
  cmd->add_option("--bootstrap", o->bootstrap, "Kafka bootstrap servers HOST:PORT[,...]");
  cmd->add_option("--group", o->group,
                  "Consumer group id (= application.id; names <group>-state-changelog)");
  cmd->add_option("--config", o->config_file,
                  "TOML config file of the group (topics, Kafka properties, [admin] token.file, "
                  "[state] hmac_key.file)");
  cmd->add_option("-X", o->kafka_props, "librdkafka property key=value (repeatable; no secrets)");
  cmd->add_option("--admin-token-file", o->admin_token_file,
                  "File holding the admin token (or BOUNCESTREAM_ADMIN_TOKEN[_FILE]): send a "
                  "signed admin command to a running group instead of opening --state-dir");
  cmd->add_option("--timeout-ms", o->timeout_ms, "How long to wait for delivery acknowledgements")
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

  cli::DevbrokerOptions devbroker_opts;
  auto* devbroker = app.add_subcommand(
      "devbroker",
      "Local Kafka broker for tests and demos (librdkafka's mock cluster; data in memory only)");
  devbroker->add_option("--port", devbroker_opts.port, "Fixed bootstrap port on 127.0.0.1")
      ->capture_default_str();
  devbroker->add_option("--brokers", devbroker_opts.brokers, "Number of mock brokers")
      ->capture_default_str();
  devbroker->add_option("--topic", devbroker_opts.topics,
                        "NAME:PARTITIONS, created before any client connects (repeatable)");
  devbroker->add_option("--control", devbroker_opts.control,
                        "Unix socket for fault injection (down/up/rtt/err ... one per line)");
  devbroker->add_option("--bootstrap-file", devbroker_opts.bootstrap_file,
                        "Write the bootstrap address here once ready");

  cli::RunOptions run_opts;
  auto* run = app.add_subcommand(
      "run", "The stream processor: join a consumer group, classify, produce to Kafka");
  run->add_option("--config", run_opts.config_file, "TOML config file (see bouncestream.example.toml)");
  run->add_option("--bootstrap", run_opts.bootstrap, "Kafka bootstrap servers HOST:PORT[,...]");
  run->add_option("--group", run_opts.group, "Consumer group id (= application.id)");
  run->add_option("--input", run_opts.inputs, "Input topic TOPIC[:FORMAT] (repeatable; format auto)");
  run->add_option("--state-dir", run_opts.state_dir, "Directory for local state");
  run->add_option("--metrics-addr", run_opts.metrics_addr, "HOST:PORT for /metrics");
  run->add_option("--rules", run_opts.rules.rules_path, "Rule file or directory");
  run->add_option("--engine", run_opts.engine, "Pattern engine: re2set or vectorscan");
  run->add_option("-X", run_opts.kafka_props,
                  "librdkafka property key=value for consumer and producer (repeatable; no secrets)");
  run->add_option("--profile", run_opts.profile,
                  "dev (default) or production (refuses plaintext and disabled TLS checks)");
  run->add_flag("--allow-plaintext", run_opts.allow_plaintext,
                "With --profile production: allow a plaintext connection anyway");
  run->add_flag("--print-config", run_opts.print_config,
                "Print the effective configuration (secrets redacted) and exit");
  // run and demo: refused here (an unknown option would be echoed back by the parser, value and
  // all); RunState refuses them for the state subcommands.
  std::vector<std::string> argv_secrets;
  AddRefusedSecrets(run, &argv_secrets);

  cli::DemoOptions demo_opts;
  auto* demo = app.add_subcommand(
      "demo", "Dev broker + realistic traffic + the processor, with a live summary");
  demo->add_option("--duration", demo_opts.duration_s, "Seconds of traffic")->capture_default_str();
  demo->add_option("--rate", demo_opts.rate, "Records per second")->capture_default_str();
  demo->add_option("--port", demo_opts.port, "Dev broker port")->capture_default_str();
  demo->add_option("--bootstrap", demo_opts.bootstrap,
                   "Use this Kafka cluster instead of the dev broker (topic bounces.in must exist)");
  demo->add_option("--work-dir", demo_opts.work_dir, "Where logs and state go (default: a temp dir)");
  demo->add_option("--metrics-addr", demo_opts.metrics_addr,
                   "Where the processor serves its status page and /metrics")
      ->capture_default_str();
  AddRefusedSecrets(demo, &argv_secrets);

  cli::StateOptions state_opts;
  auto* state = app.add_subcommand(
      "state", "Decision state: query, lift, erase, export, import, summary (offline on a "
               "stopped --state-dir, or via the admin topic for a running group)");
  state->require_subcommand(1);
  auto add_state_dir = [&state_opts](CLI::App* cmd) {
    return cmd->add_option("--state-dir", state_opts.state_dir, "State directory (RocksDB)");
  };
  auto add_hmac = [&state_opts](CLI::App* cmd) {
    cmd->add_option("--hmac-key-file", state_opts.hmac_key_file,
                    "File holding the HMAC key when recipients are hashed ([state] "
                    "hash_recipients); the address is hashed before the look-up");
  };
  auto* st_query = state->add_subcommand(
      "query", "Every active decision about a recipient, with its evidence and rule");
  add_state_dir(st_query)->required();
  st_query->add_option("recipient", state_opts.recipient, "The recipient address")->required();
  st_query->add_option("--tenant", state_opts.tenant, "Only this tenant (default: every tenant)");
  st_query->add_option("--output", state_opts.output, "json (one decision per line) or table")
      ->capture_default_str();
  add_hmac(st_query);
  st_query->add_option("--config", state_opts.config_file, "TOML config file (policy, [state])");
  AddRefusedSecrets(st_query, &state_opts.argv_secrets);

  auto* st_lift = state->add_subcommand(
      "lift", "Lift a suppression or pause (resume) by decision id; prints the lift record");
  st_lift->add_option("decision_id", state_opts.decision_id, "The decision id (16 hex digits)")
      ->required();
  st_lift->add_option("--note", state_opts.note, "Why (published and audited; no addresses)");
  add_state_dir(st_lift);
  AddStateKafkaOptions(st_lift, &state_opts);
  AddRefusedSecrets(st_lift, &state_opts.argv_secrets);

  auto* st_erase = state->add_subcommand(
      "erase", "GDPR: delete every window and decision of a recipient; tombstones are "
               "published; the address is never printed back");
  st_erase->add_option("recipient", state_opts.recipient, "The recipient address")->required();
  st_erase->add_option("--tenant", state_opts.tenant, "Only this tenant (default: every tenant)");
  add_state_dir(st_erase);
  add_hmac(st_erase);
  AddStateKafkaOptions(st_erase, &state_opts);
  AddRefusedSecrets(st_erase, &state_opts.argv_secrets);

  auto* st_export = state->add_subcommand(
      "export", "Every active decision as CSV or JSON lines (read-only)");
  add_state_dir(st_export)->required();
  st_export->add_option("--format", state_opts.format, "csv (default) or jsonl");
  st_export->add_option("--kind", state_opts.kind, "Only suppress, pause or alert decisions");
  st_export->add_option("--config", state_opts.config_file, "TOML config file");
  AddRefusedSecrets(st_export, &state_opts.argv_secrets);

  auto* st_import = state->add_subcommand(
      "import", "Import another provider's suppression list (CSV with an email column, or JSON "
                "lines, or our own export)");
  st_import->add_option("file", state_opts.file, "The list (CSV or JSON lines)")->required();
  add_state_dir(st_import);
  st_import->add_option("--format", state_opts.format, "csv or jsonl (default: by extension)");
  st_import->add_option("--source", state_opts.source,
                        "Name of the list's origin: the note and rule import.<source>")
      ->capture_default_str();
  st_import->add_option("--reason", state_opts.reason, "Reason for rows without one")
      ->capture_default_str();
  st_import->add_option("--tenant", state_opts.tenant, "Tenant for rows without one");
  st_import->add_option("--partitions", state_opts.partitions,
                        "Partition count of the classified topic (offline without --bootstrap)");
  add_hmac(st_import);
  AddStateKafkaOptions(st_import, &state_opts);
  AddRefusedSecrets(st_import, &state_opts.argv_secrets);

  auto* st_summary = state->add_subcommand(
      "summary", "Per partition: next offset, watermark, window keys, active decisions, hash");
  add_state_dir(st_summary)->required();
  st_summary->add_flag("--json", state_opts.json, "One stable JSON object");
  AddRefusedSecrets(st_summary, &state_opts.argv_secrets);

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
  if (!argv_secrets.empty()) {
    std::fprintf(stderr,
                 "error: %s: secrets are never accepted on the command line (they would show in "
                 "ps, /proc/PID/cmdline and shell history); give them in the config file as "
                 "<key>.file = PATH or in BOUNCESTREAM_* environment variables (see "
                 "bouncestream.example.toml)\n",
                 argv_secrets.front().c_str());
    return kExitUsage;
  }
  if (*classify) return cli::RunClassify(classify_opts);
  if (*explain) return cli::RunExplain(explain_opts);
  if (*check) return cli::RunCheckRules(check_path);
  if (*devbroker) return cli::RunDevbroker(devbroker_opts);
  if (*run) return cli::RunProcessor(run_opts);
  if (*demo) return cli::RunDemo(demo_opts);
  if (*state) {
    if (*st_query) state_opts.command = cli::StateCommand::kQuery;
    if (*st_lift) state_opts.command = cli::StateCommand::kLift;
    if (*st_erase) state_opts.command = cli::StateCommand::kErase;
    if (*st_export) state_opts.command = cli::StateCommand::kExport;
    if (*st_import) state_opts.command = cli::StateCommand::kImport;
    if (*st_summary) state_opts.command = cli::StateCommand::kSummary;
    return cli::RunState(state_opts);
  }
  return kExitUsage;
}
