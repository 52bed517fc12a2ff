// Helpers for the state tests: the tests' start time, a temporary directory, owning observations
// and a partition's state hash.
#ifndef BOUNCESTREAM_TESTS_STATE_TEST_UTIL_H_
#define BOUNCESTREAM_TESTS_STATE_TEST_UTIL_H_

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "state/engine.h"
#include "state/observation.h"

namespace bouncestream::state::testing {

// The tests' event time origin and FakeClock start.
inline constexpr std::int64_t kT0 = 1'790'000'000'000;  // 2026-09-21

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr && *base != '\0' ? base : "/tmp") +
                       "/state_test.XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = mkdtemp(buf.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// An Observation that owns its strings.
struct Ev {
  std::string id;
  std::int64_t t = 0;
  Signal signal = Signal::kOther;
  std::string tenant = "acme";
  std::string sender = "news@acme.example";
  std::string recipient = "bob@example.com";
  std::string domain = "example.com";
  std::string ip = "198.51.100.7";
  std::string vendor = "other";
  std::string reason = "unknown";
  std::uint8_t reason_code = 0;
  std::string party = "unknown";
  std::string rule = "test.rule";
  std::string dnsbl;
  std::string text = "550 test reply";
  bool hashed = false;

  Observation Obs() const {
    Observation o;
    o.event_id = id;
    o.event_time_ms = t;
    o.tenant = tenant;
    o.sender = sender;
    o.recipient = recipient;
    o.recipient_is_hash = hashed;
    o.domain = domain;
    o.sending_ip = ip;
    o.vendor = vendor;
    o.reason = reason;
    o.reason_code = reason_code;
    o.party = party;
    o.rule = rule;
    o.dnsbl = dnsbl;
    o.text = text;
    o.signal = signal;
    return o;
  }
};

// The observations view `evs`: keep it alive while they are used.
std::vector<Observation> Obs(std::vector<Ev>&& evs) = delete;
inline std::vector<Observation> Obs(const std::vector<Ev>& evs) {
  std::vector<Observation> out;
  out.reserve(evs.size());
  for (const Ev& e : evs) out.push_back(e.Obs());
  return out;
}

// The state hash of `partition` in `engine`'s Summaries(), "none" when it holds no state.
inline std::string PartitionHash(Engine* engine, std::int32_t partition) {
  for (const auto& s : engine->Summaries()) {
    if (s.partition == partition) return s.hash;
  }
  return "none";
}

}  // namespace bouncestream::state::testing

#endif  // BOUNCESTREAM_TESTS_STATE_TEST_UTIL_H_
