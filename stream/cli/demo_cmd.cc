// `bouncestream demo`: a dev broker, a traffic generator and a real processor process, with a
// live summary of what the processor makes of the stream.
#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "stream/cli/child.h"
#include "stream/cli/commands.h"
#include "stream/demo/generator.h"
#include "stream/kafka_produce.h"
#include "stream/log.h"

namespace bouncestream::stream::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kInputTopic = "bounces.in";

struct Tally {
  std::int64_t classified = 0;
  std::int64_t dead_letters = 0;
  std::map<std::string, std::int64_t> party, vendor, action, dlq_reason;
  std::map<std::string, std::string> example;  // party -> "vendor/action/reason: text"
  // Decisions read back from the suppressions, blocks and alerts topics.
  std::int64_t decisions = 0;
  std::map<std::string, std::int64_t> decision_kind;  // "suppress/tenant", "pause/ip_vendor", ...
  std::map<std::string, std::string> decision_example;  // same key -> one line with evidence
  std::vector<std::string> latest;                      // newest decisions, for the live summary
};

rd_kafka_t* NewClient(rd_kafka_type_t type,
                      const std::vector<std::pair<std::string, std::string>>& props,
                      std::string* error) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : props) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      *error = k + ": " + err;
      rd_kafka_conf_destroy(conf);
      return nullptr;
    }
  }
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (rk == nullptr) *error = err;
  return rk;
}

// Hides the local part of every address in a text shown on screen ("***@example.com").
std::string MaskAddresses(std::string text) {
  for (std::size_t at = text.find('@'); at != std::string::npos; at = text.find('@', at + 1)) {
    std::size_t start = at;
    while (start > 0 && text[start - 1] != ' ' && text[start - 1] != '<' && text[start - 1] != ':' &&
           text[start - 1] != '(' && text[start - 1] != '[') {
      --start;
    }
    if (start == at) continue;
    text.replace(start, at - start, "***");
    at = start + 3;
  }
  return text;
}

// One decision record (bouncestream.suppressions / .blocks / .alerts) -> the tally.
void CountDecision(const rd_kafka_message_t* m, simdjson::ondemand::parser& parser,
                   std::string& buf, Tally* t) {
  if (m->payload == nullptr) return;  // a tombstone (erased recipient)
  buf.assign(static_cast<const char*>(m->payload), m->len);
  buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (parser.iterate(buf.data(), buf.size(), buf.capacity()).get(doc)) return;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return;
  std::map<std::string, std::string> f;
  std::int64_t count = 0;
  std::string example;
  for (auto field : obj) {
    std::string_view key;
    if (field.unescaped_key().get(key)) return;
    simdjson::ondemand::value v;
    if (field.value().get(v)) return;
    if (key == "evidence") {
      simdjson::ondemand::object ev;
      if (v.get_object().get(ev)) continue;
      for (auto ef : ev) {
        std::string_view ek;
        if (ef.unescaped_key().get(ek)) break;
        if (ek == "count") {
          if (ef.value().get_int64().get(count)) count = 0;
        } else if (ek == "example") {
          std::string_view ex;
          if (!ef.value().get_string().get(ex)) example = std::string(ex);
        }
      }
      continue;
    }
    std::string_view sv;
    if (!v.get_string().get(sv)) f[std::string(key)] = std::string(sv);
  }
  ++t->decisions;
  const std::string kind = f["kind"] + "/" + f["scope"];
  ++t->decision_kind[kind];
  // Who or what it is about, without addresses: domain, IP -> vendor, or a masked recipient.
  std::string subject;
  if (f["scope"] == "ip_vendor") {
    subject = f["sending_ip"] + " -> " + f["vendor"] + (f["dnsbl"].empty() ? "" : " (delist from " + f["dnsbl"] + ")");
  } else if (f["kind"] == "alert" || (f["scope"] == "sender" && f["recipient"].empty() &&
                                       f["recipient_hash"].empty())) {
    subject = f["tenant"] + " sender " + MaskAddresses(f["sender"]);
  } else if (f["scope"] == "domain") {
    subject = "sender -> " + f["domain"];
  } else if (!f["recipient"].empty()) {
    subject = MaskAddresses(f["recipient"]);
  } else {
    subject = f["recipient_hash"];
  }
  char line[512];
  std::snprintf(line, sizeof line, "%-8s %-9s %-22s %s/%s (%lld events) %s", f["kind"].c_str(),
                f["scope"].c_str(), f["rule"].c_str(), f["reason"].c_str(), f["party"].c_str(),
                static_cast<long long>(count), subject.c_str());
  t->latest.push_back(line);
  if (t->latest.size() > 3) t->latest.erase(t->latest.begin());
  auto& ex = t->decision_example[kind];
  if (ex.empty()) {
    example = MaskAddresses(std::move(example));
    if (example.size() > 110) example = example.substr(0, 107) + "...";
    ex = std::string(line) + "\n      evidence: " + example;
  }
}

