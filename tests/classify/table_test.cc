// Acceptance tables: every filter reply string from the reference with the vendor, party,
// action, reason and blocklist the shipped rules must give it. The tables are ours (TSV files
// under testdata/), one row per reply text.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "classify/classifier.h"

namespace bouncestream::classify {
namespace {

struct Row {
  int line = 0;
  std::string text, mx, vendor, party, action, reason, dnsbl;
  int code = 0;
};

std::vector<std::string> SplitTabs(const std::string& line) {
  std::vector<std::string> out;
  std::string cell;
  std::istringstream in(line);
  while (std::getline(in, cell, '\t')) out.push_back(cell);
  if (!line.empty() && line.back() == '\t') out.emplace_back();
  return out;
}

std::vector<Row> ReadTable(const std::string& name) {
  const std::string path = std::string(BOUNCESTREAM_SOURCE_DIR) + "/tests/classify/testdata/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::vector<Row> rows;
  std::string line;
  int n = 0;
  std::vector<std::string> header;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto cells = SplitTabs(line);
    if (header.empty()) {
      header = cells;
      EXPECT_EQ(header, (std::vector<std::string>{"text", "mx", "code", "vendor", "party",
                                                  "action", "reason", "dnsbl"}))
          << name << ": unexpected header";
      continue;
    }
    cells.resize(8);
    Row r;
    r.line = n;
    r.text = cells[0];
    r.mx = cells[1];
    r.code = cells[2].empty() ? 0 : std::stoi(cells[2]);
    r.vendor = cells[3];
    r.party = cells[4];
    r.action = cells[5];
    r.reason = cells[6];
    r.dnsbl = cells[7];
    rows.push_back(std::move(r));
  }
  return rows;
}

class TableTest : public ::testing::TestWithParam<std::tuple<std::string, Engine>> {};

TEST_P(TableTest, EveryRowIsAttributedAsExpected) {
  const auto& [file, engine] = GetParam();
  auto rules = RuleSet::Load(std::filesystem::path(BOUNCESTREAM_SOURCE_DIR) / "classify/rules");
  ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
  auto classifier = Classifier::Create(*rules, {.engine = engine});
  ASSERT_TRUE(classifier.has_value());
  Classifier::Session session(*classifier);
  const auto rows = ReadTable(file);
  ASSERT_GE(rows.size(), 40u) << file << " is too small to be the acceptance table";
  int failures = 0;
  for (const Row& r : rows) {
    BounceEvent ev;
    ev.text = r.text;
    ev.mx = r.mx;
    ev.smtp_code = r.code;
    const auto c = session.Classify(ev);
    std::string got = std::string(ToString(c.vendor)) + "/" + std::string(ToString(c.party)) +
                      "/" + std::string(ToString(c.action)) + "/" +
                      std::string(ToString(c.reason)) + "/" + std::string(c.dnsbl);
    std::string want = r.vendor + "/" + r.party + "/" + r.action + "/" + r.reason + "/" + r.dnsbl;
    if (got != want) {
      ++failures;
      ADD_FAILURE() << file << ":" << r.line << ": " << r.text << "\n  want " << want
                    << "\n  got  " << got << " (rule " << c.rule << ")";
    }
  }
  std::printf("%s: %zu rows, %d failed\n", file.c_str(), rows.size(), failures);
}

INSTANTIATE_TEST_SUITE_P(
    Tables, TableTest,
    ::testing::Combine(::testing::Values("mimecast_table.tsv", "filters_table.tsv"),
                       ::testing::Values(Engine::kRe2Set, Engine::kVectorscan)),
    [](const auto& param_info) {
      std::string name = std::get<0>(param_info.param);
      name = name.substr(0, name.find('.'));
      return name + "_" + std::string(ToString(std::get<1>(param_info.param)));
    });

}  // namespace
}  // namespace bouncestream::classify
