#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/metrics/exposition.h"

namespace bouncestream::metrics {
namespace {

using testing::Exposition;
using testing::ParseExposition;

std::unique_ptr<Metrics> Make(MetricsOptions options = {}) {
  if (options.version.empty()) options.version = "0.1.0";
  if (options.revision.empty()) options.revision = "abc1234";
  if (options.tenant_allow_list.empty()) options.tenant_allow_list = {"acme", "globex"};
  auto m = Metrics::Create(std::move(options));
  EXPECT_TRUE(m.has_value()) << m.error();
  return m ? std::move(*m) : nullptr;
}

Exposition Scrape(const Metrics& m) {
  auto text = m.Serialize();
  EXPECT_TRUE(text.has_value());
  Exposition e = ParseExposition(text.value_or(""));
  EXPECT_TRUE(e.bad_lines.empty()) << e.bad_lines.front();
  return e;
}

// One update through every entry point, so every family has a labelled series.
void TouchEverything(Metrics& m) {
  m.AddInputRecords("kumomta", true);
  m.AddClassified("acme", "filter_platform", "mimecast", "SpamBlock");
  m.AddByReason("blocked");
  m.AddByProvider("gmail.com", "end_user");
  m.AddDeadLetters("json_syntax");
  m.AddDecisions("pause", "ip_vendor", "filter_platform");
  m.AddDuplicateEvents();
  m.AddLateEvents();
  m.AddRebalances();
  m.AddOffsetResets();
  m.AddDeliveryErrors();
  m.AddStateWriteStallSeconds(0.5);
  m.AddStateWriteErrors();
  m.AddRestoreRecords(10);
  m.SetActiveDecisions("pause", 3);
  m.SetConsumerLag("bounces.in", 0, 42);
  m.SetAssignedPartitions("bounces.in", 6);
  m.SetProducerQueue(7);
  m.SetStateLiveBytes(1000);
  m.SetStateSstBytes(2000);
  m.SetStatePendingCompactionBytes(0);
  m.SetRestoringPartitions(0);
  m.SetReady(true);
  m.SetLastEventTimestamp(1.7e9);
  m.ObserveLatency("classify", 0.02);
  m.ObserveBatchDuration("state", 0.003);
}

TEST(MetricsTest, ExpositionHasEveryDocumentedMetricWithHelpTypeAndLabels) {
  const auto documented =
      testing::ReadMetricsDoc(std::string(BOUNCESTREAM_SOURCE_DIR) + "/metrics/METRICS.md");
  ASSERT_GE(documented.size(), 28u) << "METRICS.md table not found or changed shape";
  auto m = Make();
  TouchEverything(*m);
  const Exposition e = Scrape(*m);
  std::set<std::string> names;
  for (const auto& d : documented) {
    SCOPED_TRACE(d.name);
    names.insert(d.name);
    ASSERT_TRUE(e.type.contains(d.name)) << "no # TYPE line";
    EXPECT_EQ(e.type.at(d.name), d.type);
    ASSERT_TRUE(e.help.contains(d.name)) << "no # HELP line";
    EXPECT_GE(e.help.at(d.name).size(), 10u);
    std::set<std::string> labels = e.LabelNames(d.name);
    EXPECT_EQ(labels, d.labels);
    if (d.type == "counter") {
      EXPECT_TRUE(d.name.ends_with("_total"));
    }
  }
  // And nothing that is not documented.
  for (const auto& [name, type] : e.type) EXPECT_TRUE(names.contains(name)) << name;
}

TEST(MetricsTest, BuildInfo) {
  MetricsOptions options;
  options.version = "1.2.3";
  options.revision = "0e37c69";
  auto m = Make(std::move(options));
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_build_info", {{"version", "1.2.3"}, {"revision", "0e37c69"}}), 1);
}

TEST(MetricsTest, UnlabelledAndBaselineSeriesExistAtStart) {
  auto m = Make();
  const Exposition e = Scrape(*m);
  for (const char* name :
       {"bouncestream_ready", "bouncestream_provider_folded_total",
        "bouncestream_duplicate_events_total", "bouncestream_rebalances_total",
        "bouncestream_state_write_errors_total"}) {
    EXPECT_EQ(e.LabelValues(name, "x").size(), 0u);
    bool found = false;
    for (const auto& s : e.samples) found = found || s.name == name;
    EXPECT_TRUE(found) << name;
  }
  EXPECT_EQ(e.LabelValues("bouncestream_input_records_total", "topic_format").size(), 11u);
  EXPECT_EQ(e.LabelValues("bouncestream_active_decisions", "kind"),
            (std::set<std::string>{"alert", "pause", "suppress"}));
}

TEST(MetricsTest, CountersAndGauges) {
  auto m = Make();
  m->AddInputRecords("ses", true, 5);
  m->AddInputRecords("ses", false, 2);
  m->AddDecisions("suppress", "tenant", "recipient_invalid", 4);
  m->SetActiveDecisions("suppress", 4);
  m->SetActiveDecisions("suppress", 3);
  m->SetReady(true);
  m->SetLastEventTimestamp(200);
  m->SetLastEventTimestamp(100);  // never goes back
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_input_records_total", {{"topic_format", "ses"}, {"result", "ok"}}),
            5);
  EXPECT_EQ(e.Sum("bouncestream_input_records_total",
                  {{"topic_format", "ses"}, {"result", "dead_letter"}}),
            2);
  EXPECT_EQ(e.Sum("bouncestream_decisions_total",
                  {{"kind", "suppress"}, {"scope", "tenant"}, {"party", "recipient_invalid"}}),
            4);
  EXPECT_EQ(e.Sum("bouncestream_active_decisions", {{"kind", "suppress"}}), 3);
  EXPECT_EQ(e.Sum("bouncestream_ready"), 1);
  EXPECT_EQ(e.Sum("bouncestream_last_event_timestamp_seconds"), 200);
}

TEST(MetricsTest, UnknownLabelValuesBecomeOther) {
  auto m = Make();
  m->AddClassified("initech", "nobody", "acme-filter", "NoSuchClass");
  m->AddByReason("whatever");
  m->AddDeadLetters("new_kind");
  m->AddDecisions("explode", "planet", "martians");
  m->AddInputRecords("smoke-signals", true);
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_events_classified_total", {{"tenant", "other"},
                                                           {"party", "other"},
                                                           {"vendor", "other"},
                                                           {"class", "other"}}),
            1);
  EXPECT_EQ(e.Sum("bouncestream_events_by_reason_total", {{"reason", "other"}}), 1);
  EXPECT_EQ(e.Sum("bouncestream_dead_letters_total", {{"reason", "other"}}), 1);
  EXPECT_EQ(e.Sum("bouncestream_decisions_total",
                  {{"kind", "other"}, {"scope", "other"}, {"party", "other"}}),
            1);
  EXPECT_EQ(e.Sum("bouncestream_input_records_total", {{"topic_format", "other"}}), 1);
}

