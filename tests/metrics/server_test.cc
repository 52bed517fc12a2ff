#include "metrics/server.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/metrics/exposition.h"
#include "tests/metrics/http_client.h"

namespace bouncestream::metrics {
namespace {

using testing::Get;
using testing::HttpResponse;
using testing::RawRequest;
using testing::Request;

constexpr char kToken[] = "s3cret-token-value";

DecisionNote Note(std::int64_t time_ms, std::string kind, std::string scope = {},
                  std::string reason = {}, std::string party = {}, std::string vendor = {},
                  std::string subject = {}) {
  DecisionNote n;
  n.time_ms = time_ms;
  n.kind = std::move(kind);
  n.scope = std::move(scope);
  n.reason = std::move(reason);
  n.party = std::move(party);
  n.vendor = std::move(vendor);
  n.subject = std::move(subject);
  return n;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    MetricsOptions mo;
    mo.version = "0.1.0";
    mo.revision = "test";
    mo.tenant_allow_list = {"acme"};
    auto m = Metrics::Create(std::move(mo));
    ASSERT_TRUE(m.has_value()) << m.error();
    metrics_ = std::move(*m);
  }

  void StartServer(ServerOptions options = {}) {
    options.listen = "127.0.0.1:0";
    auto s = Server::Start(std::move(options), metrics_.get(), &board_);
    ASSERT_TRUE(s.has_value()) << s.error();
    server_ = std::move(*s);
    port_ = server_->port();
    ASSERT_NE(port_, 0);
  }

  ServerOptions WithToken() {
    ServerOptions o;
    o.admin_token = kToken;
    return o;
  }

  std::unique_ptr<Metrics> metrics_;
  StatusBoard board_{10};
  std::unique_ptr<Server> server_;
  std::uint16_t port_ = 0;
};

TEST_F(ServerTest, PortZeroPicksAFreePortAndReportsIt) {
  StartServer();
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(port_));
  EXPECT_EQ(Get(port_, "/healthz").status, 200);
}

TEST_F(ServerTest, BadListenAddressesAreErrors) {
  for (const char* listen : {"", "9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:99999",
                             "127.0.0.1:80x", "example.com:9464", "[::1:9464", "1.2.3:9464"}) {
    ServerOptions o;
    o.listen = listen;
    auto s = Server::Start(o, metrics_.get(), nullptr);
    EXPECT_FALSE(s.has_value()) << listen;
  }
  EXPECT_FALSE(Server::Start({}, nullptr, nullptr).has_value());
}

TEST_F(ServerTest, PortInUseIsAnError) {
  StartServer();
  ServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port_);
  auto second = Server::Start(o, metrics_.get(), nullptr);
  ASSERT_FALSE(second.has_value());
  EXPECT_NE(second.error().find("cannot listen"), std::string::npos) << second.error();
}

TEST_F(ServerTest, MetricsEndpointServesTheExposition) {
  StartServer();
  metrics_->AddInputRecords("canonical", true, 3);
  // Families without a series are not exposed; give every labelled family one.
  metrics_->AddClassified("acme", "end_user", "google", "SpamBlock");
  metrics_->AddByReason("blocked");
  metrics_->AddByProvider("gmail.com", "end_user");
  metrics_->AddDeadLetters("empty");
  metrics_->AddDecisions("alert", "sender", "sender_config");
  metrics_->SetConsumerLag("bounces.in", 0, 1);
  metrics_->SetAssignedPartitions("bounces.in", 1);
  const HttpResponse r = Get(port_, "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto e = testing::ParseExposition(r.body);
  EXPECT_TRUE(e.bad_lines.empty());
  EXPECT_EQ(e.Sum("bouncestream_build_info", {{"version", "0.1.0"}}), 1);
  EXPECT_EQ(e.Sum("bouncestream_input_records_total", {{"topic_format", "canonical"}}), 3);
  const auto documented =
      testing::ReadMetricsDoc(std::string(BOUNCESTREAM_SOURCE_DIR) + "/metrics/METRICS.md");
  ASSERT_FALSE(documented.empty());
  for (const auto& d : documented) {
    EXPECT_TRUE(e.help.contains(d.name)) << d.name;
    EXPECT_TRUE(e.type.contains(d.name)) << d.name;
  }
  // HEAD: headers only.
  const HttpResponse head = Request(port_, "HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
}

TEST_F(ServerTest, HealthzFollowsTheHeartbeat) {
  ServerOptions o;
  o.heartbeat_limit = std::chrono::milliseconds(200);
  StartServer(o);
  server_->Heartbeat();
  HttpResponse r = Get(port_, "/healthz");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"status\":\"ok\""), std::string::npos) << r.body;
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  r = Get(port_, "/healthz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("\"status\":\"stale\""), std::string::npos) << r.body;
  server_->Heartbeat();
  EXPECT_EQ(Get(port_, "/healthz").status, 200);
}

