// `bouncestream state …`: query, lift, erase, export, import and summarise the decision state.
// Two modes: offline on a stopped state dir (--state-dir; the Engine is opened here), or for a
// running group through a signed admin command on the admin topic (--admin-token-file).
// Secrets (admin token, HMAC key) come from files or the environment, never from argv; output
// of `erase` never prints the address back.
#include <librdkafka/rdkafka.h>
#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "state/clock.h"
#include "state/engine.h"
#include "stream/admin.h"
#include "stream/cli/commands.h"
#include "stream/config.h"
#include "stream/json_writer.h"
#include "stream/kafka_produce.h"
#include "stream/observe.h"

namespace bouncestream::stream::cli {
namespace {

constexpr const char* kBatchHeader = "bouncestream.batch";
constexpr std::size_t kImportChunk = 500;  // decisions per admin command

void Err(const std::string& msg) { std::fprintf(stderr, "error: %s\n", msg.c_str()); }
void Warn(const std::string& msg) { std::fprintf(stderr, "warning: %s\n", msg.c_str()); }

std::expected<std::string, std::string> ReadFile(const std::string& path, std::size_t max) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  std::string data = s.str();
  if (data.size() > max) return std::unexpected("'" + path + "' is too large");
  return data;
}

// As stream/config.cc reads secret files: trailing newlines are not part of the secret.
std::expected<std::string, std::string> ReadSecret(const std::string& path) {
  auto data = ReadFile(path, 1 << 20);
  if (!data) return data;
  while (!data->empty() && (data->back() == '\n' || data->back() == '\r')) data->pop_back();
  if (data->empty()) return std::unexpected("secret file '" + path + "' is empty");
  return data;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool ValidToken(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

bool PlausibleAddress(std::string_view a) {
  if (a.size() < 3 || a.size() > 320) return false;
  const auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == a.size()) return false;
  for (char c : a) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F || c == ',' || c == '<' || c == '>') {
      return false;
    }
  }
  return a.substr(at + 1).find('.') != std::string_view::npos || a.substr(at + 1) == "localhost";
}

bool IsHashKey(std::string_view r) { return r.size() > 2 && r.starts_with("h:"); }

// ---- the effective settings -----------------------------------------------------------------

struct Context {
  const StateOptions& o;
  Config config;           // defaults, or the loaded configuration
  bool config_loaded = false;
  std::string hmac_key;    // "" = recipients are not hashed
  std::string admin_token;
  state::SystemClock clock;
};

// Loads the configuration (file < env < flags) when Kafka is involved or --config is given.
// `need_group`: the group must come from the file, the environment or --group.
std::expected<void, std::string> LoadSettings(Context* ctx, bool need_kafka, bool need_group) {
  const StateOptions& o = ctx->o;
  for (const std::string& kv : o.kafka_props) {
    const auto eq = kv.find('=');
    if (eq != std::string::npos && IsSecretKey(kv.substr(0, eq))) {
      return std::unexpected("-X " + kv.substr(0, eq) +
                             ": secrets are never accepted on the command line; put them in the "
                             "config file (<key>.file = PATH) or BOUNCESTREAM_KAFKA_* variables");
    }
  }
  if (need_kafka || !o.config_file.empty()) {
    ConfigSources src;
    src.file_path = o.config_file;
    src.env = EnvFromEnviron();
    src.bootstrap = !o.bootstrap.empty() ? o.bootstrap : std::string("unused:9092");
    if (!o.group.empty()) {
      src.group = o.group;
    } else if (!need_group) {
      src.group = "bouncestream-state-cli";  // not used: only the admin topic is written
    }
    src.inputs = {"bouncestream.state-cli.unused"};
    src.kafka_props = o.kafka_props;
    auto config = LoadConfig(src);
    if (!config) return std::unexpected(config.error());
    ctx->config = std::move(*config);
    ctx->config_loaded = true;
  } else if (!o.kafka_props.empty()) {
    return std::unexpected("-X is only used with --bootstrap");
  }
  if (!o.hmac_key_file.empty()) {
    auto key = ReadSecret(o.hmac_key_file);
    if (!key) return std::unexpected(key.error());
    ctx->hmac_key = std::move(*key);
  } else if (ctx->config_loaded && ctx->config.state.hash_recipients) {
    ctx->hmac_key = ctx->config.state.hmac_key;
  }
  if (!o.admin_token_file.empty()) {
    auto token = ReadSecret(o.admin_token_file);
    if (!token) return std::unexpected(token.error());
    ctx->admin_token = std::move(*token);
  } else if (ctx->config_loaded) {
    ctx->admin_token = ctx->config.admin.token;  // [admin] token(.file), BOUNCESTREAM_ADMIN_TOKEN
  }
  return {};
}

// The key the state holds for a recipient: the address, or its keyed hash.
std::string StateRecipient(const Context& ctx, std::string_view recipient) {
  if (ctx.hmac_key.empty() || IsHashKey(recipient)) return std::string(recipient);
  return HashRecipient(ctx.hmac_key, recipient);
}

bool HasState(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::path(dir) / "CURRENT", ec);
}