TEST(MetricsTest, ProviderFoldingIsCounted) {
  auto m = Make();
  m->AddByProvider("gmail.com", "end_user", 3);
  m->AddByProvider("acme.example", "recipient_admin", 2);
  m->AddByProvider("bob@hotmail.com", "end_user");
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_events_by_provider_total", {{"provider", "gmail"}}), 3);
  EXPECT_EQ(e.Sum("bouncestream_events_by_provider_total", {{"provider", "microsoft"}}), 1);
  EXPECT_EQ(e.Sum("bouncestream_events_by_provider_total",
                  {{"provider", "other"}, {"party", "recipient_admin"}}),
            2);
  EXPECT_EQ(e.Sum("bouncestream_provider_folded_total"), 2);
}

TEST(MetricsTest, NoAddressEverReachesTheExposition) {
  MetricsOptions options;
  options.version = "me@example.com";
  options.revision = "rev@x";
  options.tenant_allow_list = {"acme"};
  auto m = Make(std::move(options));
  const std::string a = "bob@example.com";
  for (const std::string& v : {a, std::string("%40") + a, std::string("x\xEF\xBC\xA0y"),
                               std::string("acme@evil"), std::string("@"), std::string("a\"b@c")}) {
    m->AddInputRecords(v, true);
    m->AddInputRecords(v, false);
    m->AddClassified(v, v, v, v);
    m->AddByReason(v);
    m->AddByProvider(v, v);
    m->AddDeadLetters(v);
    m->AddDecisions(v, v, v);
    m->SetActiveDecisions(v, 1);
    m->SetConsumerLag(v, 0, 1);
    m->SetAssignedPartitions(v, 1);
    m->ObserveLatency(v, 1);
    m->ObserveBatchDuration(v, 1);
    BatchCounts batch(*m);
    batch.InputRecord(v, true);
    batch.Event(v, v, v, v, v, v);
    batch.DeadLetter(v);
    batch.Decision(v, v, v);
    batch.Latency(v, 0.1);
    m->Flush(batch);
  }
  auto text = m->Serialize();
  ASSERT_TRUE(text.has_value());
  EXPECT_EQ(text->find('@'), std::string::npos);
  EXPECT_EQ(text->find("%40"), std::string::npos);
  EXPECT_EQ(text->find("\xEF\xBC\xA0"), std::string::npos);
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_build_info", {{"version", "invalid"}, {"revision", "invalid"}}),
            1);
  EXPECT_EQ(e.LabelValues("bouncestream_consumer_lag_messages", "topic"),
            std::set<std::string>{"invalid"});
}

