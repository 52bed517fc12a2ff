// The state engine's memory bounds (EngineOptions hot_cache_bytes, write_buffer_bytes,
// block_cache_bytes) and their accounting in StoreStats: many distinct keys must not grow the
// state's memory beyond what is configured, and eviction must never change a result.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "state/engine.h"
#include "tests/state/test_util.h"

namespace bouncestream::state {
namespace {

using testing::Ev;
using testing::kT0;
using testing::Obs;
using testing::PartitionHash;
using testing::TempDir;

// Events over many distinct recipients, senders, domains and IPs (every event creates new window
// keys; a share of them decisions), event time advancing 1 s per event.
std::vector<Ev> DistinctKeys(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  const Signal sigs[] = {Signal::kHardInvalid, Signal::kSoft,          Signal::kSoft,
                         Signal::kAdminBlock,  Signal::kPlatformBlock, Signal::kSenderConfig,
                         Signal::kEndUserBlock, Signal::kDelivered,    Signal::kTransient};
  std::vector<Ev> evs;
  evs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    Ev e;
    e.id = "mem-" + std::to_string(seed) + "-" + std::to_string(i);
    e.t = kT0 + static_cast<std::int64_t>(i) * 1000;
    e.signal = sigs[rng() % std::size(sigs)];
    e.tenant = "t" + std::to_string(rng() % 8);
    e.sender = "s" + std::to_string(rng() % 2000) + "@" + e.tenant + ".example";
    e.domain = "d" + std::to_string(rng() % 5000) + ".example";
    e.recipient = "r" + std::to_string(i) + "@" + e.domain;  // every recipient new
    e.ip = "10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + ".1";
    e.vendor = rng() % 2 == 0 ? "mimecast" : "microsoft";
    e.reason = rng() % 2 == 0 ? "blocked" : "filtered";
    e.reason_code = static_cast<std::uint8_t>(rng() % 64);
    e.text = "550 5.1.1 no such user, reply " + std::to_string(i);
    evs.push_back(std::move(e));
  }
  return evs;
}

class MemoryTest : public ::testing::Test {
 protected:
  EngineOptions Options(const std::string& dir) {
    EngineOptions o;
    o.dir = dir;
    o.clock = &clock_;
    o.block_cache_bytes = 2u << 20;
    o.write_buffer_bytes = 2u << 20;
    o.hot_cache_bytes = 4u << 20;  // a batch of 500 new events takes ~1 MiB
    return o;
  }
  std::unique_ptr<Engine> OpenWith(const EngineOptions& o) {
    auto e = Engine::Open(o);
    EXPECT_TRUE(e.has_value()) << e.error();
    return e ? std::move(*e) : nullptr;
  }

