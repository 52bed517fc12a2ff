// `bouncestream run`: the stream processor (a consumer-group member).
#include <csignal>
#include <cstdio>

#include "stream/cli/commands.h"
#include "stream/cli/rules_loader.h"
#include "stream/config.h"
#include "stream/log.h"
#include "stream/processor.h"

namespace bouncestream::stream::cli {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop.store(true); }

}  // namespace

void InstallStopHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
}

std::atomic<bool>& StopFlag() { return g_stop; }

int RunProcessor(const RunOptions& options) {
  ConfigSources sources;
  sources.file_path = options.config_file;
  sources.env = EnvFromEnviron();
  if (!options.bootstrap.empty()) sources.bootstrap = options.bootstrap;
  if (!options.group.empty()) sources.group = options.group;
  if (!options.state_dir.empty()) sources.state_dir = options.state_dir;
  if (!options.metrics_addr.empty()) sources.metrics_addr = options.metrics_addr;
  if (!options.rules.rules_path.empty()) sources.rules_path = options.rules.rules_path;
  if (!options.engine.empty()) sources.engine = options.engine;
  if (!options.profile.empty()) sources.profile = options.profile;
  if (options.allow_plaintext) sources.allow_plaintext = true;
  sources.inputs = options.inputs;
  sources.kafka_props = options.kafka_props;
  auto config = LoadConfig(sources);
  if (!config) {
    std::fprintf(stderr, "error: %s\n", config.error().c_str());
    return kExitUsage;
  }
  if (options.print_config) {
    std::fputs(PrintConfig(*config).c_str(), stdout);
    return kExitOk;
  }
  RuleOptions rules;
  rules.rules_path = config->rules_path;
  rules.engine = config->engine;
  auto classifier = LoadClassifier(rules);
  if (!classifier) return kExitRuntime;
  InstallStopHandlers();
  auto processor = Processor::Create(*config, classifier);
  if (!processor) {
    Log(LogLevel::kError, "cannot start the processor", {{"error", std::string_view(processor.error())}});
    return kExitRuntime;
  }
  return (*processor)->Run(g_stop);
}

}  // namespace bouncestream::stream::cli
