// Operator commands for a running group: signed records on the admin topic (every instance reads
// every command and applies it to the classified partitions it owns) and the HTTP admin
// endpoints (token-protected, served by the metrics server). Both run on the processor's own
// thread, between poll batches, through Execute(): the engine is never touched concurrently.
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <future>

#include "state/decision.h"
#include "stream/admin.h"
#include "stream/internal/processor_impl.h"
#include "stream/kafka_produce.h"
#include "stream/log.h"

namespace bouncestream::stream {
namespace {

std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string JsonQuote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out.push_back(c);
    }
  }
  return out + "\"";
}

}  // namespace

std::expected<void, std::string> Processor::Impl::StartAdmin() {
  if (engine == nullptr) return {};
  // The admin topic is read by every instance from its end at start (no group): a command is
  // meant for the instances running when it is issued.
  std::string error;
  admin_consumer = NewSideConsumer(
      config, "admin consumer",
      {{"group.id", config.group + "-admin"}, {"enable.auto.commit", "false"}}, &error);
  if (admin_consumer == nullptr) return std::unexpected(error);
  const auto count = PartitionCount(admin_consumer, config.topics.admin);
  const int partitions = count ? *count : 0;
  if (partitions == 0) {
    Log(LogLevel::kWarn, "admin topic not found; admin commands over Kafka are off",
        {{"topic", std::string_view(config.topics.admin)}});
  } else {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p) {
      rd_kafka_topic_partition_list_add(list, config.topics.admin.c_str(), p)->offset =
          RD_KAFKA_OFFSET_END;
    }
    rd_kafka_assign(admin_consumer, list);
    rd_kafka_topic_partition_list_destroy(list);
  }
  if (server != nullptr) {
    for (const char* path : {"/admin/lift", "/admin/erase"}) {
      const bool lift = std::string_view(path) == "/admin/lift";
      auto added = server->AddAdminHandler(
          "POST", path, [this, lift](std::string_view body, std::string_view) {
            // body: {"decision_id":..,"note":..} or {"tenant":..,"recipient":..}
            std::string json = "{\"command\":\"" + std::string(lift ? "lift" : "erase") +
                               "\",\"request_id\":\"" + NewRequestId() + "\"";
            std::string_view b = body;
            while (!b.empty() && (b.back() == ' ' || b.back() == '\n')) b.remove_suffix(1);
            if (b.size() < 2 || b.front() != '{' || b.back() != '}') {
              return metrics::AdminResponse{400, "{\"error\":\"body must be a JSON object\"}"};
            }
            // Merge the caller's object into a full command record and decode it strictly.
            std::string inner(b.substr(1, b.size() - 2));
            json += inner.empty() ? "" : "," + inner;
            json += ",\"issued_at\":" + std::to_string(WallMs()) + "}";
            auto cmd = DecodeAdminCommand(json);
            if (!cmd) return metrics::AdminResponse{400, "{\"error\":" + JsonQuote(cmd.error()) + "}"};
            auto pending = std::make_shared<PendingAdmin>();
            pending->command = std::move(*cmd);
            auto done = pending->result.get_future();
            {
              std::lock_guard<std::mutex> lock(admin_mu);
              admin_queue.push_back(pending);
            }
            if (done.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
              return metrics::AdminResponse{503, "{\"error\":\"the processor did not answer\"}"};
            }
            return done.get();
          });
      if (!added) return std::unexpected(added.error());
    }
  }
  return {};
}