TEST_F(ServerTest, ReadyzOnlyAfterSetReady) {
  StartServer();
  HttpResponse r = Get(port_, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("\"reason\":"), std::string::npos) << r.body;
  server_->SetReady(false, "restoring 3 partitions");
  r = Get(port_, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("restoring 3 partitions"), std::string::npos) << r.body;
  EXPECT_EQ(testing::ParseExposition(Get(port_, "/metrics").body).Sum("bouncestream_ready"), 0);

  server_->SetReady(true);
  r = Get(port_, "/readyz");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(testing::ParseExposition(Get(port_, "/metrics").body).Sum("bouncestream_ready"), 1);

  server_->SetReady(false, "rebalancing");
  EXPECT_EQ(Get(port_, "/readyz").status, 503);
}

TEST_F(ServerTest, StatusJsonHasTotalsSumsAndDecisions) {
  StartServer();
  metrics_->AddInputRecords("kumomta", true, 90);
  metrics_->AddInputRecords("kumomta", false, 10);
  metrics_->AddDeadLetters("json_syntax", 10);
  metrics_->AddClassified("acme", "filter_platform", "mimecast", "SpamBlock", 5);
  metrics_->AddClassified("acme", "recipient_admin", "mimecast", "PolicyRelated", 3);
  metrics_->AddClassified("x", "end_user", "mimecast", "PolicyRelated", 2);
  metrics_->AddClassified("x", "recipient_invalid", "other", "InvalidRecipient", 80);
  metrics_->AddDecisions("pause", "ip_vendor", "filter_platform", 2);
  metrics_->AddDecisions("suppress", "tenant", "recipient_invalid", 7);
  metrics_->SetActiveDecisions("pause", 2);
  metrics_->SetConsumerLag("bounces.in", 0, 40);
  metrics_->SetConsumerLag("bounces.in", 1, 2);
  board_.AddDecision(Note(1700000000000, "pause", "ip_vendor", "blocked", "filter_platform",
                          "mimecast", "198.51.100.7 -> mimecast"));
  board_.AddDecision(Note(1700000001000, "suppress", "tenant", "userunknown",
                          "recipient_invalid", "other",
                          "acme: bob.smith@example.org \"quoted\"\n"));
  server_->SetReady(true);

  const HttpResponse r = Get(port_, "/api/status");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(r.body.find("bob.smith"), std::string::npos) << "the local part must be masked";

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(r.body).get(doc), simdjson::SUCCESS) << r.body;
  EXPECT_EQ(doc["ready"].get_bool().value(), true);
  EXPECT_EQ(doc["healthy"].get_bool().value(), true);
  EXPECT_EQ(std::string(doc["version"].get_string().value()), "0.1.0");
  auto totals = doc["totals"];
  EXPECT_EQ(totals["input_records"].get_int64().value(), 100);
  EXPECT_EQ(totals["input_ok"].get_int64().value(), 90);
  EXPECT_EQ(totals["dead_letters"].get_int64().value(), 10);
  EXPECT_EQ(totals["events_classified"].get_int64().value(), 90);
  EXPECT_EQ(totals["decisions"].get_int64().value(), 9);
  EXPECT_EQ(totals["consumer_lag"].get_int64().value(), 42);
  EXPECT_EQ(doc["classified_by_party"]["filter_platform"].get_int64().value(), 5);
  EXPECT_EQ(doc["classified_by_vendor"]["mimecast"].get_int64().value(), 10);
  EXPECT_EQ(doc["classified_by_tenant"]["other"].get_int64().value(), 82);
  EXPECT_EQ(doc["decisions_by_kind"]["suppress"].get_int64().value(), 7);
  EXPECT_EQ(doc["active_decisions"]["pause"].get_int64().value(), 2);
  auto mimecast = doc["blocks_by_vendor"]["mimecast"];
  EXPECT_EQ(mimecast["filter_platform"].get_int64().value(), 5);
  EXPECT_EQ(mimecast["recipient_admin"].get_int64().value(), 3);
  EXPECT_EQ(mimecast["end_user"].get_int64().value(), 2);
  EXPECT_TRUE(doc["blocks_by_vendor"]["other"].error() == simdjson::NO_SUCH_FIELD)
      << "invalid recipients are not blocks";

  simdjson::dom::array latest;
  ASSERT_EQ(doc["latest_decisions"].get_array().get(latest), simdjson::SUCCESS);
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(std::string(latest.at(0)["kind"].get_string().value()), "suppress");  // newest first
  EXPECT_EQ(std::string(latest.at(0)["subject"].get_string().value()),
            "acme: ***@example.org \"quoted\"\n");
  EXPECT_EQ(std::string(latest.at(1)["vendor"].get_string().value()), "mimecast");
}