std::expected<std::unique_ptr<state::Engine>, std::string> OpenEngine(Context* ctx, bool read_only,
                                                                      bool create) {
  const std::string& dir = ctx->o.state_dir;
  if (!create && !HasState(dir)) return std::unexpected("no state in '" + dir + "'");
  state::EngineOptions eo;
  eo.dir = dir;
  eo.read_only = read_only;
  eo.clock = &ctx->clock;
  eo.policy = ctx->config.policy;
  eo.sync_writes = true;  // operator actions: durable before we say so
  if (ctx->config_loaded) {
    eo.dedupe_horizon_ms = ctx->config.state.dedupe_horizon_ms;
    eo.max_lateness_ms = ctx->config.state.max_lateness_ms;
  }
  auto engine = state::Engine::Open(eo);
  if (!engine) {
    return std::unexpected("cannot open the state in '" + dir + "' (" + engine.error() +
                           (read_only ? ")" : "; is a processor still running on it?)"));
  }
  return engine;
}

// ---- Kafka ----------------------------------------------------------------------------------

struct Delivery {
  int pending = 0;
  int failed = 0;
  std::string first_error;
  std::int32_t partition = -1;  // of the last delivered record
  std::int64_t offset = -1;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivery*>(opaque);
  --d->pending;
  if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++d->failed;
    if (d->first_error.empty()) d->first_error = rd_kafka_err2str(m->err);
  } else {
    d->partition = m->partition;
    d->offset = m->offset;
  }
}

class Publisher {
 public:
  static std::expected<std::unique_ptr<Publisher>, std::string> Create(const Config& config) {
    auto p = std::unique_ptr<Publisher>(new Publisher());
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    for (const auto& [k, v] : ProducerProperties(config)) {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return std::unexpected("kafka property " + k + ": " + err);
      }
    }
    rd_kafka_conf_set_dr_msg_cb(conf, OnDelivery);
    rd_kafka_conf_set_opaque(conf, &p->delivery_);
    p->rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (p->rk_ == nullptr) {
      rd_kafka_conf_destroy(conf);
      return std::unexpected(std::string("cannot create the producer: ") + err);
    }
    return p;
  }
  ~Publisher() {
    if (rk_ != nullptr) rd_kafka_destroy(rk_);
  }

  bool Produce(const OutRecord& r) {
    const rd_kafka_resp_err_t e = ProduceRecord(rk_, r);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (r.headers != nullptr) rd_kafka_headers_destroy(r.headers);
      ++delivery_.failed;
      if (delivery_.first_error.empty()) delivery_.first_error = rd_kafka_err2str(e);
      return false;
    }
    ++delivery_.pending;
    return true;
  }

  // Waits for every acknowledgement.
  std::expected<void, std::string> Flush(int timeout_ms) {
    rd_kafka_flush(rk_, timeout_ms);
    if (delivery_.failed > 0) {
      return std::unexpected(std::to_string(delivery_.failed) + " record(s) not delivered: " +
                             delivery_.first_error);
    }
    if (delivery_.pending > 0) {
      return std::unexpected(std::to_string(delivery_.pending) +
                             " record(s) not acknowledged within " + std::to_string(timeout_ms) +
                             " ms");
    }
    return {};
  }

  std::expected<std::int32_t, std::string> PartitionCount(const std::string& topic,
                                                          int timeout_ms) {
    rd_kafka_topic_t* t = rd_kafka_topic_new(rk_, topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    const rd_kafka_resp_err_t e = rd_kafka_metadata(rk_, 0, t, &md, timeout_ms);
    rd_kafka_topic_destroy(t);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return std::unexpected("metadata of '" + topic + "': " + rd_kafka_err2str(e));
    }
    std::int32_t n = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      n = md->topics[0].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    if (n <= 0) return std::unexpected("topic '" + topic + "' does not exist");
    return n;
  }

  const Delivery& delivery() const { return delivery_; }

 private:
  Publisher() = default;
  rd_kafka_t* rk_ = nullptr;
  Delivery delivery_;
};

// Decisions to their topics, changelog records to the changelog partition (with the batch
// header), exactly as the processor publishes a batch.
bool PublishResult(Publisher* pub, const Config& config, const state::BatchResult& r) {
  bool ok = true;
  const std::string changelog = config.group + "-state-changelog";
  std::string value;
  for (const state::Decision& d : r.decisions) {
    value.clear();
    state::EncodeJson(d, &value);
    const std::string key = state::RecordKey(d);
    ok &= pub->Produce({DecisionTopic(config.topics, d).c_str(), RD_KAFKA_PARTITION_UA, key, value,
                        PublishesTombstone(d), nullptr, nullptr});
  }
  for (const state::ChangelogRecord& c : r.changelog) {
    rd_kafka_headers_t* h = rd_kafka_headers_new(1);
    rd_kafka_header_add(h, kBatchHeader, -1, r.batch_id.data(),
                        static_cast<ssize_t>(r.batch_id.size()));
    ok &= pub->Produce({changelog.c_str(), r.partition, c.key,
                        c.value ? std::string_view(*c.value) : std::string_view(), !c.value, h,
                        nullptr});
  }
  return ok;
}

std::vector<std::int32_t> PartitionsOf(const std::vector<state::BatchResult>& results) {
  std::set<std::int32_t> s;
  for (const auto& r : results) s.insert(r.partition);
  return {s.begin(), s.end()};
}

std::int64_t DecisionCount(const std::vector<state::BatchResult>& results) {
  std::int64_t n = 0;
  for (const auto& r : results) n += static_cast<std::int64_t>(r.decisions.size());
  return n;
}

