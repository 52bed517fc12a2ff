#include "state/engine.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <map>
#include <random>

#include "state/internal/codec.h"
#include "tests/state/test_util.h"

namespace bouncestream::state {
namespace {

using testing::Ev;
using testing::kT0;
using testing::Obs;
using testing::PartitionHash;
using testing::TempDir;

class EngineTest : public ::testing::Test {
 protected:
  EngineOptions Options(const std::string& dir) {
    EngineOptions o;
    o.dir = dir;
    o.clock = &clock_;
    o.policy = policy_;
    o.block_cache_bytes = 8u << 20;
    return o;
  }
  std::unique_ptr<Engine> OpenAt(const std::string& dir) {
    auto e = Engine::Open(Options(dir));
    EXPECT_TRUE(e.has_value()) << e.error();
    return e ? std::move(*e) : nullptr;
  }
  void Open() {
    engine_.reset();
    engine_ = OpenAt(dir_.Sub("db"));
  }
  void SetUp() override { Open(); }

  // Apply + Commit; returns the decisions.
  std::vector<Decision> Run(const std::vector<Ev>& evs, std::int32_t partition = 0) {
    return RunOn(engine_.get(), evs, partition).decisions;
  }
  BatchResult RunOn(Engine* engine, const std::vector<Ev>& evs, std::int32_t partition = 0) {
    auto obs = Obs(evs);
    offset_[partition] += static_cast<std::int64_t>(evs.size());
    auto r = engine->Apply(partition, obs, offset_[partition]);
    EXPECT_TRUE(r.has_value()) << r.error();
    auto c = engine->Commit(*r);
    EXPECT_TRUE(c.has_value()) << c.error();
    return std::move(*r);
  }
  Ev E(Signal s, std::int64_t t, std::string recipient = "bob@example.com") {
    Ev e;
    e.id = "ev" + std::to_string(++ids_);
    e.t = t;
    e.signal = s;
    e.recipient = std::move(recipient);
    return e;
  }
  static std::vector<Decision> Of(const std::vector<Decision>& ds, DecisionKind k) {
    std::vector<Decision> out;
    for (const auto& d : ds) {
      if (d.kind == k) out.push_back(d);
    }
    return out;
  }
  std::string Hash(Engine* e, std::int32_t partition = 0) { return PartitionHash(e, partition); }