TEST_F(ServerTest, StatusPageIsServedWithStableIds) {
  StartServer();
  const HttpResponse r = Get(port_, "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(r.headers.at("content-security-policy").find("default-src 'none'"),
            std::string::npos);
  for (const char* id : {"id=\"events-per-second\"", "id=\"total-events\"",
                         "id=\"dead-letters\"", "id=\"consumer-lag\"", "id=\"ready-state\"",
                         "id=\"decisions-table\"", "/api/status"}) {
    EXPECT_NE(r.body.find(id), std::string::npos) << id;
  }
  // Self-contained: no external scripts, styles or fonts (the SVG namespace URI is a name).
  std::string page = r.body;
  for (auto p = page.find("http://www.w3.org/2000/svg"); p != std::string::npos;
       p = page.find("http://www.w3.org/2000/svg")) {
    page.erase(p, 26);
  }
  for (const char* ext : {"http://", "https://", "<link ", "src=\"", "@import", "url("}) {
    EXPECT_EQ(page.find(ext), std::string::npos) << ext;
  }
  EXPECT_EQ(Get(port_, "/index.html").status, 200);
}

TEST_F(ServerTest, UnknownPathsAndMethods) {
  StartServer();
  EXPECT_EQ(Get(port_, "/nope").status, 404);
  EXPECT_EQ(Get(port_, "/metrics/extra").status, 404);
  EXPECT_EQ(Get(port_, "/../../etc/passwd").status, 404);
  const HttpResponse post = Request(port_, "POST", "/metrics", {}, "x");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.headers.at("allow"), "GET, HEAD");
  EXPECT_EQ(Request(port_, "DELETE", "/healthz").status, 405);
}

