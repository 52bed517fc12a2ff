#include "metrics/internal/status_json.h"

#include <prometheus/metric_family.h>

#include <map>
#include <string_view>

#include "metrics/internal/json.h"

namespace bouncestream::metrics::internal {
namespace {

using Families = std::vector<prometheus::MetricFamily>;

const prometheus::MetricFamily* Find(const Families& families, std::string_view name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

double ValueOf(const prometheus::ClientMetric& m) {
  return m.counter.value + m.gauge.value;  // the other one is 0
}

std::string_view LabelOf(const prometheus::ClientMetric& m, std::string_view label) {
  for (const auto& l : m.label) {
    if (l.name == label) return l.value;
  }
  return {};
}

double Total(const Families& families, std::string_view name) {
  double sum = 0;
  if (const auto* f = Find(families, name)) {
    for (const auto& m : f->metric) sum += ValueOf(m);
  }
  return sum;
}

// Sum by one label, only series whose `filter_label` equals `filter_value` when given.
std::map<std::string, double> SumBy(const Families& families, std::string_view name,
                                    std::string_view label, std::string_view filter_label = {},
                                    std::string_view filter_value = {}) {
  std::map<std::string, double> out;
  if (const auto* f = Find(families, name)) {
    for (const auto& m : f->metric) {
      if (!filter_label.empty() && LabelOf(m, filter_label) != filter_value) continue;
      out[std::string(LabelOf(m, label))] += ValueOf(m);
    }
  }
  return out;
}

void Key(std::string* out, std::string_view key) {
  AppendJsonString(out, key);
  out->push_back(':');
}

void Number(std::string* out, std::string_view key, double v) {
  Key(out, key);
  AppendJsonNumber(out, v);
  out->push_back(',');
}

}  // namespace

std::string BuildStatusJson(const Families& families, const StatusState& state) {
  std::string out;
  out.reserve(4096);
  out.push_back('{');
  Number(&out, "now_ms", static_cast<double>(state.now_ms));
  Number(&out, "uptime_ms", static_cast<double>(state.uptime_ms));
  Key(&out, "ready");
  out.append(state.ready ? "true," : "false,");
  Key(&out, "ready_reason");
  AppendJsonString(&out, state.ready_reason);
  out.push_back(',');
  Key(&out, "healthy");
  out.append(state.healthy ? "true," : "false,");
  Number(&out, "heartbeat_age_ms", static_cast<double>(state.heartbeat_age_ms));

  std::string version, revision;
  if (const auto* f = Find(families, "bouncestream_build_info"); f && !f->metric.empty()) {
    version = LabelOf(f->metric.front(), "version");
    revision = LabelOf(f->metric.front(), "revision");
  }
  Key(&out, "version");
  AppendJsonString(&out, version);
  out.push_back(',');
  Key(&out, "revision");
  AppendJsonString(&out, revision);
  out.push_back(',');

  const auto input = SumBy(families, "bouncestream_input_records_total", "result");
  Key(&out, "totals");
  out.push_back('{');
  Number(&out, "input_records", Total(families, "bouncestream_input_records_total"));
  Number(&out, "input_ok", input.contains("ok") ? input.at("ok") : 0);
  Number(&out, "events_classified", Total(families, "bouncestream_events_classified_total"));
  Number(&out, "dead_letters", Total(families, "bouncestream_dead_letters_total"));
  Number(&out, "decisions", Total(families, "bouncestream_decisions_total"));
  Number(&out, "active_decisions", Total(families, "bouncestream_active_decisions"));
  Number(&out, "duplicates", Total(families, "bouncestream_duplicate_events_total"));
  Number(&out, "late", Total(families, "bouncestream_late_events_total"));
  Number(&out, "provider_folded", Total(families, "bouncestream_provider_folded_total"));
  Number(&out, "consumer_lag", Total(families, "bouncestream_consumer_lag_messages"));
  Number(&out, "assigned_partitions", Total(families, "bouncestream_assigned_partitions"));
  Number(&out, "rebalances", Total(families, "bouncestream_rebalances_total"));
  Number(&out, "delivery_errors", Total(families, "bouncestream_producer_delivery_errors_total"));
  Number(&out, "state_write_errors", Total(families, "bouncestream_state_write_errors_total"));
  Number(&out, "last_event_timestamp_s",
         Total(families, "bouncestream_last_event_timestamp_seconds"));
  out.back() = '}';
  out.push_back(',');

  struct ByLabel {
    const char* key;
    const char* metric;
    const char* label;
  };
  for (const ByLabel& b : {
           ByLabel{"input_by_format", "bouncestream_input_records_total", "topic_format"},
           ByLabel{"classified_by_party", "bouncestream_events_classified_total", "party"},
           ByLabel{"classified_by_vendor", "bouncestream_events_classified_total", "vendor"},
           ByLabel{"classified_by_class", "bouncestream_events_classified_total", "class"},
           ByLabel{"classified_by_tenant", "bouncestream_events_classified_total", "tenant"},
           ByLabel{"events_by_provider", "bouncestream_events_by_provider_total", "provider"},
           ByLabel{"dead_letters_by_reason", "bouncestream_dead_letters_total", "reason"},
           ByLabel{"decisions_by_kind", "bouncestream_decisions_total", "kind"},
           ByLabel{"decisions_by_party", "bouncestream_decisions_total", "party"},
           ByLabel{"active_decisions", "bouncestream_active_decisions", "kind"},
           ByLabel{"lag_by_topic", "bouncestream_consumer_lag_messages", "topic"},
       }) {
    Key(&out, b.key);
    AppendJsonMap(&out, SumBy(families, b.metric, b.label));
    out.push_back(',');
  }

  // Blocks: who refused the mail, per filter vendor (platform vs admin vs end user).
  Key(&out, "blocks_by_vendor");
  out.push_back('{');
  bool first = true;
  for (const auto& [vendor, total] :
       SumBy(families, "bouncestream_events_classified_total", "vendor")) {
    std::map<std::string, double> parties;
    for (const char* party : {"filter_platform", "recipient_admin", "end_user"}) {
      double n = 0;
      if (const auto* f = Find(families, "bouncestream_events_classified_total")) {
        for (const auto& m : f->metric) {
          if (LabelOf(m, "vendor") == vendor && LabelOf(m, "party") == party) n += ValueOf(m);
        }
      }
      parties[party] = n;
    }
    if (parties["filter_platform"] + parties["recipient_admin"] + parties["end_user"] == 0) {
      continue;
    }
    if (!first) out.push_back(',');
    first = false;
    Key(&out, vendor);
    AppendJsonMap(&out, parties);
  }
  out.append("},");

  Number(&out, "events_per_second",
         state.input_rates.empty() ? 0.0 : state.input_rates.back().second);
  Key(&out, "input_rates");
  out.push_back('[');
  for (std::size_t i = 0; i < state.input_rates.size(); ++i) {
    if (i != 0) out.push_back(',');
    out.push_back('[');
    AppendJsonNumber(&out, static_cast<double>(state.input_rates[i].first));
    out.push_back(',');
    AppendJsonNumber(&out, state.input_rates[i].second);
    out.push_back(']');
  }
  out.append("],");

  Key(&out, "latest_decisions");
  out.push_back('[');
  first = true;
  for (const auto& d : state.decisions) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('{');
    Number(&out, "time_ms", static_cast<double>(d.time_ms));
    for (const auto& [k, v] : {std::pair<const char*, const std::string*>{"kind", &d.kind},
                               {"scope", &d.scope},
                               {"reason", &d.reason},
                               {"party", &d.party},
                               {"vendor", &d.vendor},
                               {"subject", &d.subject}}) {
      Key(&out, k);
      AppendJsonString(&out, *v);
      out.push_back(',');
    }
    out.back() = '}';
  }
  out.append("]}");
  return out;
}

}  // namespace bouncestream::metrics::internal
