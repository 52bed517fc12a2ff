// A GoogleTest fixture that gives each test a fresh directory under the system temp dir (removed
// afterwards) and writes files into it; shared by the tests that feed files to the command line
// or the config loader (config_test, security_test).
#ifndef BOUNCESTREAM_TESTS_STREAM_TEMP_DIR_TEST_H_
#define BOUNCESTREAM_TESTS_STREAM_TEMP_DIR_TEST_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace bouncestream::testing {

class TempDirTest : public ::testing::Test {
 protected:
  // `prefix` names the directory: <tmp>/bouncestream_<prefix>_<pid>_<n>.
  explicit TempDirTest(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("bouncestream_" + prefix_ + "_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `text` to dir_/name (binary) and returns the path.
  std::string Write(const std::string& name, const std::string& text) {
    const std::filesystem::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  std::filesystem::path dir_;

 private:
  std::string prefix_;
};

}  // namespace bouncestream::testing

#endif  // BOUNCESTREAM_TESTS_STREAM_TEMP_DIR_TEST_H_