TEST(MetricsTest, BatchCountsEqualDirectUpdates) {
  auto direct = Make();
  auto batched = Make();
  BatchCounts batch(*batched);
  EXPECT_TRUE(batch.empty());
  const char* parties[] = {"filter_platform", "recipient_admin", "end_user"};
  const char* domains[] = {"gmail.com", "acme.example", "yahoo.com", "icloud.com"};
  for (int i = 0; i < 1000; ++i) {
    const char* party = parties[i % 3];
    const char* domain = domains[i % 4];
    const char* tenant = i % 5 == 0 ? "initech" : "acme";
    direct->AddInputRecords("canonical", i % 7 != 0);
    batch.InputRecord("canonical", i % 7 != 0);
    direct->AddClassified(tenant, party, "mimecast", "SpamBlock");
    direct->AddByReason("blocked");
    direct->AddByProvider(domain, party);
    batch.Event(tenant, party, "mimecast", "SpamBlock", "blocked", domain);
    if (i % 10 == 0) {
      direct->AddDeadLetters("missing_field");
      batch.DeadLetter("missing_field");
      direct->AddDecisions("pause", "domain", party);
      batch.Decision("pause", "domain", party);
      direct->AddDuplicateEvents();
      batch.Duplicate();
      direct->AddLateEvents();
      batch.Late();
    }
    direct->ObserveLatency("decide", 0.001 * (i % 50));
    batch.Latency("decide", 0.001 * (i % 50));
    batch.EventTime(1000 + i);
  }
  direct->SetLastEventTimestamp(1999);
  EXPECT_FALSE(batch.empty());
  // Nothing reaches the registry before the flush.
  EXPECT_EQ(Scrape(*batched).Sum("bouncestream_input_records_total"), 0);
  batched->Flush(batch);
  EXPECT_TRUE(batch.empty());

  const Exposition a = Scrape(*direct);
  const Exposition b = Scrape(*batched);
  auto by_series = [](const Exposition& e) {
    std::map<std::string, double> out;
    for (const auto& s : e.samples) {
      std::string key = s.name;
      for (const auto& [k, v] : s.labels) key += "|" + k + "=" + v;
      out[key] = s.value;
    }
    return out;
  };
  const auto sa = by_series(a);
  const auto sb = by_series(b);
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [key, value] : sa) {
    ASSERT_TRUE(sb.contains(key)) << key;
    EXPECT_NEAR(value, sb.at(key), 1e-9) << key;
  }
  EXPECT_EQ(b.Sum("bouncestream_input_records_total"), 1000);
  EXPECT_EQ(b.Sum("bouncestream_events_classified_total", {{"tenant", "other"}}), 200);
  EXPECT_EQ(b.Sum("bouncestream_provider_folded_total"), 250);
  EXPECT_EQ(b.Sum("bouncestream_processing_latency_seconds_count", {{"stage", "decide"}}), 1000);
  EXPECT_EQ(b.Sum("bouncestream_last_event_timestamp_seconds"), 1999);

  // A second flush of an empty batch changes nothing.
  batched->Flush(batch);
  EXPECT_EQ(Scrape(*batched).Sum("bouncestream_input_records_total"), 1000);
}

