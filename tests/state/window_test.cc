#include "state/internal/window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace bouncestream::state::internal {
namespace {

constexpr std::int64_t kT0 = 1'790'000'000'000;

std::vector<WindowEvent> RandomEvents(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<WindowEvent> out;
  static const char* kTags[] = {"", "zen", "spamcop"};
  for (std::size_t i = 0; i < n; ++i) {
    WindowEvent e;
    e.time_ms = kT0 + static_cast<std::int64_t>(rng() % (12 * kDayMs));
    e.counter = CounterIndex(static_cast<Signal>(rng() % kSignalCount),
                             static_cast<std::uint8_t>(rng() % 64));
    e.add_hash = rng() % 3 == 0;
    e.hash = rng() % 200;
    e.soft = rng() % 4 == 0;
    e.reset = rng() % 20 == 0;
    e.tag = kTags[rng() % 3];
    out.push_back(e);
  }
  return out;
}

std::string Enc(const Window& w) {
  std::string s;
  EncodeWindow(w, &s);
  return s;
}

TEST(WindowTest, MergeIsOrderAndGroupingIndependent) {
  const WindowSpec spec{kHourMs, 3 * kDayMs};
  auto evs = RandomEvents(3000, 1);
  Window sequential;
  for (const auto& e : evs) AddEvent(&sequential, spec, e);
  // Shuffled, in groups, groups merged in another order.
  std::mt19937 rng(2);
  for (int round = 0; round < 5; ++round) {
    auto shuffled = evs;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    std::vector<Window> groups(1 + rng() % 20);
    for (const auto& e : shuffled) AddEvent(&groups[rng() % groups.size()], spec, e);
    std::shuffle(groups.begin(), groups.end(), rng);
    Window merged;
    for (const auto& g : groups) MergeWindow(&merged, g, spec);
    EXPECT_EQ(Enc(merged), Enc(sequential)) << "round " << round;
  }
}

TEST(WindowTest, EncodeDecodeRoundTrip) {
  const WindowSpec spec{kDayMs, 8 * kDayMs};
  Window w;
  for (const auto& e : RandomEvents(500, 3)) AddEvent(&w, spec, e);
  std::string s = Enc(w);
  Window back;
  ASSERT_TRUE(DecodeWindow(s, &back));
  EXPECT_EQ(Enc(back), s);
  EXPECT_FALSE(DecodeWindow(s.substr(0, s.size() - 1), &back));
  EXPECT_FALSE(DecodeWindow("", &back));
}

TEST(WindowTest, OldBucketsDroppedRelativeToNewest) {
  const WindowSpec spec{kHourMs, 2 * kHourMs};
  Window w;
  AddEvent(&w, spec, {kT0, CounterIndex(Signal::kSoft, 1), false, 0, true, false, ""});
  AddEvent(&w, spec,
           {kT0 + 5 * kHourMs, CounterIndex(Signal::kSoft, 1), false, 0, true, false, ""});
  EXPECT_EQ(w.buckets.size(), 1u);
  EXPECT_EQ(w.soft_times.size(), 1u);
  // A late event older than the retention is dropped at once.
  AddEvent(&w, spec, {kT0, CounterIndex(Signal::kSoft, 1), false, 0, false, false, ""});
  EXPECT_EQ(w.buckets.size(), 1u);
}

TEST(WindowTest, CountsAndDistinct) {
  const WindowSpec spec{kHourMs, 25 * kHourMs};
  Window w;
  for (int i = 0; i < 100; ++i) {
    AddEvent(&w, spec,
             {kT0 + i * kMinuteMs, CounterIndex(Signal::kAdminBlock, static_cast<std::uint8_t>(i)),
              true, static_cast<std::uint64_t>(i % 7) * 0x1234567890ull, false, false, ""});
  }
  Tally t = CountSignal(w, spec, Signal::kAdminBlock, kT0 + 100 * kMinuteMs, kDayMs);
  EXPECT_EQ(t.count, 100);
  EXPECT_EQ(t.first_seen, kT0);
  EXPECT_EQ(CountSignal(w, spec, Signal::kSoft, kT0 + 100 * kMinuteMs, kDayMs).count, 0);
  EXPECT_EQ(DistinctHashes(w, spec, kT0 + 100 * kMinuteMs, kDayMs).count, 7);
  // Many distinct: KMV estimate stays in the right range.
  Window big;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 5000; ++i) {
    AddEvent(&big, spec, {kT0, CounterIndex(Signal::kAdminBlock, 0), true, rng(), false, false, ""});
  }
  auto est = DistinctHashes(big, spec, kT0, kDayMs).count;
  EXPECT_GT(est, 3000);
  EXPECT_LT(est, 8000);
}

