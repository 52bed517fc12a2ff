// Poison records with a real processor: one input topic per format (`--input p.FORMAT:FORMAT`,
// plus `p.auto:auto` holding every format), valid records from tests/testdata interleaved with
// poison of eight kinds: truncated, oversized (> Decoder::kMaxPayloadBytes), a document nested
// 10,000 levels deep, wrong-typed fields, invalid UTF-8, binary garbage, an empty value and a null value
// (tombstone). Every poison record must reach bouncestream.dlq exactly once, byte for byte, with
// its reason, source and adapter headers; every valid record's events must come out on
// bouncestream.classified exactly once (the group is balanced before anything is fed, so there
// is no rebalance to re-deliver anything); the processor must not crash, and must stop with 0.
//
// What counts as poison is decided by the in-process Decoder (the same code the processor runs),
// and the test also requires that the Decoder rejects every poison kind built here for every
// format.
//
// The oversized record is 4 MiB + 1 byte of mostly blanks: the feeding producer and the
// processor both compress with lz4, so the dev broker (whose partitions hold 5 MiB and must not
// get batches over ~2.5 MiB) stores a few KiB per batch; the processor's producer gets
// message.max.bytes = 8 MB so that it can dead-letter it (librdkafka's default is 1,000,000; see
// OversizedPoisonWithDefaultProducerLimits below for what happens without it).
#include <librdkafka/rdkafka.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "stream/decode.h"
#include "tests/stream/child_process.h"

namespace bouncestream::stream {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using testing::Child;
using testing::Slurp;
using testing::Spawn;

constexpr int kClassifiedPartitions = 4;

struct Format {
  const char* name;  // --input format and topic suffix
  const char* file;  // tests/testdata
};
constexpr Format kFormats[] = {
    {"canonical", "canonical.ndjson"}, {"kumomta", "kumomta.ndjson"},
    {"powermta", "powermta.csv"},      {"postfix", "postfix.log"},
    {"postal", "postal.ndjson"},       {"ses", "ses.ndjson"},
    {"sendgrid", "sendgrid.ndjson"},   {"mailgun", "mailgun.ndjson"},
    {"postmark", "postmark.ndjson"},   {"sparkpost", "sparkpost.ndjson"},
};

constexpr const char* kKinds[] = {"truncated", "oversized",  "nested_10k", "wrong_types",
                                  "invalid_utf8", "binary", "empty", "null"};

std::vector<std::string> Lines(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

bool IsJsonFormat(std::string_view f) { return f != "postfix" && f != "powermta"; }

// Every scalar of a JSON document replaced by [1] (keys kept): each field has the wrong type.
void WrongTypes(simdjson::dom::element e, std::string* out) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      out->push_back('{');
      bool first = true;
      for (auto [k, v] : simdjson::dom::object(e)) {
        if (!first) out->push_back(',');
        first = false;
        out->append("\"").append(k).append("\":");
        WrongTypes(v, out);
      }
      out->push_back('}');
      break;
    }
    case simdjson::dom::element_type::ARRAY: {
      out->push_back('[');
      bool first = true;
      for (auto v : simdjson::dom::array(e)) {
        if (!first) out->push_back(',');
        first = false;
        WrongTypes(v, out);
      }
      out->push_back(']');
      break;
    }
    default:
      out->append("[1]");
  }
}

std::string Replace(std::string s, std::string_view what, std::string_view with) {
  const auto at = s.find(what);
  if (at != std::string::npos) s.replace(at, what.size(), with);
  return s;
}

