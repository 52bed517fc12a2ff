// The subcommands of the `bouncestream` binary. Each returns the process exit code:
// 0 ok, 1 runtime error (or some input failed), 2 usage error.
#ifndef BOUNCESTREAM_STREAM_CLI_COMMANDS_H_
#define BOUNCESTREAM_STREAM_CLI_COMMANDS_H_

#include <string>
#include <vector>

namespace bouncestream::stream::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

struct RuleOptions {
  std::string rules_path;  // empty = the shipped rules
  std::string engine = "vectorscan";
};

struct ClassifyOptions {
  RuleOptions rules;
  std::vector<std::string> files;  // empty or "-" = stdin
  std::string format = "auto";
  std::string output = "json";  // json | table
  bool stats = false;
};
int RunClassify(const ClassifyOptions& options);

struct ExplainOptions {
  RuleOptions rules;
  std::string text;
  std::string mx;
  int code = 0;
  std::string status;
  bool json = false;
};
int RunExplain(const ExplainOptions& options);

int RunCheckRules(const std::string& path);

}  // namespace bouncestream::stream::cli

#endif  // BOUNCESTREAM_STREAM_CLI_COMMANDS_H_
