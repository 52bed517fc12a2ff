#include "classify/rule_set.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace bouncestream::classify {

std::string RuleError::ToString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (!out.empty()) out += ": ";
  return out + message;
}

// Builds a RuleSet from parsed TOML documents, collecting every error instead of stopping at the
// first one, so check-rules can report them all.
class RuleSetBuilder {
 public:
  void AddDocument(const toml::table& doc, const std::string& file);
  std::expected<std::shared_ptr<const RuleSet>, std::vector<RuleError>> Finish();
  void Error(const std::string& file, int line, std::string message) {
    errors_.push_back({file, line, std::move(message)});
  }

 private:
  static int LineOf(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

  std::optional<std::string> String(const toml::table& t, std::string_view key, bool required,
                                    const std::string& file, int line);
  std::vector<std::string> StringList(const toml::table& t, std::string_view key,
                                      const std::string& file, int line);
  std::vector<RuleExample> Examples(const toml::table& t, std::string_view key,
                                    const std::string& file);
  void CheckKeys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                 const std::string& file, int line, std::string_view what);
  void AddRule(const toml::table& t, const std::string& file);
  void AddFingerprint(const toml::table& t, const std::string& file);
  void AddMx(const toml::table& t, const std::string& file);
  void CheckId(const std::string& id, const std::string& file, int line);

  std::shared_ptr<RuleSet> set_ = std::make_shared<RuleSet>();
  std::vector<RuleError> errors_;
  std::set<std::string, std::less<>> ids_;
};

void RuleSetBuilder::CheckKeys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                               const std::string& file, int line, std::string_view what) {
  for (const auto& [key, node] : t) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end()) {
      Error(file, LineOf(node) ? LineOf(node) : line,
            "unknown key '" + std::string(key.str()) + "' in " + std::string(what));
    }
  }
}

std::optional<std::string> RuleSetBuilder::String(const toml::table& t, std::string_view key,
                                                  bool required, const std::string& file,
                                                  int line) {
  const toml::node* node = t.get(key);
  if (node == nullptr) {
    if (required) Error(file, line, "missing required key '" + std::string(key) + "'");
    return std::nullopt;
  }
  if (const auto* s = node->as_string()) return s->get();
  Error(file, LineOf(*node), "'" + std::string(key) + "' must be a string");
  return std::nullopt;
}

std::vector<std::string> RuleSetBuilder::StringList(const toml::table& t, std::string_view key,
                                                    const std::string& file, int line) {
  std::vector<std::string> out;
  const toml::node* node = t.get(key);
  if (node == nullptr) return out;
  if (const auto* s = node->as_string()) {
    out.push_back(s->get());
    return out;
  }
  const auto* arr = node->as_array();
  if (arr == nullptr) {
    Error(file, LineOf(*node) ? LineOf(*node) : line,
          "'" + std::string(key) + "' must be a list of strings");
    return out;
  }
  for (const auto& item : *arr) {
    if (const auto* s = item.as_string()) {
      out.push_back(s->get());
    } else {
      Error(file, LineOf(item), "'" + std::string(key) + "' must hold only strings");
    }
  }
  return out;
}