  FakeClock clock_{kT0};
  PolicySet policy_;
  TempDir dir_;
  std::unique_ptr<Engine> engine_;
  std::map<std::int32_t, std::int64_t> offset_;
  int ids_ = 0;
};

TEST_F(EngineTest, RepeatedHardBouncesSuppressOnce) {
  std::vector<Ev> evs;
  for (int i = 0; i < 5; ++i) evs.push_back(E(Signal::kHardInvalid, kT0 + i * 1000));
  auto ds = Run(evs);
  ASSERT_EQ(ds.size(), 1u);
  const Decision& d = ds[0];
  EXPECT_EQ(d.kind, DecisionKind::kSuppress);
  EXPECT_EQ(d.scope, Scope::kTenant);
  EXPECT_EQ(d.tenant, "acme");
  EXPECT_EQ(d.recipient, "bob@example.com");
  EXPECT_EQ(d.rule, "policy.hard_invalid");
  EXPECT_EQ(d.classifier_rule, "test.rule");
  EXPECT_EQ(d.origin, "policy");
  EXPECT_EQ(d.decided_at_ms, kT0);
  EXPECT_EQ(d.expires_at_ms, 0);
  EXPECT_EQ(d.evidence.event_id, "ev1");
  EXPECT_EQ(d.evidence.count, 1);
  EXPECT_EQ(d.decision_id.size(), 16u);
  // Later batches: still one.
  EXPECT_TRUE(Run({E(Signal::kHardInvalid, kT0 + 10'000)}).empty());
  EXPECT_TRUE(Run({E(Signal::kComplaint, kT0 + 20'000)}).empty());
  auto q = engine_->Query("acme", "bob@example.com");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].decision_id, d.decision_id);
}

TEST_F(EngineTest, ComplaintSuppressesForTenant) {
  auto ds = Run({E(Signal::kComplaint, kT0)});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].rule, "policy.complaint");
  EXPECT_EQ(ds[0].scope, Scope::kTenant);
}

TEST_F(EngineTest, SoftStreakSuppressesWithTtl) {
  std::vector<Ev> evs;
  for (int i = 0; i < 4; ++i) evs.push_back(E(Signal::kSoft, kT0 + i * kHourMs));
  EXPECT_TRUE(Run(evs).empty());
  auto ds = Run({E(Signal::kSoft, kT0 + 5 * kHourMs)});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].rule, "policy.soft_streak");
  EXPECT_EQ(ds[0].evidence.count, 5);
  EXPECT_EQ(ds[0].evidence.first_seen_ms, kT0);
  EXPECT_EQ(ds[0].evidence.last_seen_ms, kT0 + 5 * kHourMs);
  EXPECT_EQ(ds[0].expires_at_ms, kT0 + 5 * kHourMs + policy_.defaults.soft_suppress_ttl_ms);
  EXPECT_TRUE(Run({E(Signal::kSoft, kT0 + 6 * kHourMs)}).empty());
}

TEST_F(EngineTest, SoftStreakOutsideWindowDoesNotCount) {
  std::vector<Ev> evs;
  for (int i = 0; i < 5; ++i) evs.push_back(E(Signal::kSoft, kT0 + i * 2 * kDayMs));
  EXPECT_TRUE(Run(evs).empty());  // never 5 within 7 days
}

TEST_F(EngineTest, DeliveredBreaksSoftStreak) {
  std::vector<Ev> evs;
  for (int i = 0; i < 4; ++i) evs.push_back(E(Signal::kSoft, kT0 + i * 1000));
  evs.push_back(E(Signal::kDelivered, kT0 + 10'000));
  for (int i = 0; i < 4; ++i) evs.push_back(E(Signal::kSoft, kT0 + 20'000 + i * 1000));
  EXPECT_TRUE(Run(evs).empty());
  auto ds = Run({E(Signal::kSoft, kT0 + 30'000)});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].evidence.count, 5);
  EXPECT_EQ(ds[0].evidence.first_seen_ms, kT0 + 20'000);
}

TEST_F(EngineTest, HardUpgradesSoftSuppression) {
  std::vector<Ev> evs;
  for (int i = 0; i < 5; ++i) evs.push_back(E(Signal::kSoft, kT0 + i * 1000));
  auto soft = Run(evs);
  ASSERT_EQ(soft.size(), 1u);
  auto hard = Run({E(Signal::kHardInvalid, kT0 + 10'000)});
  ASSERT_EQ(hard.size(), 1u);
  EXPECT_EQ(hard[0].kind, DecisionKind::kSuppress);
  EXPECT_EQ(hard[0].rule, "policy.hard_invalid");
  EXPECT_EQ(hard[0].expires_at_ms, 0);
  EXPECT_NE(hard[0].decision_id, soft[0].decision_id);
  EXPECT_TRUE(Run({E(Signal::kHardInvalid, kT0 + 20'000)}).empty());
  // The soft suppression's expiry no longer fires.
  EXPECT_TRUE(Run({E(Signal::kTransient, kT0 + 40 * kDayMs)}).empty());
  EXPECT_EQ(engine_->Query("acme", "bob@example.com").size(), 1u);
}

TEST_F(EngineTest, EndUserBlockSuppressesForSenderOnly) {
  auto ds = Run({E(Signal::kEndUserBlock, kT0), E(Signal::kEndUserBlock, kT0 + 1)});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, DecisionKind::kSuppress);
  EXPECT_EQ(ds[0].scope, Scope::kSender);
  EXPECT_EQ(ds[0].sender, "news@acme.example");
  EXPECT_EQ(ds[0].rule, "policy.end_user");
  EXPECT_EQ(ds[0].expires_at_ms, kT0 + policy_.defaults.end_user_suppress_ttl_ms);
  EXPECT_EQ(StreamOf(ds[0]), Stream::kSuppressions);
  EXPECT_EQ(RecordKey(ds[0]), "acme\x1F" "bob@example.com\x1F" "news@acme.example");
  for (const auto& d : engine_->Query("acme", "bob@example.com")) {
    EXPECT_NE(d.scope, Scope::kTenant);
  }
  // Another sender to the same recipient gets its own, still no tenant-wide suppression.
  Ev other = E(Signal::kEndUserBlock, kT0 + 2);
  other.sender = "billing@acme.example";
  auto ds2 = Run({other});
  ASSERT_EQ(ds2.size(), 1u);
  EXPECT_EQ(ds2[0].sender, "billing@acme.example");
  EXPECT_EQ(engine_->Query("acme", "bob@example.com").size(), 2u);
}

TEST_F(EngineTest, AdminBlocksNeedKDistinctRecipients) {
  const int k = policy_.defaults.admin_block_distinct_recipients;
  std::vector<Ev> evs;
  for (int rep = 0; rep < 10; ++rep) {
    for (int i = 0; i < k - 1; ++i) {
      evs.push_back(E(Signal::kAdminBlock, kT0 + rep * 100 + i,
                      "u" + std::to_string(i) + "@example.com"));
    }
  }
  EXPECT_TRUE(Run(evs).empty());
  auto ds = Run({E(Signal::kAdminBlock, kT0 + 5000, "last@example.com")});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, DecisionKind::kPause);
  EXPECT_EQ(ds[0].scope, Scope::kDomain);
  EXPECT_EQ(ds[0].domain, "example.com");
  EXPECT_EQ(ds[0].sender, "news@acme.example");
  EXPECT_EQ(ds[0].recipient, "");
  EXPECT_EQ(ds[0].evidence.count, k);
  EXPECT_EQ(ds[0].rule, "policy.admin_domain");
  EXPECT_EQ(StreamOf(ds[0]), Stream::kBlocks);
  EXPECT_TRUE(Run({E(Signal::kAdminBlock, kT0 + 6000, "more@example.com")}).empty());
  EXPECT_EQ(engine_->Stats().active_suppressions, 0);
  EXPECT_EQ(engine_->Stats().active_pauses, 1);
}

TEST_F(EngineTest, AdminBlocksOutsideWindowDoNotCount) {
  auto ds = Run({E(Signal::kAdminBlock, kT0, "a@example.com"),
                 E(Signal::kAdminBlock, kT0 + 2 * kDayMs, "b@example.com"),
                 E(Signal::kAdminBlock, kT0 + 4 * kDayMs, "c@example.com")});
  EXPECT_TRUE(ds.empty());
}

TEST_F(EngineTest, RblBlockForThousandRecipientsPausesIpSuppressesNone) {
  std::vector<Ev> evs;
  for (int i = 0; i < 1000; ++i) {
    Ev e = E(Signal::kPlatformBlock, kT0 + i, "r" + std::to_string(i) + "@corp.example");
    e.domain = "corp.example";
    e.vendor = "mimecast";
    e.dnsbl = i == 30 ? "spamhaus-zen" : "";
    e.reason = "blocked";
    e.party = "filter_platform";
    e.text = "550 Rejected by header based Anti-Spoofing policy - RBL";
    evs.push_back(std::move(e));
  }
  auto ds = Run(evs);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, DecisionKind::kPause);
  EXPECT_EQ(ds[0].scope, Scope::kIpVendor);
  EXPECT_EQ(ds[0].sending_ip, "198.51.100.7");
  EXPECT_EQ(ds[0].vendor, "mimecast");
  EXPECT_EQ(ds[0].evidence.count, policy_.defaults.platform_block_count);
  EXPECT_EQ(ds[0].decided_at_ms, kT0 + policy_.defaults.platform_block_count - 1);
  EXPECT_EQ(ds[0].recipient, "");
  EXPECT_EQ(RecordKey(ds[0]), "198.51.100.7\x1Fmimecast");
  auto st = engine_->Stats();
  EXPECT_EQ(st.active_suppressions, 0);
  EXPECT_EQ(st.active_pauses, 1);
  for (int i = 0; i < 1000; i += 97) {
    EXPECT_TRUE(engine_->Query("acme", "r" + std::to_string(i) + "@corp.example").empty());
  }
}

TEST_F(EngineTest, PlatformPauseNamesMostRecentDnsbl) {
  policy_.defaults.platform_block_count = 3;
  Open();
  Ev a = E(Signal::kPlatformBlock, kT0), b = E(Signal::kPlatformBlock, kT0 + 1),
     c = E(Signal::kPlatformBlock, kT0 + 2);
  a.dnsbl = "spamcop";
  auto ds = Run({a, b, c});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].dnsbl, "spamcop");
}

TEST_F(EngineTest, NoSendingIpNoIpPause) {
  std::vector<Ev> evs;
  for (int i = 0; i < 50; ++i) {
    evs.push_back(E(Signal::kPlatformBlock, kT0 + i));
    evs.back().ip = "";
  }
  EXPECT_TRUE(Run(evs).empty());
}

TEST_F(EngineTest, SenderConfigAlertsOnceUntilExpiry) {
  std::vector<Ev> evs;
  for (int i = 0; i < 10; ++i) {
    evs.push_back(E(Signal::kSenderConfig, kT0 + i * kMinuteMs));
    evs.back().reason = "auth_failure";
  }
  auto ds = Run(evs);
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].kind, DecisionKind::kAlert);
  EXPECT_EQ(ds[0].scope, Scope::kSender);
  EXPECT_EQ(ds[0].reason, "auth_failure");
  EXPECT_EQ(StreamOf(ds[0]), Stream::kAlerts);
  EXPECT_EQ(RecordKey(ds[0]), "acme\x1Fnews@acme.example\x1F" "auth_failure");
  EXPECT_EQ(engine_->Stats().active_suppressions, 0);
  // After the alert TTL: the next event expires it (lift), and a new fault alerts again.
  Ev later = E(Signal::kSenderConfig, kT0 + policy_.defaults.alert_ttl_ms + kHourMs);
  later.reason = "auth_failure";
  auto ds2 = Run({later});
  ASSERT_EQ(ds2.size(), 2u);
  EXPECT_EQ(ds2[0].kind, DecisionKind::kLift);
  EXPECT_EQ(ds2[0].origin, "expiry");
  EXPECT_EQ(StreamOf(ds2[0]), Stream::kAlerts);
  EXPECT_EQ(ds2[1].kind, DecisionKind::kAlert);
}

TEST_F(EngineTest, ExpiryEmitsLiftAndResumeExactlyOnce) {
  policy_.defaults.platform_block_count = 1;
  Open();
  auto ds = Run({E(Signal::kEndUserBlock, kT0), E(Signal::kPlatformBlock, kT0 + 1)});
  ASSERT_EQ(ds.size(), 2u);
  const std::int64_t ip_exp = ds[1].expires_at_ms;
  EXPECT_EQ(ip_exp, kT0 + 1 + policy_.defaults.ip_pause_ttl_ms);
  // Just before: nothing.
  EXPECT_TRUE(Run({E(Signal::kTransient, ip_exp - 1, "x@example.com")}).empty());
  auto at = Run({E(Signal::kTransient, ip_exp, "x@example.com")});
  ASSERT_EQ(at.size(), 1u);
  EXPECT_EQ(at[0].kind, DecisionKind::kResume);
  EXPECT_EQ(at[0].origin, "expiry");
  EXPECT_EQ(at[0].scope, Scope::kIpVendor);
  EXPECT_EQ(at[0].decided_at_ms, ip_exp);
  EXPECT_EQ(RecordKey(at[0]), RecordKey(ds[1]));
  EXPECT_TRUE(Run({E(Signal::kTransient, ip_exp + 1, "x@example.com")}).empty());
  // Reopen: still not again; the end-user suppression expires later, once.
  Open();
  std::int64_t eu_exp = ds[0].expires_at_ms;
  auto lift = Run({E(Signal::kTransient, eu_exp + 5, "x@example.com"),
                   E(Signal::kTransient, eu_exp + 6, "x@example.com")});
  ASSERT_EQ(lift.size(), 1u);
  EXPECT_EQ(lift[0].kind, DecisionKind::kLift);
  EXPECT_EQ(lift[0].scope, Scope::kSender);
  EXPECT_EQ(lift[0].recipient, "bob@example.com");
  EXPECT_TRUE(engine_->Query("acme", "bob@example.com").empty());
}

TEST_F(EngineTest, PerTenantOverride) {
  PolicyConfig strict;
  strict.soft_bounce_count = 2;
  policy_.tenants["strict"] = strict;
  Open();
  Ev a = E(Signal::kSoft, kT0), b = E(Signal::kSoft, kT0 + 1);
  EXPECT_TRUE(Run({a, b}).empty());  // acme: default 5
  a.tenant = b.tenant = "strict";
  a.id += "s";
  b.id += "s";
  auto ds = Run({a, b});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].tenant, "strict");
}

TEST_F(EngineTest, DuplicatesCountedOnceWithinHorizon) {
  Ev a = E(Signal::kSoft, kT0);
  std::vector<Ev> evs_1 = {a, a};
  auto obs = Obs(evs_1);
  auto r = engine_->Apply(0, obs, 2);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stats.applied, 1);
  EXPECT_EQ(r->stats.duplicates, 1);
  ASSERT_TRUE(engine_->Commit(*r));
  // Next batch, same id: still a duplicate (and after a reopen).
  Open();
  std::vector<Ev> evs_2 = {a};
  auto obs2 = Obs(evs_2);
  auto r2 = engine_->Apply(0, obs2, 3);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->stats.duplicates, 1);
  ASSERT_TRUE(engine_->Commit(*r2));
  // Move the watermark past the horizon: the id counts again.
  Run({E(Signal::kTransient, kT0 + EngineOptions().dedupe_horizon_ms + 1)});
  a.t = kT0 + EngineOptions().dedupe_horizon_ms + 2;
  std::vector<Ev> evs_3 = {a};
  auto obs3 = Obs(evs_3);
  auto r3 = engine_->Apply(0, obs3, 10);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->stats.duplicates, 0);
  EXPECT_EQ(r3->stats.applied, 1);
}

// One source event may carry several recipients (an SES notice's bouncedRecipients, a KumoMTA
// record's recipients share one id): each recipient's event counts, each once.
TEST_F(EngineTest, OneEventIdForSeveralRecipientsCountsEachOnce) {
  Ev bob = E(Signal::kHardInvalid, kT0);
  Ev carol = bob;
  carol.recipient = "carol@example.com";
  BatchResult r = RunOn(engine_.get(), {bob, carol, carol});
  EXPECT_EQ(r.stats.applied, 2);
  EXPECT_EQ(r.stats.duplicates, 1);
  EXPECT_EQ(Of(r.decisions, DecisionKind::kSuppress).size(), 2u);
  Open();  // committed entries, read back
  BatchResult r2 = RunOn(engine_.get(), {carol, bob});
  EXPECT_EQ(r2.stats.applied, 0);
  EXPECT_EQ(r2.stats.duplicates, 2);
}

// A recipient window keeps the newest kSeenIds (16) ids; older ones go to the dedupe family
// and still count, also after a reopen; an erase removes them too.
TEST_F(EngineTest, IdsBeyondTheWindowsShareStillDedupe) {
  std::vector<Ev> evs;
  for (int i = 0; i < 20; ++i) evs.push_back(E(Signal::kTransient, kT0 + i));
  BatchResult first = RunOn(engine_.get(), evs);
  EXPECT_EQ(first.stats.applied, 20);
  int spilled = 0;
  for (const auto& rec : first.changelog) spilled += rec.key[0] == 'u' ? 1 : 0;
  EXPECT_EQ(spilled, 4);
  // Within one batch too: the spilled ones are found before they are written.
  std::vector<Ev> twice = evs;
  twice.insert(twice.end(), evs.begin(), evs.end());
  for (Ev& e : twice) e.recipient = "carol@example.com";
  BatchResult same_batch = RunOn(engine_.get(), twice);
  EXPECT_EQ(same_batch.stats.applied, 20);
  EXPECT_EQ(same_batch.stats.duplicates, 20);
  Open();
  BatchResult again = RunOn(engine_.get(), evs);
  EXPECT_EQ(again.stats.applied, 0);
  EXPECT_EQ(again.stats.duplicates, 20);
  std::vector<std::int32_t> none;
  auto erased = engine_->Erase("", "bob@example.com", none);
  ASSERT_TRUE(erased);
  ASSERT_EQ(erased->size(), 1u);
  int tombstones = 0;
  for (const auto& rec : (*erased)[0].changelog) {
    if (rec.key[0] != 'u') continue;
    EXPECT_FALSE(rec.value.has_value());
    EXPECT_EQ(rec.key.find("bob@example.com"), std::string::npos);  // a hash, not the address
    ++tombstones;
  }
  EXPECT_EQ(tombstones, 4);
  ASSERT_TRUE(engine_->Commit((*erased)[0]));
  BatchResult after = RunOn(engine_.get(), evs);
  EXPECT_EQ(after.stats.applied, 20);  // forgotten
}

// A state dir or changelog of the version before per-recipient dedupe keys: its entries
// ([p][event id]) still stop a re-delivered event within the horizon.
TEST_F(EngineTest, DedupeEntriesOfTheEarlierFormatStillMatch) {
  const Ev old = E(Signal::kHardInvalid, kT0);
  // The changelog of one batch as the earlier version wrote it: the old dedupe key and a
  // commit marker without the upgrade mark (flags 0).
  auto fresh = OpenAt(dir_.Sub("upgraded"));
  auto restorer = fresh->BeginRestore(0);
  std::string p("\0\0\0\0", 4);
  std::string seen, marker;  // i64 LE; next_offset, watermark, has_watermark, flags
  internal::PutFixed<std::int64_t>(&seen, kT0);
  internal::PutFixed<std::int64_t>(&marker, 5);
  marker += seen + std::string("\x01\x00", 2);
  ASSERT_TRUE(restorer->Add(0, "u" + p + old.id, seen, "old-1"));
  ASSERT_TRUE(restorer->Add(1, "m" + p + "old-1", marker, "old-1"));
  ASSERT_TRUE(restorer->Finish(2));
  ASSERT_EQ(fresh->NextOffset(0), std::optional<std::int64_t>(5));
  for (int reopen = 0; reopen < 2; ++reopen) {
    std::vector<Ev> evs = {old};
    auto obs = Obs(evs);
    auto r = fresh->Apply(0, obs, 6);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->stats.duplicates, 1);
    EXPECT_EQ(r->stats.applied, 0);
    ASSERT_TRUE(fresh->Commit(*r));
    fresh.reset();  // the mark is stored: the second pass reads it back
    fresh = OpenAt(dir_.Sub("upgraded"));
  }
  // A new event with a new id still counts.
  std::vector<Ev> evs = {E(Signal::kHardInvalid, kT0 + 1)};
  auto obs = Obs(evs);
  auto r = fresh->Apply(0, obs, 8);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stats.applied, 1);
}

// The same for a state dir the earlier version wrote (no upgrade mark in meta).
TEST_F(EngineTest, DedupeEntriesOfAnEarlierStateDirStillMatch) {
  const Ev old = E(Signal::kHardInvalid, kT0);
  const std::string dir = dir_.Sub("old-dir");
  OpenAt(dir).reset();  // creates the column families
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* n : {"default", "windows", "decisions", "expiry", "dedupe", "meta"}) {
      cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), dir, cfs, &h, &raw).ok());
    std::string p("\0\0\0\0", 4), seen, offsets;  // next_offset, watermark, has_watermark
    internal::PutFixed<std::int64_t>(&seen, kT0);
    internal::PutFixed<std::int64_t>(&offsets, 5);
    offsets += seen + "\x01";
    EXPECT_TRUE(raw->Put({}, h[4], p + old.id, seen).ok());
    EXPECT_TRUE(raw->Put({}, h[5], p + "o", offsets).ok());
    for (auto* x : h) EXPECT_TRUE(raw->DestroyColumnFamilyHandle(x).ok());
    EXPECT_TRUE(raw->Close().ok());
    delete raw;
  }
  auto engine = OpenAt(dir);
  ASSERT_EQ(engine->NextOffset(0), std::optional<std::int64_t>(5));
  std::vector<Ev> evs = {old, E(Signal::kHardInvalid, kT0 + 1)};
  auto obs = Obs(evs);
  auto r = engine->Apply(0, obs, 7);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->stats.duplicates, 1);
  EXPECT_EQ(r->stats.applied, 1);
}

