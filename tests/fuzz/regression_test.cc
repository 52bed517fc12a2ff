// Replays every file of tests/fuzz/regressions/<target>/ (inputs that once crashed a fuzzer or
// broke one of its properties) and of the seed corpus tests/fuzz/corpus/<target>/ through the
// same bodies the fuzzers run (fuzz_targets.cc). Built by every preset with tests, so the
// sanitizer presets (asan-ubsan) replay them under ASan/UBSan with g++ too. A failure aborts
// the process (fuzz::Fail) or is a sanitizer report: the test binary then fails as a whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_util.h"

namespace bouncestream::fuzz {
namespace {

namespace fs = std::filesystem;
using Body = std::function<void(const std::uint8_t*, std::size_t)>;

struct Target {
  const char* name;
  Body body;
};

const std::vector<Target>& Targets() {
  static const std::vector<Target> targets = [] {
    std::vector<Target> t;
    const char* formats[] = {"auto",   "canonical", "kumomta",  "powermta", "postfix", "postal",
                             "ses",    "sendgrid",  "mailgun",  "postmark", "sparkpost"};
    static std::vector<std::string> names;
    names.reserve(std::size(formats));
    for (int i = 0; i < static_cast<int>(std::size(formats)); ++i) {
      names.push_back(std::string("decode_") + formats[i]);
      t.push_back({names.back().c_str(),
                   [i](const std::uint8_t* d, std::size_t n) { FuzzDecode(i, d, n); }});
    }
    t.push_back({"classify", FuzzClassify});
    t.push_back({"config_toml", FuzzConfigToml});
    t.push_back({"config_env", FuzzConfigEnv});
    t.push_back({"observe", FuzzObserve});
    t.push_back({"admin", FuzzAdmin});
    return t;
  }();
  return targets;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Files of `dir/<target>/`, sorted; README files are documentation, not inputs.
std::vector<fs::path> Inputs(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename() != "README.md") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::size_t Replay(const char* subdir) {
  std::size_t replayed = 0;
  const fs::path root = fs::path(BOUNCESTREAM_SOURCE_DIR) / "tests/fuzz" / subdir;
  for (const Target& t : Targets()) {
    const auto t0 = std::chrono::steady_clock::now();
    std::size_t files = 0;
    for (const fs::path& file : Inputs(root / t.name)) {
      ++files;
      SCOPED_TRACE(file.string());
      const std::string bytes = ReadAll(file);
      t.body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - t0);
    if (files > 0) std::printf("  %-18s %4zu files %6lld ms\n", t.name, files,
                               static_cast<long long>(ms.count()));
  }
  return replayed;
}

TEST(FuzzRegressionTest, EveryRegressionInputReplaysCleanly) {
  const std::size_t n = Replay("regressions");
  std::printf("replayed %zu regression inputs\n", n);  // 0 until a fuzzer finds something
}

TEST(FuzzRegressionTest, EverySeedCorpusInputReplaysCleanly) {
  const std::size_t n = Replay("corpus");
  std::printf("replayed %zu seed inputs\n", n);
  EXPECT_GT(n, 100u);
}

TEST(FuzzRegressionTest, EveryTargetHasASeedCorpus) {
  const fs::path root = fs::path(BOUNCESTREAM_SOURCE_DIR) / "tests/fuzz/corpus";
  for (const Target& t : Targets()) EXPECT_FALSE(Inputs(root / t.name).empty()) << t.name;
}

}  // namespace
}  // namespace bouncestream::fuzz