std::vector<RuleExample> RuleSetBuilder::Examples(const toml::table& t, std::string_view key,
                                                  const std::string& file) {
  std::vector<RuleExample> out;
  const toml::node* node = t.get(key);
  if (node == nullptr) return out;
  const auto* arr = node->as_array();
  if (arr == nullptr) {
    Error(file, LineOf(*node), "'" + std::string(key) + "' must be a list");
    return out;
  }
  for (const auto& item : *arr) {
    RuleExample ex;
    ex.line = LineOf(item);
    if (const auto* s = item.as_string()) {
      ex.text = s->get();
    } else if (const auto* et = item.as_table()) {
      CheckKeys(*et, {"text", "mx", "code", "status", "type"}, file, ex.line, "example");
      ex.text = String(*et, "text", true, file, ex.line).value_or("");
      ex.mx = String(*et, "mx", false, file, ex.line).value_or("");
      ex.enhanced_code = String(*et, "status", false, file, ex.line).value_or("");
      if (const auto* c = et->get("code")) {
        if (const auto* i = c->as_integer()) {
          ex.smtp_code = static_cast<int>(i->get());
        } else {
          Error(file, ex.line, "example 'code' must be an integer");
        }
      }
      if (auto type = String(*et, "type", false, file, ex.line)) {
        if (auto parsed = ParseEventType(*type)) {
          ex.type = *parsed;
        } else {
          Error(file, ex.line, "unknown event type '" + *type + "'");
        }
      }
    } else {
      Error(file, ex.line, "an example must be a string or a table with 'text'");
      continue;
    }
    out.push_back(std::move(ex));
  }
  return out;
}

void RuleSetBuilder::CheckId(const std::string& id, const std::string& file, int line) {
  if (id.empty()) {
    Error(file, line, "empty id");
    return;
  }
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                    c == '-';
    if (!ok) {
      Error(file, line, "id '" + id + "' may hold only a-z 0-9 . _ -");
      break;
    }
  }
  if (!ids_.insert(id).second) Error(file, line, "duplicate id '" + id + "'");
}

void RuleSetBuilder::AddRule(const toml::table& t, const std::string& file) {
  const int line = LineOf(t);
  CheckKeys(t,
            {"id", "pattern", "when_code", "when_status", "when_vendor", "when_type", "reason",
             "class", "party", "action", "hard", "vendor", "dnsbl", "confidence", "examples",
             "counter_examples", "note"},
            file, line, "rule");
  Rule r;
  r.file = file;
  r.line = line;
  r.id = String(t, "id", true, file, line).value_or("");
  CheckId(r.id, file, line);
  r.pattern = String(t, "pattern", false, file, line).value_or("");
  r.when_code = StringList(t, "when_code", file, line);
  for (const auto& c : r.when_code) {
    if (c.empty() || c.size() > 3 || !std::all_of(c.begin(), c.end(), ::isdigit)) {
      Error(file, line, "when_code entry '" + c + "' must be 1 to 3 digits");
    }
  }
  r.when_status = StringList(t, "when_status", file, line);
  for (const auto& s : r.when_status) {
    if (s.empty() || !(s[0] == '2' || s[0] == '4' || s[0] == '5')) {
      Error(file, line, "when_status entry '" + s + "' must start with 2, 4 or 5");
    }
  }
  for (const auto& v : StringList(t, "when_vendor", file, line)) {
    if (auto vendor = ParseVendor(v)) {
      r.when_vendor_mask |= 1u << static_cast<unsigned>(*vendor);
    } else {
      Error(file, line, "unknown vendor '" + v + "' in when_vendor");
    }
  }
  for (const auto& ty : StringList(t, "when_type", file, line)) {
    if (auto type = ParseEventType(ty)) {
      r.when_type_mask |= 1u << static_cast<unsigned>(*type);
    } else {
      Error(file, line, "unknown event type '" + ty + "' in when_type");
    }
  }
  if (auto reason = String(t, "reason", true, file, line)) {
    if (auto parsed = ParseReason(*reason)) {
      r.reason = *parsed;
      r.bounce_class = DefaultClass(*parsed);
    } else {
      Error(file, line, "unknown reason '" + *reason + "'");
    }
  }
  if (auto cls = String(t, "class", false, file, line)) {
    if (auto parsed = ParseClass(*cls)) {
      r.bounce_class = *parsed;
    } else {
      Error(file, line, "unknown class '" + *cls + "'");
    }
  }
  if (auto party = String(t, "party", true, file, line)) {
    if (auto parsed = ParseParty(*party)) {
      r.party = *parsed;
    } else {
      Error(file, line, "unknown party '" + *party + "'");
    }
  }
  if (auto action = String(t, "action", true, file, line)) {
    if (auto parsed = ParseAction(*action)) {
      r.action = *parsed;
    } else {
      Error(file, line, "unknown action '" + *action + "'");
    }
  }
  if (const auto* hard = t.get("hard")) {
    if (const auto* b = hard->as_boolean()) {
      r.hard = b->get();
    } else {
      Error(file, line, "'hard' must be true or false");
    }
  }
  if (auto vendor = String(t, "vendor", false, file, line)) {
    if (auto parsed = ParseVendor(*vendor)) {
      r.vendor = *parsed;
    } else {
      Error(file, line, "unknown vendor '" + *vendor + "'");
    }
  }
  r.dnsbl = String(t, "dnsbl", false, file, line).value_or("");
  if (const auto* conf = t.get("confidence")) {
    const auto value = conf->value<double>();
    if (!value || *value < 0.0 || *value > 1.0) {
      Error(file, line, "'confidence' must be a number from 0 to 1");
    } else {
      r.confidence = static_cast<float>(*value);
    }
  } else {
    Error(file, line, "missing required key 'confidence'");
  }
  r.examples = Examples(t, "examples", file);
  r.counter_examples = Examples(t, "counter_examples", file);
  if (!r.pattern.empty() && r.examples.empty()) {
    Error(file, line, "rule '" + r.id + "' has a pattern but no examples");
  }
  if (r.action == Action::kSuppressRecipient && r.party != Party::kRecipientInvalid &&
      r.party != Party::kEndUser && r.reason != Reason::kFeedback) {
    Error(file, line,
          "rule '" + r.id + "' suppresses the recipient but blames " +
              std::string(ToString(r.party)) +
              ": a recipient is never suppressed for a block aimed at the sender");
  }
  set_->rules_.push_back(std::move(r));
}