// Offline: publish (when --bootstrap), then commit, then the audit record. Without --bootstrap
// the results are committed and a warning says what was not published.
int CommitOffline(Context* ctx, state::Engine* engine, std::vector<state::BatchResult>* results,
                  AuditRecord audit) {
  const bool publish = !ctx->o.bootstrap.empty();
  std::unique_ptr<Publisher> pub;
  if (publish) {
    auto p = Publisher::Create(ctx->config);
    if (!p) {
      Err(p.error() + "; nothing was changed");
      return kExitRuntime;
    }
    pub = std::move(*p);
    bool ok = true;
    for (const auto& r : *results) ok &= PublishResult(pub.get(), ctx->config, r);
    auto flushed = pub->Flush(ctx->o.timeout_ms);
    if (!ok || !flushed) {
      Err("publishing failed (" + (flushed ? pub->delivery().first_error : flushed.error()) +
          "); the state was not changed");
      return kExitRuntime;
    }
  }
  for (auto& r : *results) {
    if (auto c = engine->Commit(r); !c) {
      Err("state write failed: " + c.error());
      return kExitRuntime;
    }
  }
  audit.mode = "offline";
  audit.decisions = DecisionCount(*results);
  audit.partitions = PartitionsOf(*results);
  audit.at_ms = ctx->clock.NowMs();
  if (publish) {
    const std::string value = EncodeAuditRecord(audit);
    pub->Produce({ctx->config.topics.audit.c_str(), RD_KAFKA_PARTITION_UA, audit.request_id, value,
                  false, nullptr, nullptr});
    if (auto f = pub->Flush(ctx->o.timeout_ms); !f) {
      Err("the state was changed and its records published, but the audit record was not: " +
          f.error());
      return kExitRuntime;
    }
  } else {
    const std::string changelog =
        (ctx->config_loaded || !ctx->o.group.empty() ? ctx->config.group : std::string("<group>")) +
        "-state-changelog";
    Warn("nothing was published (no --bootstrap): the " + std::to_string(audit.decisions) +
         " decision record(s) of this change are not on " + ctx->config.topics.suppressions + " / " +
         ctx->config.topics.blocks + " / " + ctx->config.topics.alerts + ", the changelog " +
         changelog + " does not have the change, and no audit record was written to " +
         ctx->config.topics.audit +
         ". A processor that restores these partitions from the changelog undoes it; consumers of "
         "the decision topics do not see it.");
  }
  return kExitOk;
}

// Running group: one signed admin command, waits for its acknowledgement.
int SendAdminCommand(Context* ctx, const AdminCommand& cmd) {
  auto p = Publisher::Create(ctx->config);
  if (!p) {
    Err(p.error());
    return kExitRuntime;
  }
  const std::string value = EncodeAdminCommand(cmd);
  const std::string auth = SignAdminCommand(ctx->admin_token, value);
  rd_kafka_headers_t* h = rd_kafka_headers_new(1);
  rd_kafka_header_add(h, kAdminAuthHeader.data(), static_cast<ssize_t>(kAdminAuthHeader.size()),
                      auth.data(), static_cast<ssize_t>(auth.size()));
  (*p)->Produce({ctx->config.topics.admin.c_str(), RD_KAFKA_PARTITION_UA, cmd.request_id, value,
                 false, h, nullptr});
  if (auto f = (*p)->Flush(ctx->o.timeout_ms); !f) {
    Err("admin command not delivered: " + f.error());
    return kExitRuntime;
  }
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("command", ToString(cmd.command));
  w.Field("request_id", cmd.request_id);
  w.Field("topic", ctx->config.topics.admin);
  w.Field("partition", std::int64_t{(*p)->delivery().partition});
  w.Field("offset", (*p)->delivery().offset);
  w.FieldBool("delivered", true);
  if (cmd.command == AdminCommandKind::kImport) {
    w.Field("decisions", static_cast<std::int64_t>(cmd.decisions.size()));
  }
  w.EndObject();
  std::printf("%s\n", out.c_str());
  return kExitOk;
}

// Which mode: offline (--state-dir) or running group (--admin-token-file / token in env/config).
enum class Mode { kOffline, kAdmin };
std::expected<Mode, std::string> ModeOf(const StateOptions& o) {
  const bool token_given = !o.admin_token_file.empty();
  if (!o.state_dir.empty() && token_given) {
    return std::unexpected(std::string(
        "give --state-dir (a stopped state dir) or --admin-token-file (a running group), not "
        "both"));
  }
  if (!o.state_dir.empty()) return Mode::kOffline;
  if (o.bootstrap.empty()) {
    return std::unexpected(std::string(
        "give --state-dir DIR (a stopped state dir) or --bootstrap HOST:PORT with "
        "--admin-token-file FILE (a running group)"));
  }
  return Mode::kAdmin;
}

// ---- the subcommands ------------------------------------------------------------------------

