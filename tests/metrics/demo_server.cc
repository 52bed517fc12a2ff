// A stand-alone server for the status page tests: the real Metrics + Server, fed with synthetic
// traffic (counters keep growing, decisions keep arriving) until SIGTERM/SIGINT or --duration.
//
//   metrics_demo_server [--listen 127.0.0.1:0] [--port-file FILE] [--duration SECONDS]
//                       [--rate EVENTS_PER_SECOND]
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <thread>

#include "metrics/metrics.h"
#include "metrics/server.h"
#include "metrics/status_board.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

struct Profile {
  const char* party;
  const char* vendor;
  const char* cls;
  const char* reason;
  int weight;
};

// A plausible mix: mostly dead addresses and transient failures, and blocks of all three kinds.
constexpr Profile kProfiles[] = {
    {"recipient_invalid", "other", "InvalidRecipient", "userunknown", 30},
    {"transient", "other", "TransientFailure", "systemerror", 20},
    {"filter_platform", "mimecast", "SpamBlock", "badreputation", 9},
    {"recipient_admin", "mimecast", "PolicyRelated", "blocked", 6},
    {"end_user", "mimecast", "PolicyRelated", "blocked", 3},
    {"filter_platform", "microsoft", "SpamBlock", "blocked", 7},
    {"filter_platform", "proofpoint", "SpamBlock", "badreputation", 4},
    {"recipient_admin", "proofpoint", "PolicyRelated", "policyviolation", 2},
    {"filter_platform", "dnsbl", "SpamBlock", "blocked", 3},
    {"recipient_admin", "barracuda", "PolicyRelated", "rejected", 2},
    {"end_user", "google", "Feedback", "feedback", 3},
    {"sender_config", "google", "AuthenticationFailed", "authfailure", 4},
    {"recipient_infra", "other", "QuotaIssues", "mailboxfull", 5},
    {"unknown", "other", "Uncategorized", "undefined", 2},
};
constexpr const char* kDomains[] = {"gmail.com", "outlook.com", "yahoo.com", "icloud.com",
                                    "acme.example", "globex.example", "hotmail.com"};
constexpr const char* kFormats[] = {"kumomta", "ses", "sendgrid", "postfix", "canonical"};
constexpr const char* kDeadLetters[] = {"json_syntax", "missing_field", "bad_field", "too_large"};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", port_file;
  double duration = 300, rate = 800;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--listen") listen = argv[i + 1];
    else if (flag == "--port-file") port_file = argv[i + 1];
    else if (flag == "--duration") duration = std::atof(argv[i + 1]);
    else if (flag == "--rate") rate = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);

  bouncestream::metrics::MetricsOptions options;
  options.version = "0.1.0-demo";
  options.revision = "test";
  options.tenant_allow_list = {"acme", "globex"};
  auto metrics = bouncestream::metrics::Metrics::Create(options);
  if (!metrics) {
    std::fprintf(stderr, "%s\n", metrics.error().c_str());
    return 1;
  }
  bouncestream::metrics::StatusBoard board(20);
  bouncestream::metrics::ServerOptions server_options;
  server_options.listen = listen;
  auto server = bouncestream::metrics::Server::Start(server_options, metrics->get(), &board);
  if (!server) {
    std::fprintf(stderr, "%s\n", server.error().c_str());
    return 1;
  }
  auto& m = **metrics;
  auto& s = **server;
  std::printf("listening on http://%s/\n", s.address().c_str());
  std::fflush(stdout);
  if (!port_file.empty()) {
    std::ofstream(port_file + ".tmp") << s.port() << "\n";
    std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  }
  s.SetReady(false, "restoring state (demo)");
  m.SetAssignedPartitions("bounces.in", 6);

  std::mt19937 rng(42);
  int total_weight = 0;
  for (const auto& p : kProfiles) total_weight += p.weight;
  bouncestream::metrics::BatchCounts batch(m);
  const auto start = std::chrono::steady_clock::now();
  double carry = 0;
  long tick = 0;
  while (g_stop == 0) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed > duration) break;
    if (tick == 20) s.SetReady(true);
    // A wave so events/s visibly moves: rate * (0.6 .. 1.4).
    carry += rate * 0.1 * (1.0 + 0.4 * std::sin(elapsed / 15.0));
    const int n = static_cast<int>(carry);
    carry -= n;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      const bool dead = rng() % 100 == 0;
      batch.InputRecord(kFormats[rng() % std::size(kFormats)], !dead);
      if (dead) {
        batch.DeadLetter(kDeadLetters[rng() % std::size(kDeadLetters)]);
        continue;
      }
      if (rng() % 200 == 0) {
        batch.Duplicate();
        continue;
      }
      int pick = static_cast<int>(rng() % total_weight);
      const Profile* p = &kProfiles[0];
      for (const auto& candidate : kProfiles) {
        if ((pick -= candidate.weight) < 0) {
          p = &candidate;
          break;
        }
      }
      const char* tenant = rng() % 3 == 0 ? "acme" : (rng() % 2 ? "globex" : "initech");
      batch.Event(tenant, p->party, p->vendor, p->cls, p->reason,
                  kDomains[rng() % std::size(kDomains)]);
      batch.Latency("classify", 0.002 + (rng() % 1000) / 100000.0);
      batch.EventTime(static_cast<double>(std::time(nullptr)));
    }
    if (tick % 7 == 3) {
      batch.Decision("pause", "ip_vendor", "filter_platform");
      board.AddDecision({std::time(nullptr) * 1000LL, "pause", "ip_vendor", "badreputation",
                         "filter_platform", "mimecast", "198.51.100.7 -> mimecast"});
    }
    if (tick % 11 == 5) {
      batch.Decision("pause", "domain", "recipient_admin");
      board.AddDecision({std::time(nullptr) * 1000LL, "pause", "domain", "blocked",
                         "recipient_admin", "mimecast", "acme/news.acme.example -> globex.example"});
    }
    if (tick % 5 == 1) {
      batch.Decision("suppress", "tenant", "recipient_invalid");
      board.AddDecision({std::time(nullptr) * 1000LL, "suppress", "tenant", "userunknown",
                         "recipient_invalid", "other", "acme: j***@gmail.com"});
    }
    if (tick % 13 == 8) {
      batch.Decision("suppress", "sender", "end_user");
      board.AddDecision({std::time(nullptr) * 1000LL, "suppress", "sender", "blocked",
                         "end_user", "mimecast", "globex/alerts.globex.example -> a***@acme.example"});
    }
    if (tick % 37 == 20) {
      batch.Decision("alert", "sender", "sender_config");
      board.AddDecision({std::time(nullptr) * 1000LL, "alert", "sender", "authfailure",
                         "sender_config", "google", "acme/mail.acme.example: DKIM fails"});
    }
    m.Flush(batch);
    m.ObserveBatchDuration(
        "classify", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    m.SetConsumerLag("bounces.in", 0, static_cast<double>(rng() % 400));
    m.SetConsumerLag("bounces.in", 1, static_cast<double>(rng() % 100));
    m.SetActiveDecisions("pause", 12 + static_cast<double>(tick % 5));
    m.SetActiveDecisions("suppress", static_cast<double>(tick / 5));
    m.SetProducerQueue(static_cast<double>(rng() % 50));
    s.Heartbeat();
    ++tick;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return 0;
}