void RuleSetBuilder::AddFingerprint(const toml::table& t, const std::string& file) {
  const int line = LineOf(t);
  CheckKeys(t, {"id", "pattern", "vendor", "dnsbl", "examples", "note"}, file, line,
            "fingerprint");
  Fingerprint f;
  f.file = file;
  f.line = line;
  f.id = String(t, "id", true, file, line).value_or("");
  CheckId(f.id, file, line);
  f.pattern = String(t, "pattern", true, file, line).value_or("");
  if (auto vendor = String(t, "vendor", false, file, line)) {
    if (auto parsed = ParseVendor(*vendor)) {
      f.vendor = *parsed;
    } else {
      Error(file, line, "unknown vendor '" + *vendor + "'");
    }
  }
  f.dnsbl = String(t, "dnsbl", false, file, line).value_or("");
  if (!f.vendor && f.dnsbl.empty()) {
    Error(file, line, "fingerprint '" + f.id + "' names neither a vendor nor a dnsbl");
  }
  f.examples = Examples(t, "examples", file);
  if (f.examples.empty()) Error(file, line, "fingerprint '" + f.id + "' has no examples");
  set_->fingerprints_.push_back(std::move(f));
}

void RuleSetBuilder::AddMx(const toml::table& t, const std::string& file) {
  const int line = LineOf(t);
  CheckKeys(t, {"vendor", "suffixes", "note"}, file, line, "mx");
  const auto vendor_name = String(t, "vendor", true, file, line);
  std::optional<Vendor> vendor;
  if (vendor_name) {
    vendor = ParseVendor(*vendor_name);
    if (!vendor) Error(file, line, "unknown vendor '" + *vendor_name + "'");
  }
  auto suffixes = StringList(t, "suffixes", file, line);
  if (suffixes.empty()) Error(file, line, "mx entry without suffixes");
  for (auto& s : suffixes) {
    std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    while (!s.empty() && s.front() == '.') s.erase(s.begin());
    if (s.empty()) {
      Error(file, line, "empty mx suffix");
      continue;
    }
    if (vendor) set_->mx_.push_back({*vendor, s, file, line});
  }
}