TEST_F(ServerTest, AdminWithoutAConfiguredTokenIsUnreachable) {
  StartServer();  // no token
  std::atomic<int> calls = 0;
  ASSERT_TRUE(server_
                  ->AddAdminHandler("POST", "/admin/lift",
                                    [&](std::string_view, std::string_view) {
                                      ++calls;
                                      return AdminResponse{200, "{}"};
                                    })
                  .has_value());
  EXPECT_EQ(Request(port_, "POST", "/admin/lift", {}, "{}").status, 403);
  EXPECT_EQ(Request(port_, "POST", "/admin/lift", {{"Authorization", "Bearer "}}, "{}").status,
            403);
  EXPECT_EQ(Request(port_, "POST", "/admin/lift", {{"Authorization", "Bearer x"}}, "{}").status,
            403);
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ServerTest, AdminTokenMissingWrongRight) {
  StartServer(WithToken());
  std::string seen_body, seen_query;
  std::atomic<int> calls = 0;
  ASSERT_TRUE(server_
                  ->AddAdminHandler("post", "/admin/lift",
                                    [&](std::string_view body, std::string_view query) {
                                      ++calls;
                                      seen_body = body;
                                      seen_query = query;
                                      return AdminResponse{202, "{\"lifted\":1}"};
                                    })
                  .has_value());

  HttpResponse r = Request(port_, "POST", "/admin/lift", {}, "{\"id\":\"x\"}");
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.headers["www-authenticate"].find("Bearer"), std::string::npos);
  EXPECT_EQ(Request(port_, "POST", "/admin/lift", {{"Authorization", "Basic dXNlcjpwYXNz"}}, "{}")
                .status,
            401);
  EXPECT_EQ(Request(port_, "POST", "/admin/lift", {{"Authorization", "Bearer"}}, "{}").status,
            401);
  r = Request(port_, "POST", "/admin/lift", {{"Authorization", "Bearer wrong-token"}}, "{}");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body.find(kToken), std::string::npos);
  EXPECT_EQ(Request(port_, "POST", "/admin/lift",
                    {{"Authorization", std::string("Bearer ") + kToken + "x"}}, "{}")
                .status,
            403);
  EXPECT_EQ(Request(port_, "POST", "/admin/lift",
                    {{"Authorization", std::string("Bearer ") + std::string(kToken).substr(1)}},
                    "{}")
                .status,
            403);
  EXPECT_EQ(calls.load(), 0);

  r = Request(port_, "POST", "/admin/lift?dry_run=1",
              {{"Authorization", std::string("bearer ") + kToken}}, "{\"id\":\"x\"}");
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.body, "{\"lifted\":1}");
  EXPECT_EQ(r.headers.at("content-type"), "application/json");
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(seen_body, "{\"id\":\"x\"}");
  EXPECT_EQ(seen_query, "dry_run=1");

  // Right token, wrong method; unknown admin path.
  EXPECT_EQ(Request(port_, "GET", "/admin/lift", {{"Authorization", std::string("Bearer ") + kToken}})
                .status,
            405);
  EXPECT_EQ(Request(port_, "POST", "/admin/other",
                    {{"Authorization", std::string("Bearer ") + kToken}}, "{}")
                .status,
            404);
}

TEST_F(ServerTest, AdminHandlerFailuresAndLimits) {
  ServerOptions o = WithToken();
  o.max_body_bytes = 1024;
  StartServer(o);
  ASSERT_TRUE(server_
                  ->AddAdminHandler("POST", "/admin/throw",
                                    [](std::string_view, std::string_view) -> AdminResponse {
                                      throw std::runtime_error("boom");
                                    })
                  .has_value());
  ASSERT_TRUE(server_
                  ->AddAdminHandler("POST", "/admin/echo",
                                    [](std::string_view body, std::string_view) {
                                      return AdminResponse{200, std::string(body)};
                                    })
                  .has_value());
  const std::map<std::string, std::string> auth = {
      {"Authorization", std::string("Bearer ") + kToken}};
  EXPECT_EQ(Request(port_, "POST", "/admin/throw", auth, "{}").status, 500);
  EXPECT_EQ(Request(port_, "POST", "/admin/echo", auth, std::string(2000, 'x')).status, 413);
  EXPECT_EQ(Request(port_, "POST", "/admin/echo", auth, std::string(1000, 'x')).body,
            std::string(1000, 'x'));
  EXPECT_EQ(Get(port_, "/healthz").status, 200);
}