  FakeClock clock_{kT0};
  TempDir dir_;
};

// 30,000 events, ~130,000 distinct window keys, in batches of 500 on two partitions: after every
// Commit the hot cache is within hot_cache_bytes; memtables stay near write_buffer_bytes and the
// block cache near its capacity instead of growing with the data. The accounting is not a
// stub: without a bound it reports at least the keys' bytes.
TEST_F(MemoryTest, ManyDistinctKeysStayWithinTheConfiguredBounds) {
  const EngineOptions o = Options(dir_.Sub("bounded"));
  auto engine = OpenWith(o);
  ASSERT_NE(engine, nullptr);
  const std::vector<Ev> evs = DistinctKeys(30'000, 1);
  std::int64_t offsets[2] = {0, 0};
  std::int64_t max_hot = 0, max_memtables = 0, max_cache = 0, max_memory = 0;
  std::size_t key_bytes = 0;
  for (std::size_t pos = 0; pos < evs.size(); pos += 500) {
    const std::int32_t partition = static_cast<std::int32_t>((pos / 500) % 2);
    std::vector<Ev> part(evs.begin() + static_cast<std::ptrdiff_t>(pos),
                         evs.begin() + static_cast<std::ptrdiff_t>(std::min(pos + 500, evs.size())));
    for (const Ev& e : part) key_bytes += e.recipient.size();
    auto obs = Obs(part);
    offsets[partition] += static_cast<std::int64_t>(part.size());
    auto r = engine->Apply(partition, obs, offsets[partition]);
    ASSERT_TRUE(r.has_value()) << r.error();
    ASSERT_TRUE(engine->Commit(*r).has_value());
    const StoreStats st = engine->Stats();
    ASSERT_LE(st.hot_cache_bytes, static_cast<std::int64_t>(o.hot_cache_bytes)) << "after " << pos;
    max_hot = std::max(max_hot, st.hot_cache_bytes);
    max_memtables = std::max(max_memtables, st.memtable_bytes);
    max_cache = std::max(max_cache, st.block_cache_usage);
    max_memory = std::max(max_memory, st.memory_bytes);
    EXPECT_EQ(st.memory_bytes, st.hot_cache_bytes + st.block_cache_usage + st.table_readers_bytes);
  }
  // The cache was used up to its bound (eviction keeps 3/4 of it at least).
  EXPECT_GE(max_hot, static_cast<std::int64_t>(o.hot_cache_bytes / 2));
  // One WriteBufferManager for all column families: without it the six families' memtables
  // (windows alone 1 MiB + its bloom filter before the first flush) would hold most of the
  // ~20 MiB written. A flush in progress may hold one more buffer.
  EXPECT_LE(max_memtables, static_cast<std::int64_t>(3 * o.write_buffer_bytes));
  // Index and filter blocks are charged to the cache; the cache holds blocks + the memtables'
  // reservation, within its capacity (with slack for entries pinned while in use).
  EXPECT_LE(max_cache, static_cast<std::int64_t>(2 * (o.block_cache_bytes + o.write_buffer_bytes)));
  EXPECT_LE(max_memory, static_cast<std::int64_t>(
                            o.hot_cache_bytes + 2 * (o.block_cache_bytes + o.write_buffer_bytes) +
                            (1u << 20)));

  // The same events with a large bound: nothing is evicted, and the accounting reports at least
  // the recipients' bytes of every recipient and sender_recipient key (the smallest window value
  // costs more than its key).
  EngineOptions big = Options(dir_.Sub("unbounded"));
  big.hot_cache_bytes = std::size_t{1} << 40;
  big.hot_window_entries = 1'000'000'000;
  auto unbounded = OpenWith(big);
  ASSERT_NE(unbounded, nullptr);
  auto obs = Obs(evs);
  auto r = unbounded->Apply(0, obs, static_cast<std::int64_t>(evs.size()));
  ASSERT_TRUE(r.has_value()) << r.error();
  ASSERT_TRUE(unbounded->Commit(*r).has_value());
  const StoreStats st = unbounded->Stats();
  EXPECT_GE(st.hot_cache_bytes, static_cast<std::int64_t>(2 * key_bytes));
  EXPECT_GT(st.hot_cache_bytes, 8 * static_cast<std::int64_t>(o.hot_cache_bytes));
  // Forget drops a partition's values and their bytes.
  unbounded->Forget(0);
  EXPECT_EQ(unbounded->Stats().hot_cache_bytes, 0);
}

// Eviction (a hot cache far smaller than the working set, an entry bound too) changes nothing:
// the same decisions (ids) and the same state hash as with everything kept in memory, also with
// deferred checkpoints and a reopen in between.
TEST_F(MemoryTest, EvictionNeverChangesResults) {
  const std::vector<Ev> evs = DistinctKeys(12'000, 2);
  auto play = [&](EngineOptions o, std::size_t batch, std::size_t checkpoint_every,
                  bool reopen) {
    std::vector<std::string> ids;
    auto engine = OpenWith(o);
    std::size_t c = 0;
    for (std::size_t pos = 0; pos < evs.size(); pos += batch) {
      const std::size_t end = std::min(pos + batch, evs.size());
      std::vector<Ev> part(evs.begin() + static_cast<std::ptrdiff_t>(pos),
                           evs.begin() + static_cast<std::ptrdiff_t>(end));
      auto obs = Obs(part);
      const bool checkpoint = ++c % checkpoint_every == 0 || end == evs.size();
      auto r = engine->Apply(5, obs, static_cast<std::int64_t>(end), checkpoint);
      EXPECT_TRUE(r.has_value()) << r.error();
      if (!r) return std::make_pair(ids, std::string("failed"));
      for (const auto& d : r->decisions) ids.push_back(d.decision_id);
      EXPECT_TRUE(engine->Commit(*r).has_value());
      if (reopen && checkpoint && c % 5 == 0) {
        engine.reset();
        engine = OpenWith(o);
      }
    }
    return std::make_pair(ids, PartitionHash(engine.get(), 5));
  };
  EngineOptions big = Options(dir_.Sub("big"));
  big.hot_cache_bytes = std::size_t{1} << 40;
  const auto reference = play(big, evs.size(), 1, false);
  EngineOptions tiny = Options(dir_.Sub("tiny"));
  tiny.hot_cache_bytes = 64u << 10;
  tiny.hot_window_entries = 100;
  const auto evicted = play(tiny, 300, 1, false);
  EngineOptions tiny_deferred = tiny;
  tiny_deferred.dir = dir_.Sub("tiny-deferred");
  const auto deferred = play(tiny_deferred, 250, 3, true);
  EXPECT_GT(reference.first.size(), 100u);
  EXPECT_EQ(reference.first, evicted.first);
  EXPECT_EQ(reference.second, evicted.second);
  EXPECT_EQ(reference.first, deferred.first);
  EXPECT_EQ(reference.second, deferred.second);
}

}  // namespace
}  // namespace bouncestream::state
