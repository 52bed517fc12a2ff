// Accuracy against sisimai's labelled corpus (../shared/corpus/sisimai.jsonl, read in place and
// never copied). Prints agreement of our reason with the label, overall and per reason, and of
// `hard` with sisimai's hardbounce, and fails below the floors set at the level reached.
#include <simdjson.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "classify/classifier.h"

namespace bouncestream::classify {
namespace {

// Floors: raised as the rules improve, never lowered.
constexpr double kReasonFloor = 0.90;
constexpr double kHardFloor = 0.95;

std::filesystem::path CorpusPath() {
  if (const char* env = std::getenv("BOUNCESTREAM_CORPUS")) return env;
  return std::filesystem::path(BOUNCESTREAM_SOURCE_DIR) / "../shared/corpus/sisimai.jsonl";
}

struct Record {
  std::string text, status, rhost, action, reason, alt_reason;
  int code = 0;
  bool hard = false;
};

bool Load(const std::filesystem::path& path, std::vector<Record>* out) {
  simdjson::ondemand::parser parser;
  simdjson::padded_string json;
  if (simdjson::padded_string::load(path.string()).get(json)) return false;
  simdjson::ondemand::document_stream stream;
  if (parser.iterate_many(json).get(stream)) return false;
  for (auto doc : stream) {
    Record r;
    auto str = [&doc](const char* key, std::string* dst) {
      std::string_view v;
      if (doc[key].get_string().get(v) == simdjson::SUCCESS) dst->assign(v);
    };
    str("diagnostic", &r.text);
    str("dsn_status", &r.status);
    str("rhost", &r.rhost);
    str("dsn_action", &r.action);
    str("reason", &r.reason);
    int64_t code = 0;
    if (doc["smtp_code"].get_int64().get(code) == simdjson::SUCCESS) r.code = static_cast<int>(code);
    bool hard = false;
    if (doc["hardbounce"].get_bool().get(hard) == simdjson::SUCCESS) r.hard = hard;
    simdjson::ondemand::array alts;
    if (doc["alt_labels"].get_array().get(alts) == simdjson::SUCCESS) {
      for (auto alt : alts) {
        std::string_view v;
        if (alt["reason"].get_string().get(v) == simdjson::SUCCESS) r.alt_reason.assign(v);
      }
    }
    if (r.reason.empty()) return false;
    out->push_back(std::move(r));
  }
  return !out->empty();
}

EventType TypeOf(std::string_view dsn_action) {
  if (dsn_action == "delayed" || dsn_action == "Delayed") return EventType::kDeferral;
  if (dsn_action == "delivered" || dsn_action == "deliverable") return EventType::kDelivered;
  if (dsn_action == "expired") return EventType::kExpired;
  return EventType::kBounce;
}

TEST(CorpusTest, ReasonAgreementWithSisimai) {
  const auto path = CorpusPath();
  if (!std::filesystem::exists(path)) {
    GTEST_SKIP() << "CORPUS ABSENT: " << path
                 << " not found, so accuracy against sisimai's labels is NOT measured in this "
                    "run (set BOUNCESTREAM_CORPUS to its path). The project's own tables still run.";
  }
  std::vector<Record> records;
  ASSERT_TRUE(Load(path, &records)) << "cannot parse " << path;
  auto rules = RuleSet::Load(std::filesystem::path(BOUNCESTREAM_SOURCE_DIR) / "classify/rules");
  ASSERT_TRUE(rules.has_value()) << rules.error()[0].ToString();
  auto classifier = Classifier::Create(*rules);
  ASSERT_TRUE(classifier.has_value());
  Classifier::Session session(*classifier);

  struct Tally { int n = 0, ok = 0; };
  std::map<std::string, Tally> per_reason;
  int ok = 0, ok_lenient = 0, hard_ok = 0;
  // BOUNCESTREAM_CORPUS_MISMATCHES=FILE writes the disagreements as TSV (FILE "-" is stdout);
  // BOUNCESTREAM_CORPUS_MISSES=1 prints them to stdout; BOUNCESTREAM_CORPUS_ALL=1 adds the
  // agreements too (first column "ok" or "miss"), to study what a rule change would move.
  std::FILE* mismatches = nullptr;
  bool close_mismatches = false;
  const char* mismatch_path = std::getenv("BOUNCESTREAM_CORPUS_MISMATCHES");
  if (mismatch_path && *mismatch_path && std::string_view(mismatch_path) != "-") {
    mismatches = std::fopen(mismatch_path, "w");
    close_mismatches = mismatches != nullptr;
  } else if (mismatch_path || std::getenv("BOUNCESTREAM_CORPUS_MISSES")) {
    mismatches = stdout;
  }
  const char* all_env = std::getenv("BOUNCESTREAM_CORPUS_ALL");
  const bool dump_all = all_env && *all_env && std::string_view(all_env) != "0";
  if (mismatches) {
    std::fprintf(mismatches, "%sexpected\tgot\trule\thard\tcode\tstatus\trhost\ttext\n",
                 dump_all ? "match\t" : "");
  }
  for (const Record& r : records) {
    BounceEvent ev;
    ev.text = r.text;
    ev.enhanced_code = r.status;
    ev.smtp_code = r.code;
    ev.mx = r.rhost;
    ev.type = TypeOf(r.action);
    const auto c = session.Classify(ev);
    const std::string_view got = ToString(c.reason);
    auto& t = per_reason[r.reason];
    ++t.n;
    const bool agree = got == r.reason;
    if (agree) {
      ++ok;
      ++ok_lenient;
      ++t.ok;
    } else if (!r.alt_reason.empty() && got == r.alt_reason) {
      ++ok_lenient;
    }
    if (mismatches && (!agree || dump_all)) {
      std::string flat = r.text.substr(0, 300);
      for (char& ch : flat) {
        if (ch == '\t' || ch == '\n' || ch == '\r') ch = ' ';
      }
      std::fprintf(mismatches, "%s%s\t%s\t%s\t%c%c\t%d\t%s\t%s\t%s\n",
                   dump_all ? (agree ? "ok\t" : "miss\t") : "", r.reason.c_str(),
                   std::string(got).c_str(), std::string(c.rule).c_str(), r.hard ? 'H' : 's',
                   c.hard ? 'H' : 's', r.code,
                   r.status.c_str(), r.rhost.c_str(), flat.c_str());
    }
    if (c.hard == r.hard) ++hard_ok;
  }
  if (close_mismatches) std::fclose(mismatches);
  const double n = static_cast<double>(records.size());
  std::printf("corpus: %zu records from %s\n", records.size(), path.string().c_str());
  std::printf("reason agreement: %.1f%% (%d/%zu); counting sisimai's older alt labels: %.1f%%\n",
              100.0 * ok / n, ok, records.size(), 100.0 * ok_lenient / n);
  std::printf("hard-bounce agreement: %.1f%% (%d/%zu)\n", 100.0 * hard_ok / n, hard_ok,
              records.size());
  std::printf("%-16s %5s %5s %7s\n", "reason", "n", "ok", "agree");
  for (const auto& [reason, t] : per_reason) {
    std::printf("%-16s %5d %5d %6.1f%%\n", reason.c_str(), t.n, t.ok, 100.0 * t.ok / t.n);
  }
  EXPECT_GE(ok / n, kReasonFloor);
  EXPECT_GE(hard_ok / n, kHardFloor);
}

}  // namespace
}  // namespace bouncestream::classify