TEST_F(ServerTest, AddAdminHandlerValidates) {
  StartServer(WithToken());
  auto ok = [](std::string_view, std::string_view) { return AdminResponse{}; };
  EXPECT_FALSE(server_->AddAdminHandler("GET", "/metrics", ok).has_value());
  EXPECT_FALSE(server_->AddAdminHandler("GET", "/", ok).has_value());
  EXPECT_FALSE(server_->AddAdminHandler("GET", "admin/x", ok).has_value());
  EXPECT_FALSE(server_->AddAdminHandler("", "/admin/x", ok).has_value());
  EXPECT_FALSE(server_->AddAdminHandler("GET", "/admin/x", nullptr).has_value());
  EXPECT_TRUE(server_->AddAdminHandler("GET", "/admin/x", ok).has_value());
  EXPECT_FALSE(server_->AddAdminHandler("get", "/admin/x", ok).has_value());
  EXPECT_TRUE(server_->AddAdminHandler("DELETE", "/admin/x", ok).has_value());
}

TEST_F(ServerTest, BadRequestsNeverStopTheServer) {
  StartServer(WithToken());
  // Garbage, binary, an incomplete request line, a bare newline, a wrong protocol.
  for (const std::string& junk :
       {std::string("\x00\x01\x02garbage\xff\xfe\r\n\r\n", 16), std::string("GET\r\n\r\n"),
        std::string("GET / HTTP/9.9\r\n\r\n"), std::string("\r\n\r\n"),
        std::string("GET /metrics"), std::string(100000, 'A'),
        std::string("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
        std::string("POST /admin/x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n"),
        std::string("GET /%00%ff%zz HTTP/1.1\r\n\r\n")}) {
    const HttpResponse r = RawRequest(port_, junk);
    EXPECT_TRUE(r.status == 0 || (r.status >= 400 && r.status < 600) || r.status == 200)
        << r.status;
  }
  // Huge headers: one 100 KB header, and 2000 small ones.
  const HttpResponse huge =
      RawRequest(port_, "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(100000, 'b') + "\r\n\r\n");
  EXPECT_TRUE(huge.status == 0 || huge.status >= 400) << huge.status;
  std::string many = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < 2000; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  const HttpResponse lots = RawRequest(port_, many + "\r\n");
  EXPECT_TRUE(lots.status == 0 || lots.status >= 400) << lots.status;
  // A client that connects and goes away without a byte.
  for (int i = 0; i < 20; ++i) ::close(testing::Connect(port_));
  // Still serving.
  EXPECT_EQ(Get(port_, "/healthz").status, 200);
  EXPECT_EQ(Get(port_, "/metrics").status, 200);
}

TEST_F(ServerTest, ConcurrentScrapes) {
  StartServer();
  std::atomic<int> ok = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        metrics_->AddInputRecords("auto", true);
        if (Get(port_, i % 2 ? "/metrics" : "/api/status").status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 160);
}

TEST(ServerUnitTest, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("a\0", 2), "a"));
}

TEST(StatusBoardTest, MaskAddresses) {
  EXPECT_EQ(MaskAddresses("bob@example.org"), "***@example.org");
  EXPECT_EQ(MaskAddresses("to <bob.smith+tag@example.org>, eve@x.y"),
            "to <***@example.org>, ***@x.y");
  EXPECT_EQ(MaskAddresses("b***@example.org"), "***@example.org");
  EXPECT_EQ(MaskAddresses("no address here"), "no address here");
  EXPECT_EQ(MaskAddresses("@lead"), "***@lead");
  EXPECT_EQ(MaskAddresses("a@b@c"), "***@***@c");
}

TEST(StatusBoardTest, KeepsTheNewestAndCutsFields) {
  StatusBoard board(3);
  for (int i = 0; i < 5; ++i) {
    board.AddDecision(Note(i, "pause", "", "", "", "", std::string(1000, 's')));
  }
  const auto latest = board.Latest();
  ASSERT_EQ(latest.size(), 3u);
  EXPECT_EQ(latest[0].time_ms, 4);
  EXPECT_EQ(latest[2].time_ms, 2);
  EXPECT_EQ(latest[0].subject.size(), 256u);
  board.AddDecision(Note(0, "x@y", "", std::string(100, 'r')));
  EXPECT_EQ(board.Latest()[0].kind, "***@y");
  EXPECT_EQ(board.Latest()[0].reason.size(), 64u);
}

}  // namespace
}  // namespace bouncestream::metrics