// A poison record of `kind` made from `base`, a valid record of `format`.
std::optional<std::string> Poison(std::string_view kind, std::string_view format,
                                  const std::string& base, std::mt19937& rng) {
  if (kind == "truncated") return base.substr(0, base.size() * 6 / 10);
  if (kind == "oversized") {
    std::string s = base;
    s.resize(Decoder::kMaxPayloadBytes + 1, ' ');
    return s;
  }
  if (kind == "nested_10k") {
    // The whole document nested 10,000 deep. (A valid record with a 10,000-deep field it does
    // not read is accepted by design: On-Demand skips it without recursion, decode_test.cc;
    // BuildRecords feeds such records as valid ones.)
    return std::string(10'000, '[') + std::string(10'000, ']');
  }
  if (kind == "wrong_types") {
    if (format == "postfix") {
      for (const char* st : {"status=bounced", "status=deferred", "status=sent", "status=expired"}) {
        if (base.find(st) != std::string::npos) return Replace(base, st, "status=42");
      }
      return base + " status=42";
    }
    if (format == "powermta") return "42" + base.substr(base.find(','));
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(base).get(doc)) return std::nullopt;
    std::string out;
    WrongTypes(doc, &out);
    return out;
  }
  if (kind == "invalid_utf8") {
    std::string s = base;
    const auto at = IsJsonFormat(format) ? s.find("\":\"") : s.find(' ', s.size() / 2);
    s.insert(at == std::string::npos ? s.size() / 2 : at + (IsJsonFormat(format) ? 3 : 1),
             "\xC3\x28\xFF\xFE");
    return s;
  }
  if (kind == "binary") {
    std::string s(512, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
    s[0] = '\x01';  // never whitespace, never '{'
    return s;
  }
  if (kind == "empty") return std::string();
  return std::nullopt;  // "null": a tombstone
}

struct Record {
  std::string topic;
  std::string format;
  std::string kind;  // "valid" or a poison kind
  std::string key;
  std::optional<std::string> value;  // nullopt: null value
  // What the in-process Decoder says.
  bool rejected = false;
  std::string reason;
  std::multiset<std::string> event_ids;
  std::int64_t offset = -1;  // from the delivery report
};

class PoisonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path("/tmp") /
           ("bs_poison_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::vector<std::string> args = {"devbroker", "--port", "0"};
    for (const auto& f : kFormats) args.insert(args.end(), {"--topic", std::string("p.") + f.name + ":1"});
    const std::string cp = ":" + std::to_string(kClassifiedPartitions);
    for (const std::string& t : std::vector<std::string>{
         "p.auto:1", "bouncestream.classified" + cp, "poison-state-changelog" + cp,
          std::string("bouncestream.dlq:1"), std::string("bouncestream.suppressions:2"),
          std::string("bouncestream.blocks:1"), std::string("bouncestream.alerts:1"),
          std::string("bouncestream.audit:1"), std::string("bouncestream.admin:1")}) {
      args.insert(args.end(), {"--topic", t});
    }
    args.insert(args.end(), {"--bootstrap-file", (dir_ / "bs").string()});
    Spawn(&broker_, args, (dir_ / "broker.log").string());
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline && bootstrap_.empty()) {
      std::ifstream in(dir_ / "bs");
      std::getline(in, bootstrap_);
      if (bootstrap_.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(bootstrap_.empty()) << Slurp((dir_ / "broker.log").string());
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"bootstrap.servers", bootstrap_},
             {"linger.ms", "5"},
             {"compression.type", "lz4"},
             {"message.max.bytes", "8000000"}}) {
      ASSERT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK)
          << err;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<PoisonTest*>(opaque);
      auto* rec = static_cast<Record*>(m->_private);
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ++self->produce_errors_;
      } else if (rec != nullptr) {
        rec->offset = m->offset;
      }
    });
    rd_kafka_conf_set_opaque(conf, this);
    producer_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    ASSERT_NE(producer_, nullptr) << err;
  }

  void TearDown() override {
    processor_.Kill();
    if (producer_ != nullptr) rd_kafka_destroy(producer_);
    broker_.Terminate(5000);
    if (!HasFailure()) fs::remove_all(dir_);
  }

  void StartProcessor(const std::string& extra_config) {
    std::ofstream cfg(dir_ / "bouncestream.toml");
    cfg << "[kafka.producer]\n\"compression.type\" = \"lz4\"\n" << extra_config;
    cfg.close();
    std::vector<std::string> args = {"run",     "--config", (dir_ / "bouncestream.toml").string(),
                                     "--bootstrap", bootstrap_, "--group", "poison"};
    for (const auto& f : kFormats) {
      args.insert(args.end(), {"--input", std::string("p.") + f.name + ":" + f.name});
    }
    args.insert(args.end(), {"--input", "p.auto:auto", "--state-dir", (dir_ / "state").string(),
                             "--metrics-addr", "127.0.0.1:0"});
    Spawn(&processor_, args, (dir_ / "processor.log").string());
  }

  // Waits until the processor holds every partition (11 inputs + the classified topic).
  void WaitAssigned() {
    const std::string share = "\"msg\":\"partitions assigned\",\"count\":" +
                              std::to_string(11 + kClassifiedPartitions);
    const auto deadline = Clock::now() + std::chrono::seconds(60);
    while (Clock::now() < deadline) {
      if (Slurp(processor_.log).find(share) != std::string::npos) return;
      ExpectAlive();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "the processor never got its partitions: " << processor_.log;
  }

  bool ExpectAlive() {
    if (processor_.pid <= 0) return false;
    int status = 0;
    if (::waitpid(processor_.pid, &status, WNOHANG) == processor_.pid) {
      processor_.pid = -1;
      const std::string log = Slurp(processor_.log);
      ADD_FAILURE() << "the processor exited (status "
                    << (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status))
                    << "); log tail:\n"
                    << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
      return false;
    }
    return true;
  }

  // Adds a record and what the in-process Decoder makes of it.
  void Add(const std::string& topic, const std::string& format, const std::string& kind,
           std::optional<std::string> value) {
    Record r;
    r.topic = topic;
    r.format = format;
    r.kind = kind;
    r.key = "k" + std::to_string(records_.size());
    r.value = std::move(value);
    events_.clear();
    decoder_.Reset();
    const auto in_format = ParseInputFormat(format);
    ASSERT_TRUE(in_format.has_value()) << format;
    const std::string_view payload = r.value ? std::string_view(*r.value) : std::string_view();
    auto decoded = decoder_.Decode(payload, *in_format, &events_);
    r.rejected = !decoded.has_value();
    if (!decoded) r.reason = std::string(decoded.error().kind);
    for (const auto& ev : events_) r.event_ids.insert(std::string(ev.id));
    records_.push_back(std::move(r));
  }

  // The valid records of every format with poison of every kind in between; for the auto topic,
  // the valid records of all formats.
  void BuildRecords(const std::vector<std::string>& kinds) {
    std::mt19937 rng(4242);
    const fs::path data = fs::path(BOUNCESTREAM_SOURCE_DIR) / "tests" / "testdata";
    std::vector<std::pair<std::string, std::string>> auto_valid;  // (format, line)
    std::string pmta_header;
    for (const auto& f : kFormats) {
      const std::string topic = std::string("p.") + f.name;
      std::vector<std::string> lines = Lines(data / f.file);
      ASSERT_FALSE(lines.empty()) << f.file;
      if (std::string_view(f.name) == "powermta") {
        pmta_header = lines.front();  // the header goes first (it sets the column layout)
        lines.erase(lines.begin());
        Add(topic, f.name, "valid", pmta_header);
      }
      // Only lines the Decoder accepts are "valid" (the test data may hold malformed ones).
      std::vector<std::string> valid;
      for (const auto& l : lines) {
        events_.clear();
        decoder_.Reset();
        if (decoder_.Decode(l, *ParseInputFormat(f.name), &events_)) valid.push_back(l);
      }
      ASSERT_FALSE(valid.empty()) << f.name;
      std::size_t next = 0;
      for (const auto& kind : kinds) {
        Add(topic, f.name, "valid", valid[next++ % valid.size()]);
        Add(topic, f.name, kind, Poison(kind, f.name, valid[(next + 1) % valid.size()], rng));
      }
      for (; next < valid.size() + 1; ++next) Add(topic, f.name, "valid", valid[next % valid.size()]);
      if (IsJsonFormat(f.name) && valid.front().starts_with("{")) {
        // Valid, with an unknown field nested 10,000 deep: it must come out like the others.
        Add(topic, f.name, "valid",
            "{\"zz\":" + std::string(10'000, '[') + std::string(10'000, ']') + "," +
                valid.front().substr(1));
        EXPECT_FALSE(records_.back().rejected) << f.name << ": " << records_.back().reason;
      }
      for (const auto& v : valid) auto_valid.emplace_back(f.name, v);
    }
    // The auto topic: the PowerMTA header, then all formats' valid records, poison in between.
    Add("p.auto", "auto", "valid", pmta_header);
    std::size_t next = 0;
    for (const auto& kind : kinds) {
      for (int i = 0; i < 4; ++i) {
        Add("p.auto", "auto", "valid", auto_valid[next++ % auto_valid.size()].second);
      }
      const auto& [fmt, base] = auto_valid[next % auto_valid.size()];
      Add("p.auto", "auto", kind, Poison(kind, fmt, base, rng));
    }
    for (; next < auto_valid.size(); ++next) {
      Add("p.auto", "auto", "valid", auto_valid[next].second);
    }
  }

  void Feed() {
    for (auto& r : records_) {
      rd_kafka_vu_t vu[5];
      std::size_t n = 0;
      vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
      vu[n++].u.cstr = r.topic.c_str();
      vu[n].vtype = RD_KAFKA_VTYPE_KEY;
      vu[n].u.mem.ptr = r.key.data();
      vu[n++].u.mem.size = r.key.size();
      vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
      vu[n].u.mem.ptr = r.value ? r.value->data() : nullptr;
      vu[n++].u.mem.size = r.value ? r.value->size() : 0;
      vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
      vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
      vu[n++].u.ptr = &r;
      rd_kafka_error_t* e = rd_kafka_produceva(producer_, vu, n);
      ASSERT_EQ(e, nullptr) << rd_kafka_error_string(e);
      rd_kafka_poll(producer_, 0);
    }
    ASSERT_EQ(rd_kafka_flush(producer_, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(produce_errors_, 0);
    fed_at_ = Clock::now();
  }

  struct Output {
    std::map<std::pair<std::string, std::int64_t>, int> dlq_copies;
    std::map<std::pair<std::string, std::int64_t>, std::multiset<std::string>> event_ids;
    int classified = 0, dlq = 0, bad_json = 0;
    double last_output_s = 0;  // after the feed ended
  };

  // Reads the classified and the dead-letter topic from the beginning, checking every dead
  // letter against its source record as it comes.
  Output Read(int timeout_s) {
    Output out;
    std::map<std::pair<std::string, std::int64_t>, const Record*> by_source;
    std::size_t want_dlq = 0, want_events = 0;
    for (const auto& r : records_) {
      by_source[{r.topic, r.offset}] = &r;
      if (r.rejected) {
        ++want_dlq;
      } else {
        want_events += r.event_ids.size();
      }
    }
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{
             {"bootstrap.servers", bootstrap_},
             {"group.id", "poison-reader"},
             {"enable.auto.commit", "false"},
             {"auto.offset.reset", "error"},
             {"fetch.wait.max.ms", "20"}}) {
      rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err);
    }
    rd_kafka_t* c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(8);
    for (int p = 0; p < kClassifiedPartitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, "bouncestream.classified", p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_topic_partition_list_add(parts, "bouncestream.dlq", 0)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(c, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    simdjson::ondemand::parser parser;
    std::string buf;
    const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
    std::optional<Clock::time_point> complete_at;
    // Keep reading 2 s after everything expected is there, to see duplicates and extras.
    while (Clock::now() < deadline &&
           (!complete_at || Clock::now() - *complete_at < std::chrono::seconds(2))) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 50);
      if (m == nullptr) {
        if (!ExpectAlive()) break;
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ADD_FAILURE() << "reader: " << rd_kafka_message_errstr(m);
        rd_kafka_message_destroy(m);
        continue;
      }
      out.last_output_s = std::chrono::duration<double>(Clock::now() - fed_at_).count();
      const std::string topic = rd_kafka_topic_name(m->rkt);
      if (topic == "bouncestream.dlq") {
        ++out.dlq;
        CheckDeadLetter(m, by_source, &out);
      } else {
        ++out.classified;
        buf.assign(static_cast<const char*>(m->payload), m->len);
        buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
        simdjson::ondemand::document doc;
        std::string_view id, src_topic;
        std::int64_t src_offset = -1;
        if (parser.iterate(buf.data(), buf.size(), buf.capacity()).get(doc) ||
            doc["id"].get_string().get(id)) {
          ++out.bad_json;
          ADD_FAILURE() << "classified record is not valid JSON: " << buf.substr(0, 300);
        } else {
          const std::string id_copy(id);
          if (doc["source"]["topic"].get_string().get(src_topic) ||
              doc["source"]["offset"].get_int64().get(src_offset)) {
            ++out.bad_json;
            ADD_FAILURE() << "classified record without source: " << buf.substr(0, 300);
          } else {
            out.event_ids[{std::string(src_topic), src_offset}].insert(id_copy);
          }
        }
        // A full JSON validation (UTF-8 and all): ondemand only checks what it reads.
        simdjson::dom::parser dom;
        simdjson::dom::element e;
        if (dom.parse(static_cast<const char*>(m->payload), m->len).get(e)) {
          ++out.bad_json;
          ADD_FAILURE() << "classified record fails full JSON validation: " << buf.substr(0, 300);
        }
      }
      rd_kafka_message_destroy(m);
      if (!complete_at && static_cast<std::size_t>(out.dlq) >= want_dlq &&
          static_cast<std::size_t>(out.classified) >= want_events) {
        complete_at = Clock::now();
      }
    }
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return out;
  }

  static std::optional<std::string> Header(rd_kafka_message_t* m, const char* name) {
    rd_kafka_headers_t* h = nullptr;
    const void* v = nullptr;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::nullopt;
    }
    return std::string(static_cast<const char*>(v), n);
  }

  void CheckDeadLetter(rd_kafka_message_t* m,
                       const std::map<std::pair<std::string, std::int64_t>, const Record*>& by_source,
                       Output* out) {
    const auto topic = Header(m, "bouncestream.source.topic");
    const auto offset = Header(m, "bouncestream.source.offset");
    if (!topic || !offset) {
      ADD_FAILURE() << "dead letter without source headers at DLQ offset " << m->offset;
      return;
    }
    const std::pair<std::string, std::int64_t> src{*topic, std::stoll(*offset)};
    ++out->dlq_copies[src];
    auto it = by_source.find(src);
    if (it == by_source.end()) {
      ADD_FAILURE() << "dead letter for an unknown source " << src.first << "/" << src.second;
      return;
    }
    const Record& r = *it->second;
    const std::string what = r.topic + "/" + std::to_string(r.offset) + " (" + r.kind + ")";
    EXPECT_TRUE(r.rejected) << "a record the Decoder accepts was dead-lettered: " << what
                            << " reason " << Header(m, "bouncestream.reason").value_or("?");
    const auto reason = Header(m, "bouncestream.reason");
    EXPECT_TRUE(reason.has_value() && !reason->empty()) << what << ": no reason header";
    EXPECT_EQ(reason.value_or(""), r.reason) << what;
    EXPECT_TRUE(Header(m, "bouncestream.detail").has_value()) << what;
    EXPECT_EQ(Header(m, "bouncestream.source.partition").value_or(""), "0") << what;
    EXPECT_EQ(Header(m, "bouncestream.adapter").value_or(""), r.format) << what;
    EXPECT_EQ(std::string(static_cast<const char*>(m->key), m->key_len), r.key) << what;
    // Byte for byte, and a null value stays null.
    EXPECT_EQ(m->payload == nullptr, !r.value.has_value())
        << what << ": null-ness of the value changed";
    const std::string got = m->payload != nullptr
                                ? std::string(static_cast<const char*>(m->payload), m->len)
                                : std::string();
    const std::string& want = r.value.value_or("");
    const auto truncated = Header(m, "bouncestream.truncated");
    if (want.size() > dlq_limit_) {
      // Larger than the producer may send: the first dlq_limit_ bytes and the original size.
      EXPECT_EQ(truncated.value_or(""), std::to_string(want.size())) << what;
      EXPECT_TRUE(got == want.substr(0, dlq_limit_))
          << what << ": not the record's first " << dlq_limit_ << " bytes (" << got.size()
          << " bytes)";
    } else {
      EXPECT_FALSE(truncated.has_value()) << what << ": cut although it fits";
      EXPECT_TRUE(got == want) << what << ": payload differs (" << got.size() << " bytes, want "
                               << want.size() << ")";
    }
  }

  void ExpectAll(const Output& out) {
    std::map<std::string, std::map<std::string, std::string>> table;  // format -> kind -> reason
    int poison = 0, valid = 0;
    std::size_t events = 0;
    for (const auto& r : records_) {
      const std::pair<std::string, std::int64_t> src{r.topic, r.offset};
      const std::string what = r.topic + "/" + std::to_string(r.offset) + " (" + r.kind + ")";
      ASSERT_GE(r.offset, 0) << what << " was not delivered";
      if (r.kind != "valid") {
        ++poison;
        table[r.topic][r.kind] = r.rejected ? r.reason : "ACCEPTED";
        EXPECT_TRUE(r.rejected) << what << ": the Decoder accepts this poison record";
      } else {
        ++valid;
      }
      if (r.rejected) {
        auto it = out.dlq_copies.find(src);
        EXPECT_EQ(it == out.dlq_copies.end() ? 0 : it->second, 1)
            << what << ": copies on the dead-letter topic";
        EXPECT_FALSE(out.event_ids.contains(src)) << what << ": rejected but classified";
      } else {
        events += r.event_ids.size();
        EXPECT_FALSE(out.dlq_copies.contains(src)) << what << ": valid but dead-lettered";
        auto it = out.event_ids.find(src);
        const std::multiset<std::string> none;
        EXPECT_EQ(it == out.event_ids.end() ? none : it->second, r.event_ids)
            << what << ": events on the classified topic";
      }
    }
    std::printf("records %zu (valid %d, poison %d), events expected %zu, classified records "
                "read %d, dead letters read %d; last output %.2f s after the feed ended\n",
                records_.size(), valid, poison, events, out.classified, out.dlq,
                out.last_output_s);
    for (const auto& [topic, kinds] : table) {
      std::string line;
      for (const auto& [k, reason] : kinds) line += " " + k + "=" + reason;
      std::printf("  %-12s%s\n", topic.c_str(), line.c_str());
    }
  }

  fs::path dir_;
  // Dead letters longer than this are expected cut to it (with a bouncestream.truncated header).
  std::size_t dlq_limit_ = std::numeric_limits<std::size_t>::max();
  Child broker_;
  Child processor_;
  std::string bootstrap_;
  rd_kafka_t* producer_ = nullptr;
  int produce_errors_ = 0;
  Decoder decoder_;
  std::vector<classify::BounceEvent> events_;
  std::vector<Record> records_;  // never resized after Feed (delivery reports point into it)
  Clock::time_point fed_at_;
};