void Processor::Impl::PollAdmin() {
  // Once per loop iteration (the processor's loop calls only this of the decision stage): the
  // back-pressure check and the retry of a blocked state dir (decision_stage.cc).
  CheckBackpressure();
  RetryState();
  if (!config.state.enabled) return;
  if (engine == nullptr || state_blocked) {
    // Commands wait on the admin topic until the state can be written; HTTP requests are refused.
    std::deque<std::shared_ptr<PendingAdmin>> queued;
    {
      std::lock_guard<std::mutex> lock(admin_mu);
      queued.swap(admin_queue);
    }
    for (auto& p : queued) {
      p->result.set_value({503, "{\"error\":\"state dir not writable; retry later\"}"});
    }
    return;
  }
  std::deque<std::shared_ptr<PendingAdmin>> queued;
  {
    std::lock_guard<std::mutex> lock(admin_mu);
    queued.swap(admin_queue);
  }
  for (auto& p : queued) p->result.set_value(Execute(p->command, "http"));
  if (admin_consumer == nullptr) return;
  for (int i = 0; i < 16; ++i) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(admin_consumer, 0);
    if (m == nullptr) break;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        Log(LogLevel::kWarn, "admin topic read error",
            {{"error", std::string_view(rd_kafka_err2name(m->err))}});
      }
      rd_kafka_message_destroy(m);
      continue;
    }
    const std::string_view record(m->payload != nullptr ? static_cast<const char*>(m->payload) : "",
                                  m->len);
    std::string_view auth;
    rd_kafka_headers_t* h = nullptr;
    const void* hv = nullptr;
    std::size_t hs = 0;
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, std::string(kAdminAuthHeader).c_str(), &hv, &hs) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        hv != nullptr) {
      auth = {static_cast<const char*>(hv), hs};
    }
    const std::int64_t offset = m->offset;
    if (!VerifyAdminCommand(config.admin.token, record, auth)) {
      ++counters.admin_refused;
      Log(LogLevel::kWarn,
          config.admin.token.empty() ? "admin command refused: no admin token is configured"
                                     : "admin command refused: missing or wrong signature",
          {{"offset", offset}});
      rd_kafka_message_destroy(m);
      continue;
    }
    auto cmd = DecodeAdminCommand(record);
    rd_kafka_message_destroy(m);
    if (!cmd) {
      ++counters.admin_refused;
      Log(LogLevel::kWarn, "admin command refused: malformed",
          {{"offset", offset}, {"error", std::string_view(cmd.error())}});
      continue;
    }
    const std::int64_t age = WallMs() - cmd->issued_at_ms;
    if (age > kAdminCommandMaxAgeMs || age < -kAdminCommandMaxAgeMs) {
      ++counters.admin_refused;
      Log(LogLevel::kWarn, "admin command refused: too old or from the future",
          {{"request_id", std::string_view(cmd->request_id)}, {"age_ms", age}});
      continue;
    }
    if (!executed_requests.insert(cmd->request_id).second) continue;  // a replayed record
    Execute(*cmd, "admin-topic");
  }
}