std::string Shorten(std::string_view s, std::size_t n) {
  std::string out;
  for (char c : s) {
    if (out.size() >= n) break;
    out.push_back(c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
  }
  if (s.size() > n) out += "...";
  return out;
}

std::string TimeOrDash(std::int64_t ms) { return ms == 0 ? "-" : state::FormatRfc3339Ms(ms); }

int Query(Context* ctx) {
  const StateOptions& o = ctx->o;
  if (o.output != "json" && o.output != "table") {
    Err("--output must be json or table");
    return kExitUsage;
  }
  auto engine = OpenEngine(ctx, /*read_only=*/true, /*create=*/false);
  if (!engine) {
    Err(engine.error());
    return kExitRuntime;
  }
  const std::string key = StateRecipient(*ctx, o.recipient);
  std::vector<state::Decision> found;
  if (!o.tenant.empty()) {
    found = (*engine)->Query(o.tenant, key);
  } else {
    // Every tenant: the engine's Query is per tenant, so scan (an operator command, not a hot
    // path): the recipient's own decisions and pauses of its domain.
    const std::string domain = IsHashKey(o.recipient) ? std::string() : RecipientDomain(o.recipient);
    (*engine)->ForEachActive([&](std::int32_t, const state::Decision& d) {
      if ((!d.recipient.empty() && d.recipient == key) ||
          (!domain.empty() && d.scope == state::Scope::kDomain && d.domain == domain)) {
        found.push_back(d);
      }
      return true;
    });
  }
  if (o.output == "table") {
    std::printf("%-8s %-9s %-12s %-20s %-18s %-17s %-28s %6s %-24s %-24s %-24s %-16s %s\n",
                "kind", "scope", "tenant", "sender", "reason", "party", "rule", "count",
                "first_seen", "last_seen", "expires", "decision_id", "example");
  }
  std::string line;
  for (const state::Decision& d : found) {
    if (o.output == "json") {
      line.clear();
      state::EncodeJson(d, &line);
      std::printf("%s\n", line.c_str());
    } else {
      std::printf("%-8s %-9s %-12s %-20s %-18s %-17s %-28s %6lld %-24s %-24s %-24s %-16s %s\n",
                  std::string(state::ToString(d.kind)).c_str(),
                  std::string(state::ToString(d.scope)).c_str(), d.tenant.c_str(),
                  (d.sender.empty() ? "-" : d.sender.c_str()), d.reason.c_str(), d.party.c_str(),
                  d.rule.c_str(), static_cast<long long>(d.evidence.count),
                  TimeOrDash(d.evidence.first_seen_ms).c_str(),
                  TimeOrDash(d.evidence.last_seen_ms).c_str(), TimeOrDash(d.expires_at_ms).c_str(),
                  d.decision_id.c_str(), Shorten(d.evidence.example, 60).c_str());
    }
  }
  if (found.empty()) std::fprintf(stderr, "no active decision about this recipient\n");
  return kExitOk;
}

bool NoteHasAddress(std::string_view note) { return note.find('@') != std::string_view::npos; }

int Lift(Context* ctx, Mode mode) {
  const StateOptions& o = ctx->o;
  AuditRecord audit;
  audit.action = "lift";
  audit.request_id = NewRequestId();
  audit.decision_id = o.decision_id;
  audit.note = o.note;
  if (mode == Mode::kAdmin) {
    AdminCommand cmd;
    cmd.command = AdminCommandKind::kLift;
    cmd.request_id = audit.request_id;
    cmd.decision_id = o.decision_id;
    cmd.note = o.note;
    cmd.issued_at_ms = ctx->clock.NowMs();
    return SendAdminCommand(ctx, cmd);
  }
  auto engine = OpenEngine(ctx, false, false);
  if (!engine) {
    Err(engine.error());
    return kExitRuntime;
  }
  auto results = (*engine)->Lift(o.decision_id, o.note, {});
  if (!results) {
    Err("lift: " + results.error());
    return kExitRuntime;
  }
  if (DecisionCount(*results) == 0) {
    Err("no active decision with id " + o.decision_id);
    return kExitRuntime;
  }
  std::string line;
  for (const auto& r : *results) {
    for (const state::Decision& d : r.decisions) {
      line.clear();
      state::EncodeJson(d, &line);
      std::printf("%s\n", line.c_str());
    }
  }
  std::fflush(stdout);
  return CommitOffline(ctx, engine->get(), &*results, std::move(audit));
}

int Erase(Context* ctx, Mode mode) {
  const StateOptions& o = ctx->o;
  AuditRecord audit;
  audit.action = "erase";
  audit.request_id = NewRequestId();
  audit.tenant = o.tenant;
  if (!ctx->hmac_key.empty()) {
    audit.recipient_hash = StateRecipient(*ctx, o.recipient);
  } else if (IsHashKey(o.recipient)) {
    audit.recipient_hash = o.recipient;
  }
  if (mode == Mode::kAdmin) {
    AdminCommand cmd;
    cmd.command = AdminCommandKind::kErase;
    cmd.request_id = audit.request_id;
    cmd.tenant = o.tenant;
    cmd.recipient = StateRecipient(*ctx, o.recipient);
    cmd.issued_at_ms = ctx->clock.NowMs();
    return SendAdminCommand(ctx, cmd);
  }
  auto engine = OpenEngine(ctx, false, false);
  if (!engine) {
    Err(engine.error());
    return kExitRuntime;
  }
  auto results = (*engine)->Erase(o.tenant, StateRecipient(*ctx, o.recipient), {});
  if (!results) {
    Err("erase failed");  // the engine's text might name the recipient: not printed
    return kExitRuntime;
  }
  const int rc = CommitOffline(ctx, engine->get(), &*results, audit);
  if (rc != kExitOk) return rc;
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("erased", DecisionCount(*results));
  w.Field("request_id", audit.request_id);
  w.Key("partitions");
  w.BeginArray();
  for (std::int32_t p : PartitionsOf(*results)) w.Int(p);
  w.EndArray();
  w.FieldBool("published", !o.bootstrap.empty());
  w.EndObject();
  std::printf("%s\n", out.c_str());
  return kExitOk;
}

void CsvField(std::string_view s, std::string* out) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out->append(s);
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

int Export(Context* ctx) {
  const StateOptions& o = ctx->o;
  const std::string format = o.format.empty() ? "csv" : o.format;
  if (format != "csv" && format != "jsonl") {
    Err("--format must be csv or jsonl");
    return kExitUsage;
  }
  std::optional<state::DecisionKind> kind;
  if (!o.kind.empty()) {
    kind = state::ParseDecisionKind(o.kind);
    if (!kind || *kind == state::DecisionKind::kLift || *kind == state::DecisionKind::kResume) {
      Err("--kind must be suppress, pause or alert");
      return kExitUsage;
    }
  }
  auto engine = OpenEngine(ctx, true, false);
  if (!engine) {
    Err(engine.error());
    return kExitRuntime;
  }
  if (format == "csv") {
    std::printf("tenant,recipient,scope,sender,reason,party,rule,decided_at,expires_at,decision_id\n");
  }
  std::string line;
  std::int64_t n = 0;
  (*engine)->ForEachActive([&](std::int32_t, const state::Decision& d) {
    if (kind && d.kind != *kind) return true;
    line.clear();
    if (format == "jsonl") {
      state::EncodeJson(d, &line);
    } else {
      for (std::string_view f :
           {std::string_view(d.tenant), std::string_view(d.recipient), state::ToString(d.scope),
            std::string_view(d.sender), std::string_view(d.reason), std::string_view(d.party),
            std::string_view(d.rule)}) {
        CsvField(f, &line);
        line.push_back(',');
      }
      line.append(state::FormatRfc3339Ms(d.decided_at_ms));
      line.push_back(',');
      if (d.expires_at_ms != 0) line.append(state::FormatRfc3339Ms(d.expires_at_ms));
      line.push_back(',');
      line.append(d.decision_id);
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stdout);
    ++n;
    return true;
  });
  std::fprintf(stderr, "exported %lld decision(s)\n", static_cast<long long>(n));
  return std::ferror(stdout) ? kExitRuntime : kExitOk;
}

// ---- import ---------------------------------------------------------------------------------

struct CsvRow {
  std::size_t line = 0;
  std::vector<std::string> fields;
};

// RFC 4180: quoted fields may hold commas, quotes ("") and newlines; CRLF or LF.
std::expected<std::vector<CsvRow>, std::size_t /*line*/> ParseCsv(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<CsvRow> rows;
  std::size_t line = 1, i = 0;
  while (i < text.size()) {
    CsvRow row;
    row.line = line;
    std::string field;
    bool end_row = false;
    while (!end_row) {
      field.clear();
      if (i < text.size() && text[i] == '"') {
        ++i;
        for (;;) {
          if (i >= text.size()) return std::unexpected(row.line);  // unterminated quote
          const char c = text[i++];
          if (c == '"') {
            if (i < text.size() && text[i] == '"') {
              field.push_back('"');
              ++i;
            } else {
              break;
            }
          } else {
            if (c == '\n') ++line;
            field.push_back(c);
          }
        }
        while (i < text.size() && text[i] != ',' && text[i] != '\n') {
          if (text[i] != '\r' && text[i] != ' ' && text[i] != '\t') {
            return std::unexpected(row.line);
          }
          ++i;
        }
      } else {
        while (i < text.size() && text[i] != ',' && text[i] != '\n') field.push_back(text[i++]);
      }
      row.fields.push_back(std::string(Trim(field)));
      if (i >= text.size()) {
        end_row = true;
      } else if (text[i] == ',') {
        ++i;
      } else {  // '\n'
        ++i;
        ++line;
        end_row = true;
      }
    }
    const bool blank = row.fields.size() == 1 && row.fields[0].empty();
    if (!blank) rows.push_back(std::move(row));
  }
  return rows;
}

enum class Col { kEmail, kHash, kReason, kTenant, kDate, kScope, kSender, kParty, kExpires,
                 kDomain, kKind, kOther };

Col ColumnOf(std::string_view header) {
  std::string h;
  for (char c : header) {
    if (c == ' ' || c == '_' || c == '-') continue;
    h.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  static const std::pair<std::string_view, Col> kNames[] = {
      {"email", Col::kEmail},         {"emailaddress", Col::kEmail},
      {"recipient", Col::kEmail},     {"address", Col::kEmail},
      {"recipienthash", Col::kHash},  {"reason", Col::kReason},
      {"suppressionreason", Col::kReason}, {"bouncereason", Col::kReason},
      {"error", Col::kReason},        {"tenant", Col::kTenant},
      {"tenantid", Col::kTenant},     {"created", Col::kDate},
      {"createdat", Col::kDate},      {"date", Col::kDate},
      {"timestamp", Col::kDate},      {"lastupdatetime", Col::kDate},
      {"decidedat", Col::kDate},      {"suppressedat", Col::kDate},
      {"scope", Col::kScope},         {"sender", Col::kSender},
      {"party", Col::kParty},         {"expiresat", Col::kExpires},
      {"expires", Col::kExpires},     {"domain", Col::kDomain},
      {"kind", Col::kKind},
  };
  for (const auto& [name, col] : kNames) {
    if (h == name) return col;
  }
  return Col::kOther;
}

// One input row, whatever its format.
struct ImportRow {
  std::size_t line = 0;
  std::map<Col, std::string> v;
};

struct BadRow {
  std::size_t line;
  std::string why;  // never the row's content
};

std::expected<std::vector<ImportRow>, std::string> ReadCsvRows(std::string_view text,
                                                               std::vector<BadRow>* bad) {
  auto rows = ParseCsv(text);
  if (!rows) return std::unexpected("line " + std::to_string(rows.error()) + ": unterminated or "
                                    "misplaced quote; the file cannot be read as CSV");
  std::vector<ImportRow> out;
  if (rows->empty()) return out;
  std::vector<Col> cols;
  bool has_email = false;
  for (const auto& h : (*rows)[0].fields) {
    cols.push_back(ColumnOf(h));
    has_email |= cols.back() == Col::kEmail || cols.back() == Col::kHash;
  }
  std::size_t first = 1;
  if (!has_email) {
    // No header: a single column of addresses is accepted too.
    if ((*rows)[0].fields.size() == 1 && (*rows)[0].fields[0].find('@') != std::string::npos) {
      cols = {Col::kEmail};
      first = 0;
    } else {
      return std::unexpected(std::string(
          "no email column: the header must name one of email, email_address, recipient, "
          "address"));
    }
  }
  for (std::size_t r = first; r < rows->size(); ++r) {
    const CsvRow& row = (*rows)[r];
    if (row.fields.size() > cols.size()) {
      bad->push_back({row.line, "more fields than the header has columns"});
      continue;
    }
    ImportRow ir;
    ir.line = row.line;
    for (std::size_t c = 0; c < row.fields.size(); ++c) {
      if (cols[c] != Col::kOther && !row.fields[c].empty()) ir.v[cols[c]] = row.fields[c];
    }
    out.push_back(std::move(ir));
  }
  return out;
}

std::vector<ImportRow> ReadJsonlRows(std::string_view text, std::vector<BadRow>* bad) {
  std::vector<ImportRow> out;
  simdjson::dom::parser parser;
  std::size_t line = 0, pos = 0;
  while (pos < text.size()) {
    ++line;
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view l = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (l.empty()) continue;
    simdjson::dom::element root;
    simdjson::dom::object obj;
    if (parser.parse(l.data(), l.size(), true).get(root) != simdjson::SUCCESS ||
        root.get_object().get(obj) != simdjson::SUCCESS) {
      bad->push_back({line, "not a JSON object"});
      continue;
    }
    ImportRow ir;
    ir.line = line;
    bool ok = true;
    for (auto [key, value] : obj) {
      const Col col = ColumnOf(key);
      if (col == Col::kOther || value.is_null()) continue;
      std::string_view s;
      if (value.get_string().get(s) == simdjson::SUCCESS) {
        if (!s.empty()) ir.v[col] = std::string(s);
      } else if (std::int64_t n = 0; value.get_int64().get(n) == simdjson::SUCCESS &&
                                     (col == Col::kDate || col == Col::kExpires)) {
        ir.v[col] = std::to_string(n);
      } else {
        bad->push_back({line, "field '" + std::string(key) + "' is not a string"});
        ok = false;
        break;
      }
    }
    if (ok) out.push_back(std::move(ir));
  }
  return out;
}

struct ImportStats {
  std::int64_t rows = 0, not_suppressions = 0;
};

// One row -> a suppression (origin import), or why not.
std::expected<state::Decision, std::string> RowToDecision(const Context& ctx, const ImportRow& row,
                                                          const std::string& source,
                                                          std::int64_t now_ms) {
  const StateOptions& o = ctx.o;
  auto get = [&row](Col c) -> std::string_view {
    auto it = row.v.find(c);
    return it == row.v.end() ? std::string_view() : std::string_view(it->second);
  };
  state::Decision d;
  d.kind = state::DecisionKind::kSuppress;
  d.origin = "import";
  d.note = source;
  d.rule = "import." + source;
  std::string_view email = Trim(get(Col::kEmail));
  if (email.size() >= 2 && email.front() == '<' && email.back() == '>') {
    email = email.substr(1, email.size() - 2);
  }
  const std::string_view hash = get(Col::kHash);
  if (!email.empty() && IsHashKey(email)) {
    d.recipient = std::string(email);
    d.recipient_is_hash = true;
  } else if (!email.empty()) {
    if (!PlausibleAddress(email)) return std::unexpected(std::string("not an email address"));
    d.domain = RecipientDomain(email);
    if (!ctx.hmac_key.empty()) {
      d.recipient = HashRecipient(ctx.hmac_key, email);
      d.recipient_is_hash = true;
    } else {
      d.recipient = std::string(email);
    }
  } else if (IsHashKey(hash)) {
    d.recipient = std::string(hash);
    d.recipient_is_hash = true;
  } else {
    return std::unexpected(std::string("no email address"));
  }
  if (d.domain.empty()) {
    d.domain = Lower(Trim(get(Col::kDomain)));
    if (d.domain.empty()) {
      return std::unexpected(std::string(
          "a hashed recipient needs a domain column (its partition comes from the domain)"));
    }
  }
  const std::string_view tenant = get(Col::kTenant);
  d.tenant = tenant.empty() ? o.tenant : std::string(tenant);
  if (d.tenant.empty()) return std::unexpected(std::string("no tenant (give --tenant or a tenant column)"));
  const std::string_view reason = Trim(get(Col::kReason));
  d.reason = reason.empty() ? o.reason : std::string(reason.substr(0, 128));
  const std::string_view party = get(Col::kParty);
  d.party = party.empty() ? std::string("unknown") : std::string(party);
  const std::string_view scope = get(Col::kScope);
  const std::string_view sender = get(Col::kSender);
  if (scope.empty() || scope == "tenant") {
    d.scope = state::Scope::kTenant;
  } else if (scope == "sender") {
    if (sender.empty()) return std::unexpected(std::string("scope sender without a sender"));
    d.scope = state::Scope::kSender;
    d.sender = std::string(sender);
  } else {
    return std::unexpected(std::string("scope must be tenant or sender for a suppression"));
  }
  if (const std::string_view t = get(Col::kDate); !t.empty()) {
    auto ms = ParseTimeMs(t);
    if (!ms) return std::unexpected(std::string("unreadable date"));
    d.decided_at_ms = *ms;
  } else {
    d.decided_at_ms = now_ms;
  }
  if (const std::string_view t = get(Col::kExpires); !t.empty()) {
    auto ms = ParseTimeMs(t);
    if (!ms) return std::unexpected(std::string("unreadable expires_at"));
    d.expires_at_ms = *ms;
  }
  d.evidence.count = 1;
  d.evidence.first_seen_ms = d.decided_at_ms;
  d.evidence.last_seen_ms = d.decided_at_ms;
  return d;
}

int Import(Context* ctx, Mode mode) {
  const StateOptions& o = ctx->o;
  if (!ValidToken(o.source)) {
    Err("--source must be a short name of letters, digits, '_', '-' or '.'");
    return kExitUsage;
  }
  if (NoteHasAddress(o.reason)) {
    Err("--reason must not hold an address");
    return kExitUsage;
  }
  std::string format = o.format;
  if (format.empty()) {
    const std::string ext = Lower(std::filesystem::path(o.file).extension().string());
    format = ext == ".jsonl" || ext == ".ndjson" || ext == ".json" ? "jsonl" : "csv";
  }
  if (format != "csv" && format != "jsonl") {
    Err("--format must be csv or jsonl");
    return kExitUsage;
  }
  auto text = ReadFile(o.file, std::size_t{1} << 31);
  if (!text) {
    Err(text.error());
    return kExitRuntime;
  }
  std::vector<BadRow> bad;
  std::vector<ImportRow> rows;
  if (format == "csv") {
    auto r = ReadCsvRows(*text, &bad);
    if (!r) {
      Err(o.file + ": " + r.error());
      return kExitRuntime;
    }
    rows = std::move(*r);
  } else {
    rows = ReadJsonlRows(*text, &bad);
  }
  const std::int64_t now = ctx->clock.NowMs();
  std::vector<state::Decision> decisions;
  std::int64_t not_suppressions = 0;
  for (const ImportRow& row : rows) {
    if (auto k = row.v.find(Col::kKind); k != row.v.end() && k->second != "suppress") {
      ++not_suppressions;  // our own export with pauses or alerts: only suppressions import
      continue;
    }
    auto d = RowToDecision(*ctx, row, o.source, now);
    if (!d) {
      bad.push_back({row.line, d.error()});
      continue;
    }
    decisions.push_back(std::move(*d));
  }
  std::sort(bad.begin(), bad.end(), [](const BadRow& a, const BadRow& b) { return a.line < b.line; });
  for (const BadRow& b : bad) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    w.Field("error", b.why);
    w.Field("file", o.file);
    w.Field("line", static_cast<std::int64_t>(b.line));
    w.EndObject();
    std::fprintf(stderr, "%s\n", out.c_str());
  }
  if (not_suppressions > 0) {
    Warn(std::to_string(not_suppressions) + " record(s) are not suppressions and were skipped");
  }
  const int bad_rc = bad.empty() ? kExitOk : kExitRuntime;

  if (mode == Mode::kAdmin) {
    int rc = kExitOk;
    for (std::size_t i = 0; i < decisions.size() && rc == kExitOk; i += kImportChunk) {
      AdminCommand cmd;
      cmd.command = AdminCommandKind::kImport;
      cmd.request_id = NewRequestId();
      cmd.note = o.source;
      cmd.issued_at_ms = now;
      const std::size_t end = std::min(decisions.size(), i + kImportChunk);
      cmd.decisions.assign(decisions.begin() + static_cast<std::ptrdiff_t>(i),
                           decisions.begin() + static_cast<std::ptrdiff_t>(end));
      rc = SendAdminCommand(ctx, cmd);
    }
    return rc != kExitOk ? rc : bad_rc;
  }

  std::int32_t partitions = o.partitions;
  if (partitions <= 0 && !o.bootstrap.empty()) {
    auto pub = Publisher::Create(ctx->config);
    if (!pub) {
      Err(pub.error());
      return kExitRuntime;
    }
    auto n = (*pub)->PartitionCount(ctx->config.topics.classified, ctx->o.timeout_ms);
    if (!n) {
      Err(n.error() + "; give --partitions N");
      return kExitRuntime;
    }
    partitions = *n;
  }
  if (partitions <= 0) {
    Err("--partitions N (the partition count of " + ctx->config.topics.classified +
        ") is required offline without --bootstrap");
    return kExitUsage;
  }
  std::map<std::int32_t, std::vector<state::Decision>> by_partition;
  for (state::Decision& d : decisions) {
    by_partition[PartitionForKey(d.domain, partitions)].push_back(std::move(d));
  }
  auto engine = OpenEngine(ctx, false, /*create=*/true);
  if (!engine) {
    Err(engine.error());
    return kExitRuntime;
  }
  std::vector<state::BatchResult> results;
  for (const auto& [p, ds] : by_partition) {
    auto r = (*engine)->Import(p, ds);
    if (!r) {
      Err("import into partition " + std::to_string(p) + " failed: " + r.error());
      return kExitRuntime;
    }
    results.push_back(std::move(*r));
  }
  AuditRecord audit;
  audit.action = "import";
  audit.request_id = NewRequestId();
  audit.tenant = o.tenant;
  audit.note = o.source;
  const int rc = CommitOffline(ctx, engine->get(), &results, audit);
  if (rc != kExitOk) return rc;
  const std::int64_t imported = DecisionCount(results);
  std::int64_t good = 0;
  for (const auto& [p, ds] : by_partition) good += static_cast<std::int64_t>(ds.size());
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("imported", imported);
  w.Field("already_suppressed", good - imported);
  w.Field("bad_rows", static_cast<std::int64_t>(bad.size()));
  w.Field("skipped_not_suppressions", not_suppressions);
  w.Field("partitions", std::int64_t{partitions});
  w.Field("request_id", audit.request_id);
  w.FieldBool("published", !o.bootstrap.empty());
  w.EndObject();
  std::printf("%s\n", out.c_str());
  return bad_rc;
}

int Summary(Context* ctx) {
  auto engine = OpenEngine(ctx, true, false);
  if (!engine) {
    Err(engine.error());
    return kExitRuntime;
  }
  std::vector<state::PartitionSummary> parts = (*engine)->Summaries();
  std::sort(parts.begin(), parts.end(),
            [](const auto& a, const auto& b) { return a.partition < b.partition; });
  if (ctx->o.json) {
    std::string out;
    JsonWriter w(&out);
    w.BeginObject();
    w.Key("partitions");
    w.BeginArray();
    for (const auto& p : parts) {
      w.BeginObject();
      w.Field("partition", std::int64_t{p.partition});
      w.Field("next_offset", p.next_offset);
      w.Field("watermark_ms", p.watermark_ms);
      w.Field("window_keys", p.window_keys);
      w.Field("active_decisions", p.active_decisions);
      w.Field("hash", p.hash);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    std::printf("%s\n", out.c_str());
    return kExitOk;
  }
  std::printf("%-9s %12s %-24s %11s %16s %s\n", "partition", "next_offset", "watermark",
              "window_keys", "active_decisions", "hash");
  for (const auto& p : parts) {
    std::printf("%-9d %12lld %-24s %11lld %16lld %s\n", p.partition,
                static_cast<long long>(p.next_offset), TimeOrDash(p.watermark_ms).c_str(),
                static_cast<long long>(p.window_keys), static_cast<long long>(p.active_decisions),
                p.hash.c_str());
  }
  return kExitOk;
}

}  // namespace

int RunState(const StateOptions& o) {
  if (!o.argv_secrets.empty()) {
    Err(o.argv_secrets.front() +
        ": secrets are never accepted on the command line (they would show in ps and shell "
        "history); use --admin-token-file FILE or BOUNCESTREAM_ADMIN_TOKEN(_FILE) for the admin "
        "token, --hmac-key-file FILE or BOUNCESTREAM_STATE_HMAC_KEY(_FILE) for the HMAC key");
    return kExitUsage;
  }
  if (NoteHasAddress(o.note)) {
    Err("--note must not hold an address (notes are published and audited)");
    return kExitUsage;
  }
  if (o.timeout_ms <= 0) {
    Err("--timeout-ms must be positive");
    return kExitUsage;
  }
  Context ctx{o, {}, false, {}, {}, {}};
  const bool offline_only = o.command == StateCommand::kQuery ||
                            o.command == StateCommand::kExport ||
                            o.command == StateCommand::kSummary;
  Mode mode = Mode::kOffline;
  if (offline_only) {
    if (o.state_dir.empty()) {
      Err("--state-dir DIR is required");
      return kExitUsage;
    }
    if (!o.bootstrap.empty()) {
      Err("--bootstrap is not used by this command");
      return kExitUsage;
    }
  } else {
    auto m = ModeOf(o);
    if (!m) {
      Err(m.error());
      return kExitUsage;
    }
    mode = *m;
  }
  const bool need_kafka = !o.bootstrap.empty();
  const bool need_group = mode == Mode::kOffline && need_kafka;
  if (auto s = LoadSettings(&ctx, need_kafka, need_group); !s) {
    Err(s.error());
    return kExitUsage;
  }
  if (mode == Mode::kAdmin && ctx.admin_token.empty()) {
    Err("a running group needs the admin token: --admin-token-file FILE, "
        "BOUNCESTREAM_ADMIN_TOKEN(_FILE) or [admin] token.file in --config");
    return kExitUsage;
  }
  switch (o.command) {
    case StateCommand::kQuery: return Query(&ctx);
    case StateCommand::kLift: return Lift(&ctx, mode);
    case StateCommand::kErase: return Erase(&ctx, mode);
    case StateCommand::kExport: return Export(&ctx);
    case StateCommand::kImport: return Import(&ctx, mode);
    case StateCommand::kSummary: return Summary(&ctx);
  }
  return kExitUsage;
}

}  // namespace bouncestream::stream::cli