void Count(const rd_kafka_message_t* m, simdjson::ondemand::parser& parser, std::string& buf,
           Tally* t) {
  const std::string_view topic = rd_kafka_topic_name(m->rkt);
  if (topic == "bouncestream.suppressions" || topic == "bouncestream.blocks" ||
      topic == "bouncestream.alerts") {
    CountDecision(m, parser, buf, t);
    return;
  }
  if (topic == "bouncestream.dlq") {
    ++t->dead_letters;
    rd_kafka_headers_t* headers = nullptr;
    const void* value = nullptr;
    size_t size = 0;
    std::string reason = "unknown";
    if (rd_kafka_message_headers(m, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(headers, "bouncestream.reason", &value, &size) ==
            RD_KAFKA_RESP_ERR_NO_ERROR) {
      reason.assign(static_cast<const char*>(value), size);
    }
    ++t->dlq_reason[reason];
    return;
  }
  ++t->classified;
  buf.assign(static_cast<const char*>(m->payload), m->len);
  buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (parser.iterate(buf.data(), buf.size(), buf.capacity()).get(doc)) return;
  std::string_view text, party, vendor, action, reason;
  if (doc["text"].get_string().get(text)) return;
  std::string text_copy(text);
  simdjson::ondemand::object c;
  if (doc["classification"].get_object().get(c)) return;
  if (c["reason"].get_string().get(reason)) return;
  std::string reason_copy(reason);
  if (c["vendor"].get_string().get(vendor)) return;
  std::string vendor_copy(vendor);
  if (c["party"].get_string().get(party)) return;
  std::string party_copy(party);
  if (c["action"].get_string().get(action)) return;
  ++t->party[party_copy];
  ++t->vendor[vendor_copy];
  ++t->action[std::string(action)];
  auto& ex = t->example[party_copy];
  if (ex.empty() && !text_copy.empty()) {
    text_copy = MaskAddresses(std::move(text_copy));
    if (text_copy.size() > 110) text_copy = text_copy.substr(0, 107) + "...";
    ex = vendor_copy + " / " + std::string(action) + " / " + reason_copy + "\n      " + text_copy;
  }
}

std::string Shares(const std::map<std::string, std::int64_t>& m, std::int64_t total) {
  std::vector<std::pair<std::int64_t, std::string>> v;
  for (const auto& [k, n] : m) v.push_back({n, k});
  std::sort(v.rbegin(), v.rend());
  std::string out;
  char buf[96];
  for (const auto& [n, k] : v) {
    std::snprintf(buf, sizeof buf, "%s %.0f%%  ", k.c_str(), total > 0 ? 100.0 * n / total : 0.0);
    out += buf;
  }
  return out;
}

bool WaitForFile(const std::string& path, int timeout_ms, std::string* content) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    std::ifstream in(path);
    if (in && std::getline(in, *content) && !content->empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

int RunDemo(const DemoOptions& options) {
  InstallStopHandlers();
  std::atomic<bool>& stop = StopFlag();
  const std::string dir = options.work_dir.empty()
                              ? (std::filesystem::temp_directory_path() /
                                 ("bouncestream-demo-" + std::to_string(getpid())))
                                    .string()
                              : options.work_dir;
  std::filesystem::create_directories(dir);
  std::printf("bouncestream demo: work dir %s (broker and processor logs are there)\n", dir.c_str());

  const std::string group = "bouncestream-demo-" + std::to_string(getpid());
  pid_t broker = -1;
  std::string bootstrap = options.bootstrap;
  if (bootstrap.empty()) {
    const std::string bs_file = dir + "/bootstrap";
    std::filesystem::remove(bs_file);
    broker = SpawnSelf({"devbroker", "--port", std::to_string(options.port), "--topic",
                        std::string(kInputTopic) + ":6", "--topic", "bouncestream.classified:6",
                        "--topic", "bouncestream.dlq:2", "--topic", "bouncestream.suppressions:6",
                        "--topic", "bouncestream.blocks:6", "--topic", "bouncestream.alerts:2",
                        "--topic", "bouncestream.audit:1", "--topic", "bouncestream.admin:1",
                        "--topic", group + "-state-changelog:6", "--bootstrap-file", bs_file},
                       dir + "/devbroker.log");
    if (broker < 0 || !WaitForFile(bs_file, 15000, &bootstrap)) {
      std::fprintf(stderr, "error: the dev broker did not start (see %s/devbroker.log)\n",
                   dir.c_str());
      if (broker > 0) StopChild(broker, 2000);
      return kExitRuntime;
    }
    std::printf("dev broker (librdkafka mock cluster, in memory) at %s\n", bootstrap.c_str());
  } else {
    std::printf("using the Kafka cluster at %s (topics %s and %s-state-changelog must exist)\n",
                bootstrap.c_str(), kInputTopic, group.c_str());
  }

  pid_t processor = SpawnSelf({"run", "--bootstrap", bootstrap, "--group", group, "--input",
                               std::string(kInputTopic) + ":auto", "--state-dir", dir + "/state",
                               "--metrics-addr", options.metrics_addr},
                              dir + "/processor.log");
  if (processor < 0) {
    std::fprintf(stderr, "error: cannot start the processor\n");
    StopChild(broker, 2000);
    return kExitRuntime;
  }
  std::printf("processor started (group %s); generating %d events/s for %d s, Ctrl-C stops\n",
              group.c_str(), options.rate, options.duration_s);
  std::printf("status page: http://%s/  (metrics: /metrics)\n\n", options.metrics_addr.c_str());

  std::string error;
  rd_kafka_t* producer = NewClient(
      RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}, {"linger.ms", "5"}}, &error);
  rd_kafka_t* watcher = NewClient(RD_KAFKA_CONSUMER,
                                  {{"bootstrap.servers", bootstrap},
                                   {"group.id", group + "-watch"},
                                   {"auto.offset.reset", "earliest"},
                                   {"enable.auto.commit", "false"},
                                   {"session.timeout.ms", "6000"},
                                   {"heartbeat.interval.ms", "1000"},
                                   {"fetch.wait.max.ms", "20"}},
                                  &error);
  if (producer == nullptr || watcher == nullptr) {
    std::fprintf(stderr, "error: kafka client: %s\n", error.c_str());
    StopChild(processor, 5000);
    StopChild(broker, 2000);
    return kExitRuntime;
  }
  rd_kafka_poll_set_consumer(watcher);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(5);
  for (const char* t : {"bouncestream.classified", "bouncestream.dlq", "bouncestream.suppressions",
                        "bouncestream.blocks", "bouncestream.alerts"}) {
    rd_kafka_topic_partition_list_add(topics, t, RD_KAFKA_PARTITION_UA);
  }
  rd_kafka_subscribe(watcher, topics);
  rd_kafka_topic_partition_list_destroy(topics);

  GeneratorOptions gen_options;
  gen_options.start_time_s = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  TrafficGenerator generator(gen_options);
  Tally tally;
  simdjson::ondemand::parser parser;
  std::string buf;
  std::int64_t generated = 0, expected_classified = 0, expected_dlq = 0;
  const auto start = Clock::now();
  auto last_print = start;
  std::int64_t last_classified = 0;
  auto elapsed_s = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  bool generating = true;
  int processor_exit = 0;
  bool processor_alive = true;
  double drain_until = 0, stop_generating_at = 0;
  std::int64_t drain_seen = 0;
  for (;;) {
    if (generating && (stop.load() || elapsed_s() >= options.duration_s)) {
      generating = false;
      stop_generating_at = elapsed_s();
      drain_until = stop_generating_at + 20.0;
      std::printf("\nstopped generating; waiting for the processor to finish the stream...\n");
    }
    if (generating) {
      const auto target = static_cast<std::int64_t>(elapsed_s() * options.rate);
      while (generated < target) {
        const GeneratedRecord r = generator.Next();
        ProduceCopy(producer, kInputTopic, r.key, r.value);
        ++generated;
        if (r.malformed) {
          ++expected_dlq;
        } else {
          expected_classified += r.events;
        }
      }
    }
    rd_kafka_poll(producer, 0);
    for (int i = 0; i < 5000; ++i) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(watcher, i == 0 ? 20 : 0);
      if (m == nullptr) break;
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) Count(m, parser, buf, &tally);
      rd_kafka_message_destroy(m);
    }
    if (processor_alive && !ChildRunning(processor, &processor_exit)) {
      processor_alive = false;
      std::printf("processor exited with %d (see %s/processor.log)\n", processor_exit, dir.c_str());
    }
    const auto now = Clock::now();
    if (now - last_print >= std::chrono::seconds(2)) {
      const double dt = std::chrono::duration<double>(now - last_print).count();
      std::printf("[%4.0fs] generated %lld | classified %lld (%.0f/s) | dead letters %lld\n"
                  "        party:  %s\n        vendor: %s\n        decisions %lld: %s\n",
                  elapsed_s(), static_cast<long long>(generated),
                  static_cast<long long>(tally.classified),
                  (tally.classified - last_classified) / dt,
                  static_cast<long long>(tally.dead_letters),
                  Shares(tally.party, tally.classified).c_str(),
                  Shares(tally.vendor, tally.classified).c_str(),
                  static_cast<long long>(tally.decisions),
                  Shares(tally.decision_kind, tally.decisions).c_str());
      for (const std::string& l : tally.latest) std::printf("          new: %s\n", l.c_str());
      tally.latest.clear();
      std::fflush(stdout);
      last_print = now;
      last_classified = tally.classified;
    }
    if (!generating) {
      const bool caught_up =
          tally.classified >= expected_classified && tally.dead_letters >= expected_dlq;
      // A processor that is still catching up (a slow machine) gets more time, as long as it
      // makes progress, up to two minutes after generation stopped.
      if (tally.classified > drain_seen) {
        drain_seen = tally.classified;
        drain_until = std::min(std::max(drain_until, elapsed_s() + 10.0), stop_generating_at + 120.0);
      }
      if (caught_up || elapsed_s() > drain_until || !processor_alive) break;
    }
  }
  rd_kafka_flush(producer, 5000);
  const int processor_code = processor_alive ? StopChild(processor, 15000) : processor_exit;
  rd_kafka_consumer_close(watcher);
  rd_kafka_destroy(watcher);
  rd_kafka_destroy(producer);
  if (broker > 0) StopChild(broker, 5000);

  std::printf("\n== summary ==\n");
  std::printf("records generated %lld (of which malformed %lld); events classified %lld of %lld; "
              "dead letters %lld\n",
              static_cast<long long>(generated), static_cast<long long>(expected_dlq),
              static_cast<long long>(tally.classified),
              static_cast<long long>(expected_classified),
              static_cast<long long>(tally.dead_letters));
  std::printf("who is responsible:\n");
  for (const auto& [k, n] : tally.party) std::printf("  %-18s %8lld\n", k.c_str(), static_cast<long long>(n));
  std::printf("which filter:\n");
  for (const auto& [k, n] : tally.vendor) std::printf("  %-18s %8lld\n", k.c_str(), static_cast<long long>(n));
  std::printf("recommended action:\n");
  for (const auto& [k, n] : tally.action) std::printf("  %-18s %8lld\n", k.c_str(), static_cast<long long>(n));
  std::printf("dead letters by reason:\n");
  for (const auto& [k, n] : tally.dlq_reason) std::printf("  %-18s %8lld\n", k.c_str(), static_cast<long long>(n));
  std::printf("an example per party (vendor / action / reason):\n");
  for (const auto& [k, ex] : tally.example) std::printf("  %s: %s\n", k.c_str(), ex.c_str());
  std::printf("decisions (what a sending system acts on) by kind/scope:\n");
  for (const auto& [k, n] : tally.decision_kind) std::printf("  %-18s %8lld\n", k.c_str(), static_cast<long long>(n));
  std::printf("an example per kind/scope, with its evidence:\n");
  for (const auto& [k, ex] : tally.decision_example) std::printf("  %s\n", ex.c_str());
  std::printf("processor exit code: %d\n", processor_code);
  const bool complete = tally.classified >= expected_classified && tally.dead_letters >= expected_dlq;
  if (!complete) std::printf("WARNING: the processor did not finish the whole stream in time\n");
  return complete && processor_code == 0 ? kExitOk : kExitRuntime;
}

}  // namespace bouncestream::stream::cli