TEST_F(EngineTest, LateEventsInsideBoundCountTooLateDropped) {
  std::vector<Ev> evs;
  evs.push_back(E(Signal::kTransient, kT0 + 10 * kDayMs, "x@example.com"));
  for (int i = 0; i < 5; ++i) evs.push_back(E(Signal::kSoft, kT0 + 6 * kDayMs + i));  // late
  auto obs = Obs(evs);
  auto r = engine_->Apply(0, obs, 6);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stats.late, 0);
  ASSERT_EQ(r->decisions.size(), 1u);  // the late soft streak still suppresses
  ASSERT_TRUE(engine_->Commit(*r));
  Ev too_late = E(Signal::kHardInvalid, kT0 + 2 * kDayMs, "old@example.com");
  std::vector<Ev> evs_4 = {too_late};
  auto obs2 = Obs(evs_4);
  auto r2 = engine_->Apply(0, obs2, 7);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->stats.late, 1);
  EXPECT_EQ(r2->stats.applied, 0);
  EXPECT_TRUE(r2->decisions.empty());
}

// A random but realistic sequence: several days, out-of-order and duplicated events.
std::vector<Ev> RandomSequence(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  auto pick = [&rng](int k) { return static_cast<int>(rng() % static_cast<unsigned>(k)); };
  std::vector<Ev> evs;
  evs.reserve(n);
  std::int64_t t = kT0;
  const Signal sigs[] = {Signal::kHardInvalid,   Signal::kComplaint,    Signal::kSoft,
                         Signal::kSoft,          Signal::kSoft,         Signal::kEndUserBlock,
                         Signal::kAdminBlock,    Signal::kPlatformBlock, Signal::kPlatformBlock,
                         Signal::kSenderConfig,  Signal::kTransient,    Signal::kDelivered,
                         Signal::kDelivered,     Signal::kOther};
  for (std::size_t i = 0; i < n; ++i) {
    if (i > 10 && pick(50) == 0) {  // a retried duplicate
      evs.push_back(evs[i - 1 - static_cast<std::size_t>(pick(10))]);
      continue;
    }
    t += pick(60'000);
    Ev e;
    e.id = "id" + std::to_string(i);
    e.t = pick(20) == 0 ? t - pick(3) * kDayMs - pick(1000) : t;  // some late, some too late
    if (pick(500) == 0) e.t = t - 9 * kDayMs;
    e.signal = sigs[pick(static_cast<int>(std::size(sigs)))];
    e.tenant = pick(4) == 0 ? "beta" : "acme";
    e.sender = "s" + std::to_string(pick(4)) + "@" + e.tenant + ".example";
    e.domain = "d" + std::to_string(pick(12)) + ".example";
    e.recipient = "r" + std::to_string(pick(150)) + "@" + e.domain;
    e.ip = pick(10) == 0 ? "" : "192.0.2." + std::to_string(pick(3));
    e.vendor = pick(2) == 0 ? "mimecast" : "microsoft";
    e.reason = pick(2) == 0 ? "blocked" : "filtered";
    e.reason_code = static_cast<std::uint8_t>(pick(64));
    e.dnsbl = pick(7) == 0 ? "zen" : "";
    e.text = "550 reply \"" + std::to_string(i) + "\"";
    evs.push_back(std::move(e));
  }
  return evs;
}

struct RunOutcome {
  std::vector<std::string> ids;
  std::string hash;
  std::optional<std::int64_t> next_offset;
  std::vector<BatchResult> results;
};

class InvarianceTest : public EngineTest {
 protected:
  void SetUp() override {
    policy_.defaults.platform_block_count = 5;
    policy_.defaults.ip_pause_ttl_ms = kHourMs;
    policy_.defaults.domain_pause_ttl_ms = 2 * kHourMs;
    policy_.defaults.alert_ttl_ms = kHourMs;
    policy_.defaults.end_user_suppress_ttl_ms = kDayMs;
    policy_.defaults.soft_bounce_count = 3;
    policy_.defaults.soft_suppress_ttl_ms = kDayMs;
    policy_.defaults.hard_suppress_ttl_ms = 3 * kDayMs;
    evs_ = RandomSequence(20'000, 7);
  }
  // The whole sequence in one batch; computed once for the suite (every other way of playing
  // it must give the same ids and hash).
  const RunOutcome& Reference() {
    static std::map<std::size_t, RunOutcome> refs;
    auto it = refs.find(evs_.size());
    if (it == refs.end()) {
      RunOutcome r = Play(dir_.Sub("reference"), {evs_.size()}, false);
      r.results.clear();
      it = refs.emplace(evs_.size(), std::move(r)).first;
    }
    return it->second;
  }
  // The crash, pipelining and restore tests use a prefix (keeps the debug build's test time
  // down; the 20k sequence runs in BatchCutsAndReopensGiveSameState).
  void UsePrefix(std::size_t n) { evs_.resize(n); }
  // cuts: batch sizes (cycled); reopen: close and reopen the engine between batches.
  // checkpoint_every: Apply with checkpoint=true every that many batches (and for the last).
  RunOutcome Play(const std::string& dir, const std::vector<std::size_t>& cuts, bool reopen,
                  std::size_t checkpoint_every = 1) {
    RunOutcome out;
    auto engine = OpenAt(dir);
    std::size_t pos = 0, c = 0;
    while (pos < evs_.size()) {
      std::size_t n = std::min(cuts[c++ % cuts.size()], evs_.size() - pos);
      std::vector<Ev> part(evs_.begin() + static_cast<std::ptrdiff_t>(pos),
                           evs_.begin() + static_cast<std::ptrdiff_t>(pos + n));
      auto obs = Obs(part);
      const bool checkpoint = c % checkpoint_every == 0 || pos + n == evs_.size();
      auto r = engine->Apply(3, obs, static_cast<std::int64_t>(pos + n), checkpoint);
      EXPECT_TRUE(r) << r.error();
      for (const auto& d : r->decisions) out.ids.push_back(d.decision_id);
      EXPECT_TRUE(engine->Commit(*r));
      out.results.push_back(std::move(*r));
      pos += n;
      if (reopen && c % 7 == 0 && checkpoint) {
        engine.reset();
        engine = OpenAt(dir);
      }
    }
    out.hash = Hash(engine.get(), 3);
    out.next_offset = engine->NextOffset(3);
    return out;
  }
  std::vector<Ev> evs_;
};

TEST_F(InvarianceTest, BatchCutsAndReopensGiveSameState) {
  const RunOutcome& one = Reference();
  std::mt19937 rng(11);
  std::vector<std::size_t> cuts;
  for (int i = 0; i < 40; ++i) cuts.push_back(1 + rng() % 1500);
  RunOutcome many = Play(dir_.Sub("many"), cuts, false);
  RunOutcome reopened = Play(dir_.Sub("reopen"), cuts, true);
  EXPECT_GT(one.ids.size(), 50u);
  EXPECT_EQ(one.ids, many.ids);
  EXPECT_EQ(one.ids, reopened.ids);
  EXPECT_EQ(one.hash, many.hash);
  EXPECT_EQ(one.hash, reopened.hash);
  EXPECT_EQ(one.next_offset, std::optional<std::int64_t>(evs_.size()));
  EXPECT_EQ(many.next_offset, reopened.next_offset);
  // Several kinds were decided, and expiries happened.
  std::map<DecisionKind, int> kinds;
  for (const auto& r : many.results) {
    for (const auto& d : r.decisions) ++kinds[d.kind];
  }
  EXPECT_GT(kinds[DecisionKind::kSuppress], 0);
  EXPECT_GT(kinds[DecisionKind::kPause], 0);
  EXPECT_GT(kinds[DecisionKind::kResume], 0);
  EXPECT_GT(kinds[DecisionKind::kAlert], 0);
  EXPECT_GT(kinds[DecisionKind::kLift], 0);
}

TEST_F(InvarianceTest, CrashBeforeCommitReplaysIdentically) {
  UsePrefix(8000);
  std::vector<std::size_t> cuts = {700, 1300, 400};
  const RunOutcome& clean = Reference();
  // Crashing run: every third batch is applied, dropped (engine destroyed) and re-applied.
  std::string dir = dir_.Sub("crash");
  auto engine = OpenAt(dir);
  std::vector<std::string> ids;
  std::size_t pos = 0, c = 0;
  while (pos < evs_.size()) {
    std::size_t n = std::min(cuts[c++ % cuts.size()], evs_.size() - pos);
    std::vector<Ev> part(evs_.begin() + static_cast<std::ptrdiff_t>(pos),
                         evs_.begin() + static_cast<std::ptrdiff_t>(pos + n));
    auto obs = Obs(part);
    if (c % 3 == 0) {
      auto lost = engine->Apply(3, obs, static_cast<std::int64_t>(pos + n));
      ASSERT_TRUE(lost);
      engine.reset();
      engine = OpenAt(dir);
    }
    auto r = engine->Apply(3, obs, static_cast<std::int64_t>(pos + n));
    ASSERT_TRUE(r);
    for (const auto& d : r->decisions) ids.push_back(d.decision_id);
    ASSERT_TRUE(engine->Commit(*r));
    pos += n;
  }
  EXPECT_EQ(ids, clean.ids);
  EXPECT_EQ(Hash(engine.get(), 3), clean.hash);
}

TEST_F(InvarianceTest, PipelinedApplyBeforeCommit) {
  UsePrefix(8000);
  std::vector<std::size_t> cuts = {900, 600};
  const RunOutcome& clean = Reference();
  auto engine = OpenAt(dir_.Sub("pipelined"));
  std::vector<std::string> ids;
  std::optional<BatchResult> prev;
  std::size_t pos = 0, c = 0;
  while (pos < evs_.size()) {
    std::size_t n = std::min(cuts[c++ % cuts.size()], evs_.size() - pos);
    std::vector<Ev> part(evs_.begin() + static_cast<std::ptrdiff_t>(pos),
                         evs_.begin() + static_cast<std::ptrdiff_t>(pos + n));
    auto obs = Obs(part);
    auto r = engine->Apply(3, obs, static_cast<std::int64_t>(pos + n));
    ASSERT_TRUE(r);
    for (const auto& d : r->decisions) ids.push_back(d.decision_id);
    if (prev) {
      ASSERT_TRUE(engine->Commit(*prev));
    }
    prev = std::move(*r);
    pos += n;
  }
  ASSERT_TRUE(engine->Commit(*prev));
  EXPECT_EQ(ids, clean.ids);
  EXPECT_EQ(Hash(engine.get(), 3), clean.hash);
}

void Feed(Restorer* r, const BatchResult& b, std::int64_t* offset, std::size_t limit = SIZE_MAX) {
  std::size_t n = 0;
  for (const auto& rec : b.changelog) {
    if (n++ == limit) break;
    std::optional<std::string_view> v;
    if (rec.value) v = *rec.value;
    auto a = r->Add((*offset)++, rec.key, v, b.batch_id);
    ASSERT_TRUE(a) << a.error();
  }
}

TEST_F(InvarianceTest, DeferredCheckpointsGiveSameState) {
  UsePrefix(8000);
  const RunOutcome& one = Reference();
  std::mt19937 rng(5);
  std::vector<std::size_t> cuts;
  for (int i = 0; i < 40; ++i) cuts.push_back(1 + rng() % 700);
  RunOutcome every = Play(dir_.Sub("every"), cuts, false);
  RunOutcome deferred = Play(dir_.Sub("deferred"), cuts, true, 4);
  EXPECT_EQ(one.ids, deferred.ids);
  EXPECT_EQ(one.hash, deferred.hash);
  EXPECT_EQ(one.next_offset, deferred.next_offset);
  std::size_t records_every = 0, records_deferred = 0, markers = 0;
  for (const auto& r : every.results) records_every += r.changelog.size();
  for (const auto& r : deferred.results) {
    records_deferred += r.changelog.size();
    if (!r.changelog.empty()) ++markers;
  }
  EXPECT_EQ(markers, (deferred.results.size() + 3) / 4);
  EXPECT_LT(records_deferred, records_every);  // hot keys written once per checkpoint
  // The changelog of the deferred run restores the same state.
  auto fresh = OpenAt(dir_.Sub("restored"));
  auto restorer = fresh->BeginRestore(3);
  std::int64_t off = 0;
  for (const auto& r : deferred.results) Feed(restorer.get(), r, &off);
  ASSERT_TRUE(restorer->Finish(off));
  EXPECT_EQ(Hash(fresh.get(), 3), one.hash);
  EXPECT_EQ(fresh->NextOffset(3), deferred.next_offset);
}

TEST_F(InvarianceTest, CrashInsideOpenCheckpointReplaysIdentically) {
  UsePrefix(6000);
  const RunOutcome& clean = Reference();
  std::string dir = dir_.Sub("crash");
  auto engine = OpenAt(dir);
  std::vector<std::string> ids;
  const std::size_t n = 500;
  std::size_t pos = 0;
  bool crashed = false;
  std::vector<std::string> pending_ids;  // decisions of the open checkpoint
  while (pos < evs_.size()) {
    std::size_t k = std::min(n, evs_.size() - pos);
    std::vector<Ev> part(evs_.begin() + static_cast<std::ptrdiff_t>(pos),
                         evs_.begin() + static_cast<std::ptrdiff_t>(pos + k));
    auto obs = Obs(part);
    const bool checkpoint = (pos / n) % 3 == 2 || pos + k == evs_.size();
    auto r = engine->Apply(3, obs, static_cast<std::int64_t>(pos + k), checkpoint);
    ASSERT_TRUE(r) << r.error();
    for (const auto& d : r->decisions) pending_ids.push_back(d.decision_id);
    ASSERT_TRUE(engine->Commit(*r));
    pos += k;
    if (!checkpoint && !crashed && pos >= 3000) {
      // Crash with the checkpoint open: restart from the committed offset.
      crashed = true;
      engine.reset();
      engine = OpenAt(dir);
      pos = static_cast<std::size_t>(engine->NextOffset(3).value_or(0));
      pending_ids.clear();
      continue;
    }
    if (checkpoint) {
      ids.insert(ids.end(), pending_ids.begin(), pending_ids.end());
      pending_ids.clear();
    }
  }
  EXPECT_TRUE(crashed);
  EXPECT_EQ(ids, clean.ids);
  EXPECT_EQ(Hash(engine.get(), 3), clean.hash);
}

TEST_F(InvarianceTest, RestoreFromChangelogGivesSameState) {
  UsePrefix(8000);
  std::vector<std::size_t> cuts = {1000, 250, 3000};
  // A run with a crash: its first attempt of batch 2 is published half, then dropped.
  std::string dir = dir_.Sub("run");
  RunOutcome run = Play(dir, cuts, false);
  EXPECT_EQ(run.hash, Reference().hash);
  auto fresh = OpenAt(dir_.Sub("restored"));
  EXPECT_FALSE(fresh->NextOffset(3).has_value());
  auto restorer = fresh->BeginRestore(3);
  std::int64_t off = 0;
  for (std::size_t i = 0; i < run.results.size(); ++i) {
    if (i == 2) {
      BatchResult half = run.results[i];
      half.batch_id = "dead-batch";
      Feed(restorer.get(), half, &off, half.changelog.size() / 2);  // no marker
    }
    Feed(restorer.get(), run.results[i], &off);
    if (i == 4) Feed(restorer.get(), run.results[i], &off);  // duplicated batch
  }
  auto done = restorer->Finish(off);
  ASSERT_TRUE(done) << done.error();
  EXPECT_GT(*done, 0);
  EXPECT_EQ(fresh->NextOffset(3), run.next_offset);
  EXPECT_EQ(Hash(fresh.get(), 3), run.hash);
  EXPECT_EQ(fresh->ChangelogStart(3), off);
  // And the restored state goes on like the original: same decisions for new events.
  auto original = OpenAt(dir);
  std::vector<Ev> more = RandomSequence(3000, 99);
  for (auto& e : more) {
    e.id += "more";
    e.t += 6 * kDayMs;
  }
  auto obs = Obs(more);
  auto a = original->Apply(3, obs, 30'000);
  auto b = fresh->Apply(3, obs, 30'000);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->decisions.size(), b->decisions.size());
  for (std::size_t i = 0; i < a->decisions.size(); ++i) {
    EXPECT_EQ(a->decisions[i].decision_id, b->decisions[i].decision_id);
  }
  ASSERT_TRUE(original->Commit(*a) && fresh->Commit(*b));
  EXPECT_EQ(Hash(original.get(), 3), Hash(fresh.get(), 3));
}

TEST_F(EngineTest, RestoreSkipsBatchesAlreadyLocal) {
  auto r1 = RunOn(engine_.get(), {E(Signal::kHardInvalid, kT0)});
  auto r2 = RunOn(engine_.get(), {E(Signal::kHardInvalid, kT0 + 1, "c@example.com")});
  const std::string before = Hash(engine_.get());
  auto restorer = engine_->BeginRestore(0);
  std::int64_t off = 0;
  Feed(restorer.get(), r1, &off);
  Feed(restorer.get(), r2, &off);
  auto done = restorer->Finish(off);
  ASSERT_TRUE(done);
  EXPECT_EQ(*done, 0);  // both batches already reflected
  EXPECT_EQ(Hash(engine_.get()), before);
  EXPECT_EQ(engine_->ChangelogStart(0), off);
}

TEST_F(EngineTest, ChangelogRecordsAndMarker) {
  auto r = RunOn(engine_.get(), {E(Signal::kHardInvalid, kT0)});
  ASSERT_FALSE(r.changelog.empty());
  const ChangelogRecord& m = r.changelog.back();
  EXPECT_EQ(m.key[0], 'm');
  EXPECT_EQ(m.key.substr(5), r.batch_id);
  ASSERT_TRUE(m.value.has_value());
  std::map<char, int> types;
  for (const auto& rec : r.changelog) ++types[rec.key[0]];
  // recipient, domain, sender_domain, ip_vendor (sender_recipient: EndUserBlock events only)
  EXPECT_EQ(types['w'], 4);
  EXPECT_EQ(types['d'], 1);
  EXPECT_EQ(types['u'], 0);  // the event id is in the recipient window
  EXPECT_EQ(types['m'], 1);
  auto r2 = RunOn(engine_.get(), {E(Signal::kTransient, kT0 + 1)});
  EXPECT_NE(r.batch_id, r2.batch_id);
  engine_->SetChangelogPosition(0, 42);
  Open();
  EXPECT_EQ(engine_->ChangelogStart(0), 42);
  EXPECT_EQ(engine_->ChangelogStart(1), 0);
  EXPECT_EQ(engine_->NextOffset(0), std::optional<std::int64_t>(2));
  EXPECT_FALSE(engine_->NextOffset(1).has_value());
}

TEST_F(EngineTest, CommitOutOfOrderAndAfterForgetFail) {
  std::vector<Ev> evs_5 = {E(Signal::kTransient, kT0)};
  auto o1 = Obs(evs_5);
  std::vector<Ev> evs_6 = {E(Signal::kTransient, kT0 + 1)};
  auto o2 = Obs(evs_6);
  auto a = engine_->Apply(0, o1, 1);
  auto b = engine_->Apply(0, o2, 2);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(engine_->Commit(*b));
  EXPECT_TRUE(engine_->Commit(*a));
  EXPECT_TRUE(engine_->Commit(*b));
  auto c = engine_->Apply(0, o2, 3);
  ASSERT_TRUE(c);
  engine_->Forget(0);
  EXPECT_FALSE(engine_->Commit(*c));
  EXPECT_EQ(engine_->NextOffset(0), std::optional<std::int64_t>(2));
}

TEST_F(EngineTest, DeferredApplyCommitsNothingUntilCheckpoint) {
  std::vector<Ev> a = {E(Signal::kHardInvalid, kT0), E(Signal::kTransient, kT0 + 1)};
  std::vector<Ev> b = {E(Signal::kTransient, kT0 + 2)};
  auto oa = Obs(a);
  auto ob = Obs(b);
  auto r1 = engine_->Apply(0, oa, 2, false);
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->decisions.size(), 1u);  // decisions at once
  EXPECT_TRUE(r1->changelog.empty());
  EXPECT_TRUE(engine_->Commit(*r1));
  EXPECT_FALSE(engine_->NextOffset(0).has_value());  // nothing written
  EXPECT_EQ(engine_->Query("acme", "bob@example.com").size(), 1u);  // in memory
  std::vector<std::int32_t> none;
  EXPECT_FALSE(engine_->Lift(r1->decisions[0].decision_id, "", none));  // checkpoint open
  EXPECT_FALSE(engine_->Import(0, {}));
  auto r2 = engine_->Apply(0, ob, 3, true);
  ASSERT_TRUE(r2);
  std::map<char, int> types;
  for (const auto& rec : r2->changelog) ++types[rec.key[0]];
  EXPECT_EQ(types['d'], 1);  // the decision of the first call
  EXPECT_EQ(types['u'], 0);  // the ids are in the recipient window
  EXPECT_EQ(types['m'], 1);
  EXPECT_EQ(types['w'], 4);  // the same four keys, once
  ASSERT_TRUE(engine_->Commit(*r2));
  EXPECT_EQ(engine_->NextOffset(0), std::optional<std::int64_t>(3));
  auto lifted = engine_->Lift(r1->decisions[0].decision_id, "", none);
  ASSERT_TRUE(lifted);
  EXPECT_EQ(lifted->size(), 1u);
}

TEST_F(EngineTest, OperatorLift) {
  auto ds = Run({E(Signal::kHardInvalid, kT0)});
  ASSERT_EQ(ds.size(), 1u);
  clock_.Set(kT0 + 5000);
  std::vector<std::int32_t> none;
  auto lifted = engine_->Lift(ds[0].decision_id, "customer asked", none);
  ASSERT_TRUE(lifted);
  ASSERT_EQ(lifted->size(), 1u);
  BatchResult& r = (*lifted)[0];
  EXPECT_EQ(r.next_offset, -1);
  ASSERT_EQ(r.decisions.size(), 1u);
  EXPECT_EQ(r.decisions[0].kind, DecisionKind::kLift);
  EXPECT_EQ(r.decisions[0].origin, "operator");
  EXPECT_EQ(r.decisions[0].note, "customer asked");
  EXPECT_EQ(r.decisions[0].decided_at_ms, kT0 + 5000);
  EXPECT_EQ(RecordKey(r.decisions[0]), RecordKey(ds[0]));
  ASSERT_FALSE(r.changelog.empty());
  EXPECT_EQ(r.changelog.back().key[0], 'm');
  ASSERT_TRUE(engine_->Commit(r));
  EXPECT_TRUE(engine_->Query("acme", "bob@example.com").empty());
  EXPECT_EQ(engine_->NextOffset(0), std::optional<std::int64_t>(1));
  auto again = engine_->Lift(ds[0].decision_id, "", none);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  // A new hard bounce suppresses again.
  EXPECT_EQ(Run({E(Signal::kHardInvalid, kT0 + 10)}).size(), 1u);
}

TEST_F(EngineTest, EraseRemovesRecipient) {
  const Ev bob_hard = E(Signal::kHardInvalid, kT0);
  const Ev other_hard = E(Signal::kHardInvalid, kT0 + 2, "other@example.com");
  Run({bob_hard, E(Signal::kEndUserBlock, kT0 + 1), other_hard});
  ASSERT_EQ(engine_->Query("acme", "bob@example.com").size(), 2u);
  auto before = engine_->Summaries();
  ASSERT_EQ(before.size(), 1u);
  std::vector<std::int32_t> none;
  auto erased = engine_->Erase("acme", "bob@example.com", none);
  ASSERT_TRUE(erased);
  ASSERT_EQ(erased->size(), 1u);
  BatchResult& r = (*erased)[0];
  ASSERT_EQ(r.decisions.size(), 2u);
  for (const auto& d : r.decisions) {
    EXPECT_EQ(d.kind, DecisionKind::kLift);
    EXPECT_EQ(d.origin, "erase");
    EXPECT_EQ(d.evidence.example, "");
    EXPECT_EQ(d.domain, "");
    std::string json;
    EncodeJson(d, &json);
    std::size_t n = 0;
    for (auto pos = json.find("example.com"); pos != std::string::npos;
         pos = json.find("example.com", pos + 1)) {
      ++n;
    }
    EXPECT_EQ(n, 1u) << json;  // only in the recipient field
    EXPECT_NE(json.find("\"recipient\":\"bob@example.com\""), std::string::npos) << json;
  }
  int tombstones = 0;
  for (const auto& rec : r.changelog) {
    if (rec.key[0] == 'w' && !rec.value) ++tombstones;
    EXPECT_NE(rec.key[0], 'u');  // bob's event ids were in his recipient window
  }
  EXPECT_EQ(tombstones, 2);  // recipient and sender_recipient windows
  ASSERT_TRUE(engine_->Commit(r));
  EXPECT_TRUE(engine_->Query("acme", "bob@example.com").empty());
  EXPECT_EQ(engine_->Query("acme", "other@example.com").size(), 1u);
  auto after = engine_->Summaries();
  EXPECT_NE(after[0].hash, before[0].hash);
  EXPECT_EQ(after[0].window_keys, before[0].window_keys - 2);
  EXPECT_EQ(after[0].active_decisions, 1);
  // Bob's event ids are forgotten too (a re-delivery counts again); other's are not.
  BatchResult again_bob = RunOn(engine_.get(), {bob_hard, other_hard});
  EXPECT_EQ(again_bob.stats.applied, 1);
  EXPECT_EQ(again_bob.stats.duplicates, 1);
  ASSERT_EQ(engine_->Query("acme", "bob@example.com").size(), 1u);
  auto erased2 = engine_->Erase("acme", "bob@example.com", none);
  ASSERT_TRUE(erased2);
  ASSERT_EQ(erased2->size(), 1u);
  ASSERT_TRUE(engine_->Commit((*erased2)[0]));
  auto again = engine_->Erase("", "bob@example.com", none);
  ASSERT_TRUE(again);
  EXPECT_TRUE(again->empty());
  auto other = engine_->Erase("", "other@example.com", none);
  ASSERT_TRUE(other);
  ASSERT_EQ(other->size(), 1u);
  ASSERT_TRUE(engine_->Commit((*other)[0]));
  EXPECT_TRUE(engine_->Query("acme", "other@example.com").empty());
}

TEST_F(EngineTest, ImportSkipsExisting) {
  Run({E(Signal::kHardInvalid, kT0)});
  Decision a;
  a.kind = DecisionKind::kSuppress;
  a.scope = Scope::kTenant;
  a.tenant = "acme";
  a.recipient = "bob@example.com";  // already suppressed
  Decision b = a;
  b.recipient = "new@example.com";
  b.reason = "imported";
  clock_.Set(kT0 + 77);
  std::vector<Decision> in = {a, b, b};
  auto r = engine_->Import(0, in);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->decisions.size(), 1u);
  EXPECT_EQ(r->decisions[0].origin, "import");
  EXPECT_EQ(r->decisions[0].recipient, "new@example.com");
  EXPECT_EQ(r->decisions[0].decided_at_ms, kT0 + 77);
  EXPECT_EQ(r->decisions[0].decision_id.size(), 16u);
  ASSERT_TRUE(engine_->Commit(*r));
  EXPECT_EQ(engine_->Query("acme", "new@example.com").size(), 1u);
  // Imported suppressions hold: a hard bounce does not re-decide.
  EXPECT_TRUE(Run({E(Signal::kHardInvalid, kT0 + 100, "new@example.com")}).empty());
  int n = 0;
  engine_->ForEachActive([&n](std::int32_t, const Decision&) { return ++n < 100; });
  EXPECT_EQ(n, 2);
}

TEST_F(EngineTest, ReadOnlyOpen) {
  Run({E(Signal::kHardInvalid, kT0)});
  std::string hash = Hash(engine_.get());
  engine_.reset();
  EngineOptions o = Options(dir_.Sub("db"));
  o.read_only = true;
  auto ro = Engine::Open(o);
  ASSERT_TRUE(ro) << ro.error();
  EXPECT_EQ(Hash(ro->get()), hash);
  EXPECT_EQ((*ro)->Query("acme", "bob@example.com").size(), 1u);
  std::vector<Ev> evs_7 = {E(Signal::kHardInvalid, kT0)};
  auto obs = Obs(evs_7);
  EXPECT_FALSE((*ro)->Apply(0, obs, 5));
  EngineOptions missing = Options(dir_.Sub("nope"));
  missing.read_only = true;
  EXPECT_FALSE(Engine::Open(missing));
  EngineOptions no_clock = Options(dir_.Sub("x"));
  no_clock.clock = nullptr;
  EXPECT_FALSE(Engine::Open(no_clock));
}

TEST_F(EngineTest, HashedRecipients) {
  Ev e = E(Signal::kHardInvalid, kT0, "h:0123456789abcdef");
  e.hashed = true;
  auto ds = Run({e});
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_TRUE(ds[0].recipient_is_hash);
  std::string json;
  EncodeJson(ds[0], &json);
  EXPECT_NE(json.find("\"recipient_hash\":\"h:0123456789abcdef\""), std::string::npos);
  EXPECT_EQ(json.find("\"recipient\":"), std::string::npos);
}

}  // namespace
}  // namespace bouncestream::state