TEST(MetricsTest, HistogramBuckets) {
  const auto& latency = LatencyBuckets();
  EXPECT_DOUBLE_EQ(latency.front(), 0.001);
  EXPECT_DOUBLE_EQ(latency.back(), 600);
  const auto& batch = BatchDurationBuckets();
  EXPECT_DOUBLE_EQ(batch.front(), 0.0001);
  EXPECT_DOUBLE_EQ(batch.back(), 10);
  EXPECT_TRUE(std::is_sorted(latency.begin(), latency.end()));
  EXPECT_TRUE(std::is_sorted(batch.begin(), batch.end()));

  auto m = Make();
  m->ObserveLatency("classify", 0.001);  // on a boundary: le="0.001"
  m->ObserveLatency("classify", 1000);   // beyond the last: +Inf only
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_processing_latency_seconds_bucket",
                  {{"stage", "classify"}, {"le", "0.001"}}),
            1);
  EXPECT_EQ(e.Sum("bouncestream_processing_latency_seconds_bucket",
                  {{"stage", "classify"}, {"le", "600"}}),
            1);
  EXPECT_EQ(e.Sum("bouncestream_processing_latency_seconds_bucket",
                  {{"stage", "classify"}, {"le", "+Inf"}}),
            2);
  EXPECT_EQ(e.LabelValues("bouncestream_batch_duration_seconds_count", "stage"),
            (std::set<std::string>{"classify", "state"}));
}

TEST(MetricsTest, BatchedLatencyUsesTheSameBuckets) {
  auto m = Make();
  BatchCounts batch(*m);
  batch.Latency("classify", 0.001);
  batch.Latency("classify", 0.0011);
  batch.Latency("classify", 1000);
  m->Flush(batch);
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_processing_latency_seconds_bucket",
                  {{"stage", "classify"}, {"le", "0.001"}}),
            1);
  EXPECT_EQ(e.Sum("bouncestream_processing_latency_seconds_bucket",
                  {{"stage", "classify"}, {"le", "0.0025"}}),
            2);
  EXPECT_EQ(e.Sum("bouncestream_processing_latency_seconds_bucket",
                  {{"stage", "classify"}, {"le", "+Inf"}}),
            3);
  EXPECT_NEAR(e.Sum("bouncestream_processing_latency_seconds_sum", {{"stage", "classify"}}),
              1000.0021, 1e-9);
}

TEST(MetricsTest, ConsumerLagTopicsAndPartitionsAreBounded) {
  MetricsOptions options;
  options.max_topics = 2;
  options.max_partitions = 8;
  auto m = Make(std::move(options));
  m->SetConsumerLag("a", 0, 1);
  m->SetConsumerLag("b", 1, 2);
  m->SetConsumerLag("c", 2, 3);   // third topic: other
  m->SetConsumerLag("a", 99, 4);  // partition beyond the bound: other
  m->SetConsumerLag("a", -1, 5);  // overwrites the same (a, other) series
  m->SetAssignedPartitions("a", 2);
  Exposition e = Scrape(*m);
  EXPECT_EQ(e.LabelValues("bouncestream_consumer_lag_messages", "topic"),
            (std::set<std::string>{"a", "b", "other"}));
  EXPECT_EQ(e.Sum("bouncestream_consumer_lag_messages", {{"topic", "a"}, {"partition", "other"}}),
            5);
  EXPECT_EQ(e.Sum("bouncestream_assigned_partitions", {{"topic", "a"}}), 2);
  m->RemoveConsumerLag("b", 1);
  e = Scrape(*m);
  EXPECT_EQ(e.LabelValues("bouncestream_consumer_lag_messages", "topic"),
            (std::set<std::string>{"a", "other"}));
}

TEST(MetricsTest, ConcurrentUpdates) {
  auto m = Make();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m, t] {
      BatchCounts batch(*m);
      for (int i = 0; i < 10000; ++i) {
        m->AddClassified("acme", "end_user", t % 2 ? "google" : "yahoo", "SpamBlock");
        batch.InputRecord("auto", true);
        if (i % 100 == 0) m->Flush(batch);
      }
      m->Flush(batch);
    });
  }
  for (auto& t : threads) t.join();
  const Exposition e = Scrape(*m);
  EXPECT_EQ(e.Sum("bouncestream_events_classified_total"), 40000);
  EXPECT_EQ(e.Sum("bouncestream_input_records_total", {{"topic_format", "auto"}}), 40000);
}

TEST(MetricsTest, InvalidOptionsAreErrorsNotExceptions) {
  MetricsOptions bad_tenant;
  bad_tenant.tenant_allow_list = {"a@b"};
  EXPECT_FALSE(Metrics::Create(bad_tenant).has_value());
  MetricsOptions bad_provider;
  bad_provider.providers = {{"x y", {"example.com"}}};
  EXPECT_FALSE(Metrics::Create(bad_provider).has_value());
  MetricsOptions bad_vocabulary;
  bad_vocabulary.vocabulary.parties.push_back("end_user");  // duplicate
  EXPECT_FALSE(Metrics::Create(bad_vocabulary).has_value());
}

}  // namespace
}  // namespace bouncestream::metrics