void RuleSetBuilder::AddDocument(const toml::table& doc, const std::string& file) {
  CheckKeys(doc, {"schema", "version", "description", "rule", "fingerprint", "mx"}, file, 1,
            "rule file");
  const auto schema = doc["schema"].value<int64_t>();
  if (!schema) {
    Error(file, 1, "missing 'schema = 1'");
  } else if (*schema != 1) {
    Error(file, 1, "unsupported schema " + std::to_string(*schema) + " (this build reads 1)");
  }
  const auto version = doc["version"].value<std::string>();
  if (!version) Error(file, 1, "missing 'version'");
  std::string stem = std::filesystem::path(file).stem().string();
  if (!set_->version_.empty()) set_->version_ += ",";
  set_->version_ += stem + "@" + version.value_or("?");
  set_->files_.push_back(file);

  for (std::string_view section : {"mx", "fingerprint", "rule"}) {
    const toml::node* node = doc.get(section);
    if (node == nullptr) continue;
    const auto* arr = node->as_array();
    if (arr == nullptr) {
      Error(file, LineOf(*node), "'" + std::string(section) + "' must be written [[" +
                                     std::string(section) + "]]");
      continue;
    }
    for (const auto& item : *arr) {
      const auto* t = item.as_table();
      if (t == nullptr) {
        Error(file, LineOf(item), "entries of '" + std::string(section) + "' must be tables");
        continue;
      }
      if (section == "mx") {
        AddMx(*t, file);
      } else if (section == "fingerprint") {
        AddFingerprint(*t, file);
      } else {
        AddRule(*t, file);
      }
    }
  }
}

std::expected<std::shared_ptr<const RuleSet>, std::vector<RuleError>> RuleSetBuilder::Finish() {
  if (set_->rules_.empty() && errors_.empty()) errors_.push_back({"", 0, "no rules loaded"});
  if (!errors_.empty()) return std::unexpected(std::move(errors_));
  return std::shared_ptr<const RuleSet>(std::move(set_));
}

namespace {

void ParseInto(RuleSetBuilder& builder, std::string_view text, const std::string& name) {
  toml::parse_result parsed = toml::parse(text, name);
  if (!parsed) {
    const auto& err = parsed.error();
    builder.Error(name, static_cast<int>(err.source().begin.line),
                  "TOML syntax: " + std::string(err.description()));
    return;
  }
  builder.AddDocument(parsed.table(), name);
}

}  // namespace

std::expected<std::shared_ptr<const RuleSet>, std::vector<RuleError>> RuleSet::Parse(
    std::string_view toml_text, std::string_view name) {
  RuleSetBuilder builder;
  ParseInto(builder, toml_text, std::string(name));
  return builder.Finish();
}

std::expected<std::shared_ptr<const RuleSet>, std::vector<RuleError>> RuleSet::Load(
    const std::filesystem::path& path) {
  RuleSetBuilder builder;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
      if (entry.is_regular_file() && entry.path().extension() == ".toml") {
        files.push_back(entry.path());
      }
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) builder.Error(path.string(), 0, "no *.toml rule files here");
  } else if (std::filesystem::is_regular_file(path, ec)) {
    files.push_back(path);
  } else {
    builder.Error(path.string(), 0, "no such rule file or directory");
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      builder.Error(file.string(), 0, "cannot read");
      continue;
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    ParseInto(builder, buffer.str(), file.string());
  }
  return builder.Finish();
}

std::filesystem::path DefaultRulesPath() {
  if (const char* env = std::getenv("BOUNCESTREAM_RULES"); env != nullptr && *env != '\0') {
    return env;
  }
  // A binary built from a source tree uses that tree's rules; an installed one its share dir.
  std::error_code ec;
  const std::filesystem::path source = BOUNCESTREAM_SOURCE_RULES_DIR;
  if (std::filesystem::is_directory(source, ec)) return source;
  return BOUNCESTREAM_INSTALLED_RULES_DIR;
}

}  // namespace bouncestream::classify
