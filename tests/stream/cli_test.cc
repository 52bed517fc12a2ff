// Runs the real `bouncestream` binary the way a user does and checks output and exit codes.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

namespace {

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string Slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Result RunCli(const std::string& args, const std::string& stdin_text = "") {
  static int counter = 0;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("bouncestream_cli_" + std::to_string(::getpid()) + "_" +
                    std::to_string(counter++));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in") << stdin_text;
  const std::string cmd = std::string(BOUNCESTREAM_BINARY) + " " + args + " <" +
                          (dir / "in").string() + " >" + (dir / "out").string() + " 2>" +
                          (dir / "err").string();
  const int status = std::system(cmd.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = Slurp(dir / "out");
  r.err = Slurp(dir / "err");
  std::filesystem::remove_all(dir);
  return r;
}

int CountLines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(CliTest, ClassifyGoesOnPastMalformedLinesAndFailsAtTheEnd) {
  const std::string input =
      "{\"id\":\"1\",\"text\":\"550 5.1.1 <a@b.example>: Recipient address rejected: User unknown\"}\n"
      "this is not json\n"
      "\n"
      "[1,2,3]\n"
      "{\"id\":\"2\",\"text\":\"550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550\"}\n";
  const auto r = RunCli("classify --stats", input);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(CountLines(r.out), 2) << r.out;
  EXPECT_NE(r.out.find("\"classification\":{"), std::string::npos);
  EXPECT_NE(r.out.find("\"party\":\"end_user\""), std::string::npos);
  EXPECT_NE(r.err.find("\"line\":2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"line\":4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\"kind\":\"not_object\""), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("records failed: 2"), std::string::npos) << r.err;
}

TEST(CliTest, ClassifyReadsAJsonArrayFileAndPrintsATable) {
  const auto file = std::filesystem::temp_directory_path() / "bouncestream_cli_array.json";
  std::ofstream(file) << "[\n {\"text\": \"550 5.1.1 no such user\"},\n {\"text\": \"452 4.2.2 mailbox full\"}\n]\n";
  const auto r = RunCli("classify --output table " + file.string());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(CountLines(r.out), 3) << r.out;  // header + 2 rows
  EXPECT_NE(r.out.find("party"), std::string::npos);
  std::filesystem::remove(file);
}

TEST(CliTest, ClassifyShippedSamplesCleanly) {
  const auto r = RunCli(std::string("classify ") + BOUNCESTREAM_SOURCE_DIR + "/samples/events.ndjson");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_GE(CountLines(r.out), 20);
}

TEST(CliTest, ExplainSaysWhoAndWhat) {
  const auto r = RunCli(
      "explain --mx us-smtp-inbound-1.mimecast.com '550 Administrative prohibition - envelope "
      "blocked - https://community.mimecast.com/docs/DOC-1369#550 [x.us222]'");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("party:      recipient_admin"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("filter:     mimecast"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("doc:        DOC-1369#550"), std::string::npos) << r.out;
  const auto j = RunCli("explain --json '550 Envelope blocked - User Entry'");
  EXPECT_EQ(j.exit_code, 0);
  EXPECT_NE(j.out.find("\"action\":\"suppress_for_sender\""), std::string::npos) << j.out;
}

TEST(CliTest, ExitCodes) {
  EXPECT_EQ(RunCli("").exit_code, 2);
  EXPECT_EQ(RunCli("no-such-command").exit_code, 2);
  EXPECT_EQ(RunCli("classify --no-such-flag").exit_code, 2);
  EXPECT_EQ(RunCli("explain").exit_code, 2);
  EXPECT_EQ(RunCli("classify --format nope").exit_code, 2);
  const auto help = RunCli("classify --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--stats"), std::string::npos) << help.out;
  EXPECT_EQ(RunCli("explain --help").exit_code, 0);
  EXPECT_EQ(RunCli("check-rules --help").exit_code, 0);
  EXPECT_EQ(RunCli("--help").exit_code, 0);
  EXPECT_EQ(RunCli("check-rules /nonexistent/rules").exit_code, 1);
  EXPECT_EQ(RunCli("classify --rules /nonexistent/rules").exit_code, 1);
  EXPECT_EQ(RunCli("classify /nonexistent/file.ndjson").exit_code, 1);
}

TEST(CliTest, RunValidatesItsConfigurationBeforeConnecting) {
  const auto missing = RunCli("run --input in");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("bootstrap"), std::string::npos) << missing.err;
  const auto secret = RunCli("run --bootstrap 127.0.0.1:9 --group g --input in -X sasl.password=hunter2");
  EXPECT_EQ(secret.exit_code, 2);
  EXPECT_NE(secret.err.find("must not be given on the command line"), std::string::npos);
  EXPECT_EQ(secret.err.find("hunter2"), std::string::npos) << "a secret is never echoed";
  const auto owned = RunCli("run --bootstrap 127.0.0.1:9 --group g --input in -X enable.auto.commit=true");
  EXPECT_EQ(owned.exit_code, 2);
  const auto production = RunCli("run --bootstrap 127.0.0.1:9 --group g --input in --profile production");
  EXPECT_EQ(production.exit_code, 2);
  EXPECT_NE(production.err.find("plaintext"), std::string::npos) << production.err;
  const auto printed = RunCli("run --bootstrap 127.0.0.1:9 --group g --input in:sendgrid --print-config");
  EXPECT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_NE(printed.out.find("group = \"g\""), std::string::npos) << printed.out;
  EXPECT_NE(printed.out.find("sendgrid"), std::string::npos) << printed.out;
}

TEST(CliTest, CheckRulesReportsFileAndLine) {
  const auto dir = std::filesystem::temp_directory_path() / "bouncestream_cli_rules";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "x.toml") << "schema = 1\nversion = \"1\"\n[[rule]]\nid = \"a\"\n"
                                   "pattern = 'x'\nreason = \"bogus\"\nparty = \"unknown\"\n"
                                   "action = \"none\"\nconfidence = 0.1\nexamples = [\"x\"]\n";
  const auto r = RunCli("check-rules " + dir.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("x.toml:3: unknown reason 'bogus'"), std::string::npos) << r.err;
  const auto ok = RunCli(std::string("check-rules ") + BOUNCESTREAM_SOURCE_DIR + "/classify/rules");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("check-rules: ok"), std::string::npos);
  std::filesystem::remove_all(dir);
}

}  // namespace
