// Test helpers: a small parser of the Prometheus text exposition format and of METRICS.md's
// table, so tests can compare what is served with what is documented.
#ifndef BOUNCESTREAM_TESTS_METRICS_EXPOSITION_H_
#define BOUNCESTREAM_TESTS_METRICS_EXPOSITION_H_

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace bouncestream::metrics::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> help;  // family -> help text
  std::map<std::string, std::string> type;  // family -> counter/gauge/histogram
  std::vector<Sample> samples;
  std::vector<std::string> bad_lines;

  // Sum of the samples called `name` whose labels include every pair of `match`.
  double Sum(std::string_view name, const std::map<std::string, std::string>& match = {}) const {
    double sum = 0;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) ok = false;
      }
      if (ok) sum += s.value;
    }
    return sum;
  }
  // Label names used by the samples of `name` (for histograms: of `name`_count, minus le).
  std::set<std::string> LabelNames(const std::string& family) const {
    std::set<std::string> names;
    for (const auto& s : samples) {
      if (s.name != family && s.name != family + "_count") continue;
      for (const auto& [k, v] : s.labels) names.insert(k);
    }
    return names;
  }
  std::set<std::string> LabelValues(const std::string& name, const std::string& label) const {
    std::set<std::string> values;
    for (const auto& s : samples) {
      if (s.name != name) continue;
      if (auto it = s.labels.find(label); it != s.labels.end()) values.insert(it->second);
    }
    return values;
  }
};

inline Exposition ParseExposition(std::string_view text) {
  Exposition e;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const std::string rest = line.substr(7);
      const auto sp = rest.find(' ');
      if (sp == std::string::npos) {
        e.bad_lines.push_back(line);
        continue;
      }
      (line[2] == 'H' ? e.help : e.type)[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    if (line[0] == '#') continue;
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key = line.substr(i, eq - i);
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          value.push_back(line[j]);
        }
        s.labels[key] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size()) {
        e.bad_lines.push_back(line);
        continue;
      }
      ++i;  // '}'
    }
    try {
      s.value = std::stod(line.substr(i));
    } catch (...) {
      e.bad_lines.push_back(line);
      continue;
    }
    e.samples.push_back(std::move(s));
  }
  return e;
}

// One row of METRICS.md's table.
struct DocumentedMetric {
  std::string name;
  std::string type;                 // counter, gauge, histogram
  std::set<std::string> labels;     // label names
};

inline std::string Trim(std::string s) {
  const auto b = s.find_first_not_of(" \t`");
  const auto e = s.find_last_not_of(" \t`");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// Parses the `| name | type | labels | meaning |` rows of metrics/METRICS.md.
inline std::vector<DocumentedMetric> ReadMetricsDoc(const std::string& path) {
  std::ifstream in(path);
  std::vector<DocumentedMetric> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("| `bouncestream_")) continue;
    std::vector<std::string> cells;
    std::string cell;
    int depth = 0;
    for (std::size_t i = 1; i < line.size(); ++i) {
      const char c = line[i];
      if (c == '(') ++depth;
      if (c == ')') --depth;
      if (c == '|' && depth == 0) {
        cells.push_back(Trim(cell));
        cell.clear();
      } else {
        cell.push_back(c);
      }
    }
    if (cells.size() < 3) continue;
    DocumentedMetric m;
    m.name = cells[0];
    m.type = cells[1].substr(0, cells[1].find(' '));
    // Labels: top-level comma-separated names; parenthesised value lists are dropped.
    std::string names;
    depth = 0;
    for (char c : cells[2]) {
      if (c == '(') ++depth;
      if (depth == 0) names.push_back(c);
      if (c == ')') --depth;
    }
    std::istringstream ls(names);
    std::string label;
    while (std::getline(ls, label, ',')) {
      label = Trim(label);
      if (!label.empty() && label != "—" && label != "-") m.labels.insert(label);
    }
    out.push_back(std::move(m));
  }
  return out;
}

}  // namespace bouncestream::metrics::testing

#endif  // BOUNCESTREAM_TESTS_METRICS_EXPOSITION_H_