namespace {

bool IsRecipientHash(std::string_view s) {
  if (s.size() != 34 || !s.starts_with("h:")) return false;
  for (char c : s.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The audit record (and decision records) must never carry an address: refuse a command whose
// free-text fields hold one. Returns the offending field's name, or "".
std::string_view AddressInFreeText(const AdminCommand& cmd) {
  if (cmd.note.find('@') != std::string::npos) return "note";
  if (cmd.tenant.find('@') != std::string::npos) return "tenant";
  if (cmd.recipient.starts_with("h:") && !IsRecipientHash(cmd.recipient)) return "recipient";
  return {};
}

}  // namespace

metrics::AdminResponse Processor::Impl::Execute(const AdminCommand& cmd, std::string_view mode) {
  if (const std::string_view field = AddressInFreeText(cmd); !field.empty()) {
    ++counters.admin_refused;
    Log(LogLevel::kWarn, "admin command refused: a field must not hold an address",
        {{"request_id", std::string_view(cmd.request_id)}, {"field", field}});
    return {400, "{\"error\":\"" + std::string(field) + " must not hold an address\"}"};
  }
  std::vector<std::int32_t> owned;
  for (const auto& [p, sp] : state_parts) owned.push_back(p);
  AuditRecord audit;
  audit.action = std::string(ToString(cmd.command));
  audit.request_id = cmd.request_id;
  audit.mode = std::string(mode);
  audit.note = cmd.note;
  audit.at_ms = WallMs();
  std::vector<state::BatchResult> results;
  std::string error;
  std::string recipient = cmd.recipient;
  if (cmd.command == AdminCommandKind::kLift) audit.decision_id = cmd.decision_id;
  if (cmd.command == AdminCommandKind::kErase) {
    if (config.state.hash_recipients && !recipient.starts_with("h:")) {
      recipient = HashRecipient(config.state.hmac_key, recipient);
    }
    if (IsRecipientHash(recipient)) audit.recipient_hash = recipient;
    audit.tenant = cmd.tenant;
  }
  if (cmd.command == AdminCommandKind::kImport) audit.tenant = cmd.tenant;
  if (owned.empty()) {
    // Nothing to do here; another instance owns the partitions. Still audited.
  } else if (cmd.command == AdminCommandKind::kLift) {
    auto r = engine->Lift(cmd.decision_id, cmd.note, owned);
    if (r) results = std::move(*r); else error = r.error();
  } else if (cmd.command == AdminCommandKind::kErase) {
    auto r = engine->Erase(cmd.tenant, recipient, owned);
    if (r) results = std::move(*r); else error = r.error();
  } else {
    std::map<std::int32_t, std::vector<state::Decision>> by_partition;
    for (const state::Decision& d : cmd.decisions) {
      const std::string domain = d.domain.empty() ? RecipientDomain(d.recipient) : d.domain;
      const std::int32_t p = PartitionForKey(domain, classified_partitions);
      if (state_parts.contains(p)) by_partition[p].push_back(d);
    }
    for (auto& [p, ds] : by_partition) {
      auto r = engine->Import(p, ds);
      if (!r) {
        error = r.error();
        break;
      }
      results.push_back(std::move(*r));
    }
  }
  if (!error.empty()) {
    Log(LogLevel::kWarn, "admin command failed",
        {{"request_id", std::string_view(cmd.request_id)}, {"error", std::string_view(error)}});
    return {400, "{\"error\":" + JsonQuote(error) + "}"};
  }
  // Same contract as a batch: publish, wait for the acknowledgements, then write the state.
  state_flight = InFlight{};
  for (const auto& r : results) {
    PublishResult(r, &state_flight, PublishPhase::kBody);
    audit.decisions += static_cast<std::int64_t>(r.decisions.size());
    audit.partitions.push_back(r.partition);
  }
  bool acked = AwaitFlight(state_flight);
  for (const auto& r : results) {
    if (acked) PublishResult(r, &state_flight, PublishPhase::kMarker);
  }
  const std::string audit_json = EncodeAuditRecord(audit);
  if (acked) {
    ProduceOut({config.topics.audit.c_str(), RD_KAFKA_PARTITION_UA, cmd.request_id, audit_json,
                false, nullptr, &state_flight},
               &state_flight);
  }
  if (!acked || !AwaitFlight(state_flight)) {
    fatal = true;
    fatal_reason = "admin command outputs not acknowledged; state not written";
    return {503, "{\"error\":\"outputs not acknowledged\"}"};
  }
  for (auto& r : results) {
    if (auto c = engine->Commit(r); !c) {
      // Published and acknowledged with its markers: the recovery restores it from the changelog.
      BlockState("admin commit", r.partition, c.error());
      return {503, "{\"error\":\"state write failed; it is applied when the state dir is writable again\"}"};
    }
  }
  Log(LogLevel::kInfo, "admin command executed",
      {{"request_id", std::string_view(cmd.request_id)},
       {"command", ToString(cmd.command)},
       {"mode", mode},
       {"decisions", audit.decisions}});
  std::string body = "{\"request_id\":\"" + cmd.request_id +
                     "\",\"decisions\":" + std::to_string(audit.decisions) + ",\"partitions\":[";
  for (std::size_t i = 0; i < audit.partitions.size(); ++i) {
    body += (i ? "," : "") + std::to_string(audit.partitions[i]);
  }
  return {200, body + "]}"};
}

}  // namespace bouncestream::stream