TEST_F(PoisonTest, EveryPoisonRecordIsDeadLetteredOnceAndNothingElseIsLost) {
  BuildRecords({std::begin(kKinds), std::end(kKinds)});
  ASSERT_FALSE(HasFatalFailure());
  records_.shrink_to_fit();
  StartProcessor("\"message.max.bytes\" = 8000000\n");
  WaitAssigned();
  ASSERT_FALSE(HasFatalFailure());
  Feed();
  ASSERT_FALSE(HasFatalFailure());
  const Output out = Read(60);
  ExpectAll(out);
  EXPECT_TRUE(ExpectAlive());
  const std::string log = Slurp(processor_.log);
  EXPECT_EQ(log.find("\"level\":\"error\""), std::string::npos) << processor_.log;
  EXPECT_EQ(processor_.Terminate(20000), 0) << processor_.log;
}

// The same kind of records with the processor's default producer settings (librdkafka's
// message.max.bytes = 1,000,000). A malformed input record that large (under the Decoder's 4 MiB
// limit, or over it: "too_large") cannot be produced to the dead-letter topic as it is; once it
// stopped its partition for good (the failed produce was fatal, and a restart read it again).
// Now its dead letter carries the first message.max.bytes - 64 KiB bytes and a
// bouncestream.truncated header with the original size, and everything after it flows.
TEST_F(PoisonTest, OversizedPoisonWithDefaultProducerLimits) {
  dlq_limit_ = 1'000'000 - 65'536;
  const fs::path data = fs::path(BOUNCESTREAM_SOURCE_DIR) / "tests" / "testdata";
  const std::string valid = Lines(data / "canonical.ndjson").front();
  std::string big = "{\"id\":\"big\",";  // 1.5 MB: under the Decoder's limit, over librdkafka's
  big.resize(1'500'000, 'x');
  Add("p.canonical", "canonical", "valid", valid);
  Add("p.canonical", "canonical", "json_1.5MB", big);
  std::string huge = valid;
  huge.resize(Decoder::kMaxPayloadBytes + 1, ' ');
  Add("p.canonical", "canonical", "oversized", huge);
  Add("p.canonical", "canonical", "valid", valid);
  records_.shrink_to_fit();
  StartProcessor("");
  WaitAssigned();
  ASSERT_FALSE(HasFatalFailure());
  Feed();
  ASSERT_FALSE(HasFatalFailure());
  const Output out = Read(30);
  ExpectAll(out);
  EXPECT_TRUE(ExpectAlive());
  EXPECT_EQ(processor_.Terminate(20000), 0) << processor_.log;
}

}  // namespace
}  // namespace bouncestream::stream
