// `bouncestream classify`: events in (files or stdin), classified NDJSON (or a table) out.
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "classify/classifier.h"
#include "stream/cli/commands.h"
#include "stream/cli/rules_loader.h"
#include "stream/decode.h"
#include "stream/encode.h"
#include "stream/json_writer.h"

namespace bouncestream::stream::cli {
namespace {

struct Stats {
  std::map<std::string, std::size_t> by_reason, by_party, by_vendor;
  std::size_t events = 0;
  std::size_t failed_records = 0;
  void Add(const classify::Classification& c) {
    ++events;
    ++by_reason[std::string(classify::ToString(c.reason))];
    ++by_party[std::string(classify::ToString(c.party))];
    ++by_vendor[std::string(classify::ToString(c.vendor))];
  }
  void Print(std::FILE* f) const {
    std::fprintf(f, "\nevents classified: %zu, records failed: %zu\n", events, failed_records);
    auto section = [f](const char* title, const std::map<std::string, std::size_t>& m) {
      std::fprintf(f, "by %s:\n", title);
      for (const auto& [k, n] : m) std::fprintf(f, "  %-20s %8zu\n", k.c_str(), n);
    };
    section("party", by_party);
    section("vendor", by_vendor);
    section("reason", by_reason);
  }
};

std::string Shorten(std::string_view s, std::size_t n) {
  std::string out;
  for (char c : s) {
    if (out.size() >= n) break;
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  if (s.size() > n) out += "...";
  return out;
}

void PrintTableHeader() {
  std::printf("%-9s %-4s %-10s %-17s %-19s %-15s %-4s %s\n", "type", "code", "vendor", "party",
              "action", "reason", "conf", "text");
}

void PrintTableRow(const classify::BounceEvent& ev, const classify::Classification& c) {
  std::printf("%-9s %-4d %-10s %-17s %-19s %-15s %.2f %s\n",
              std::string(classify::ToString(ev.type)).c_str(), c.smtp_code,
              std::string(classify::ToString(c.vendor)).c_str(),
              std::string(classify::ToString(c.party)).c_str(),
              std::string(classify::ToString(c.action)).c_str(),
              std::string(classify::ToString(c.reason)).c_str(),
              static_cast<double>(c.confidence), Shorten(ev.text, 60).c_str());
}

void ReportError(std::string_view file, std::size_t line, const DecodeError& error) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("error", error.detail);
  w.Field("kind", error.kind);
  w.Field("file", file);
  w.Field("line", static_cast<std::int64_t>(line));
  w.EndObject();
  std::fprintf(stderr, "%s\n", out.c_str());
}

bool ReadAll(const std::string& file, std::string* content) {
  if (file == "-") {
    content->clear();
    char buf[65536];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) content->append(buf, n);
    return std::ferror(stdin) == 0;
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return false;
  std::stringstream buffer;
  buffer << in.rdbuf();
  *content = std::move(buffer).str();
  return true;
}

}  // namespace

int RunClassify(const ClassifyOptions& options) {
  const auto format = ParseInputFormat(options.format);
  if (!format) {
    std::fprintf(stderr, "error: unknown input format '%s'\n", options.format.c_str());
    return kExitUsage;
  }
  if (options.output != "json" && options.output != "table") {
    std::fprintf(stderr, "error: --output must be json or table\n");
    return kExitUsage;
  }
  auto classifier = LoadClassifier(options.rules);
  if (!classifier) return kExitRuntime;
  classify::Classifier::Session session(classifier);
  Decoder decoder;
  std::vector<classify::BounceEvent> events;
  std::string out;
  Stats stats;
  bool any_failed = false;
  const bool table = options.output == "table";
  if (table) PrintTableHeader();

  auto handle = [&](std::string_view record, std::string_view file, std::size_t line) {
    events.clear();
    decoder.Reset();
    auto decoded = decoder.Decode(record, *format, &events);
    if (!decoded) {
      ReportError(file, line, decoded.error());
      ++stats.failed_records;
      any_failed = true;
      return;
    }
    for (const auto& ev : events) {
      const auto c = session.Classify(ev);
      stats.Add(c);
      if (table) {
        PrintTableRow(ev, c);
      } else {
        out.clear();
        EncodeClassified(ev, c, &out);
        out.push_back('\n');
        std::fwrite(out.data(), 1, out.size(), stdout);
      }
    }
  };

  std::vector<std::string> files = options.files;
  if (files.empty()) files.push_back("-");
  std::string content;
  for (const auto& file : files) {
    if (!ReadAll(file, &content)) {
      std::fprintf(stderr, "error: cannot read %s\n", file.c_str());
      any_failed = true;
      continue;
    }
    const std::string_view name = file == "-" ? std::string_view("<stdin>") : file;
    const std::string_view all = content;
    const auto first = all.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && all[first] == '[') {
      // One JSON array of events spanning the file; if it is not that (e.g. one SendGrid
      // array per line), fall back to reading it line by line.
      events.clear();
      decoder.Reset();
      if (decoder.Decode(all, *format, &events)) {
        handle(all, name, 1);
        continue;
      }
    }
    std::size_t line_no = 0;
    for (std::size_t pos = 0; pos < all.size();) {
      std::size_t end = all.find('\n', pos);
      if (end == std::string_view::npos) end = all.size();
      ++line_no;
      std::string_view line = all.substr(pos, end - pos);
      pos = end + 1;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
      handle(line, name, line_no);
    }
  }
  std::fflush(stdout);
  if (options.stats) stats.Print(table ? stdout : stderr);
  return any_failed ? kExitRuntime : kExitOk;
}

}  // namespace bouncestream::stream::cli