TEST(WindowTest, LiveEncodingIgnoresExpiredBuckets) {
  const WindowSpec spec{kHourMs, 2 * kHourMs};
  Window a, b;
  AddEvent(&a, spec, {kT0, CounterIndex(Signal::kOther, 0), false, 0, false, false, ""});
  AddEvent(&a, spec,
           {kT0 + 2 * kHourMs, CounterIndex(Signal::kOther, 0), false, 0, false, false, ""});
  AddEvent(&b, spec,
           {kT0 + 2 * kHourMs, CounterIndex(Signal::kOther, 0), false, 0, false, false, ""});
  std::string la, lb;
  ASSERT_TRUE(EncodeLive(a, spec, kT0 + 4 * kHourMs, &la));
  ASSERT_TRUE(EncodeLive(b, spec, kT0 + 4 * kHourMs, &lb));
  EXPECT_EQ(la, lb);
  EXPECT_NE(Enc(a), Enc(b));
  std::string none;
  EXPECT_FALSE(EncodeLive(a, spec, kT0 + 10 * kHourMs, &none));
  EXPECT_FALSE(PhysicallyExpired(Enc(a), spec, kT0 + 10 * kHourMs, 7 * kDayMs));
  EXPECT_TRUE(PhysicallyExpired(Enc(a), spec, kT0 + 8 * kDayMs, 7 * kDayMs));
}

Window WithoutIds(Window w) {
  w.ids.clear();
  w.spilled_ms = kNotSpilled;
  return w;
}

TEST(WindowTest, IdsRoundTripCountAsLiveAndKeepTheValue) {
  WindowSpec spec{kDayMs, 2 * kDayMs};
  spec.ids_horizon_ms = 3 * kDayMs;
  Window w;
  AddEvent(&w, spec, {kT0, CounterIndex(Signal::kHardInvalid, 0), false, 0, false, false, ""});
  const std::string without_ids = Enc(w);
  EXPECT_EQ(without_ids[0], 1);  // format 1: no ids section
  w.ids = {{"a", kT0}, {"b", kT0 + 5}};
  w.spilled_ms = kT0 - 10;
  const std::string with_ids = Enc(w);
  EXPECT_EQ(with_ids[0], 2);
  Window back;
  ASSERT_TRUE(DecodeWindow(with_ids, &back));
  EXPECT_EQ(Enc(back), with_ids);
  ASSERT_EQ(back.ids.size(), 2u);
  EXPECT_EQ(back.ids[1].id, "b");
  EXPECT_EQ(back.spilled_ms, kT0 - 10);
  EXPECT_FALSE(DecodeWindow(with_ids.substr(0, with_ids.size() - 1), &back));
  ASSERT_TRUE(DecodeWindow(without_ids, &back));  // the earlier format still reads
  EXPECT_TRUE(back.ids.empty());
  EXPECT_EQ(back.spilled_ms, kNotSpilled);
  // Unsorted ids are rejected.
  Window bad = w;
  std::swap(bad.ids[0], bad.ids[1]);
  EXPECT_FALSE(DecodeWindow(Enc(bad), &back));

  // 3 days later the bucket is past its retention, id "b" is still within its horizon: the
  // value is live and must not be dropped by compaction.
  const std::int64_t later = kT0 + 3 * kDayMs + 2;
  std::string live, none;
  EXPECT_TRUE(EncodeLive(w, spec, later, &live));
  EXPECT_FALSE(EncodeLive(WithoutIds(w), spec, later, &none));
  EXPECT_FALSE(PhysicallyExpired(with_ids, spec, later, 0));
  EXPECT_TRUE(PhysicallyExpired(without_ids, spec, later, 0));
  // Past the horizon the ids and the spill mark are no longer part of the live value.
  std::string a, b;
  ASSERT_TRUE(EncodeLive(w, spec, kT0 + kDayMs + 6, &a));
  w.ids.erase(w.ids.begin());  // "a" (kT0) is past the horizon at kT0 + 3 days + 1
  ASSERT_TRUE(EncodeLive(w, spec, kT0 + kDayMs + 6, &b));
  EXPECT_NE(a, b);  // within the horizon every id counts
  a.clear();
  b.clear();
  ASSERT_TRUE(EncodeLive(w, spec, kT0 + 3 * kDayMs + 1, &a));
  w.ids.insert(w.ids.begin(), SeenId{"a", kT0});
  ASSERT_TRUE(EncodeLive(w, spec, kT0 + 3 * kDayMs + 1, &b));
  EXPECT_EQ(a, b);
  EXPECT_TRUE(PhysicallyExpired(with_ids, spec, kT0 + 10 * kDayMs, kDayMs));

  // Merge: the union, the larger time of an id in both.
  Window x, y;
  x.ids = {{"a", 1}, {"c", 5}};
  y.ids = {{"a", 3}, {"b", 2}};
  y.spilled_ms = 7;
  MergeWindow(&x, y, spec);
  ASSERT_EQ(x.ids.size(), 3u);
  EXPECT_EQ(x.ids[0].seen_ms, 3);
  EXPECT_EQ(x.ids[1].id, "b");
  EXPECT_EQ(x.spilled_ms, 7);
}

}  // namespace
}  // namespace bouncestream::state::internal
