#include "state/internal/window.h"

#include <algorithm>
#include <limits>

#include "state/internal/codec.h"

namespace bouncestream::state::internal {
namespace {

constexpr std::uint8_t kFormat = 1;         // no ids section
constexpr std::uint8_t kFormatWithIds = 2;  // + ids section (recipient windows)

std::int64_t FloorTo(std::int64_t t, std::int64_t width) {
  std::int64_t q = t / width;
  if (t % width != 0 && t < 0) --q;
  return q * width;
}

void MergeCounters(std::vector<std::pair<std::uint16_t, std::uint32_t>>* a,
                   const std::vector<std::pair<std::uint16_t, std::uint32_t>>& b) {
  if (b.empty()) return;
  std::vector<std::pair<std::uint16_t, std::uint32_t>> out;
  out.reserve(a->size() + b.size());
  std::size_t i = 0, j = 0;
  while (i < a->size() || j < b.size()) {
    if (j == b.size() || (i < a->size() && (*a)[i].first < b[j].first)) {
      out.push_back((*a)[i++]);
    } else if (i == a->size() || b[j].first < (*a)[i].first) {
      out.push_back(b[j++]);
    } else {
      out.emplace_back((*a)[i].first, (*a)[i].second + b[j].second);
      ++i;
      ++j;
    }
  }
  *a = std::move(out);
}

void MergeHashes(std::vector<std::uint64_t>* a, const std::vector<std::uint64_t>& b) {
  if (b.empty()) return;
  std::vector<std::uint64_t> out;
  out.reserve(std::min(a->size() + b.size(), kKmvSize));
  std::set_union(a->begin(), a->end(), b.begin(), b.end(), std::back_inserter(out));
  if (out.size() > kKmvSize) out.resize(kKmvSize);
  *a = std::move(out);
}

void MergeBucket(Bucket* a, const Bucket& b) {
  a->first_seen = std::min(a->first_seen, b.first_seen);
  a->last_seen = std::max(a->last_seen, b.last_seen);
  MergeCounters(&a->counters, b.counters);
  MergeHashes(&a->hashes, b.hashes);
}

void TrimSoft(std::vector<std::int64_t>* v) {
  if (v->size() > kSoftTimes) v->erase(v->begin(), v->end() - kSoftTimes);
}

// Drops everything older than newest bucket start - retention.
void Prune(Window* w, const WindowSpec& spec) {
  if (w->buckets.empty()) return;
  std::int64_t cutoff = w->buckets.back().start - spec.retention_ms;
  auto it = std::find_if(w->buckets.begin(), w->buckets.end(),
                         [cutoff](const Bucket& b) { return b.start >= cutoff; });
  w->buckets.erase(w->buckets.begin(), it);
  auto st = std::lower_bound(w->soft_times.begin(), w->soft_times.end(), cutoff);
  w->soft_times.erase(w->soft_times.begin(), st);
  if (w->reset_ms < cutoff) w->reset_ms = 0;
  if (w->tag_ms < cutoff) {
    w->tag_ms = 0;
    w->tag.clear();
  }
}

bool TagWins(std::int64_t t1, std::string_view s1, std::int64_t t0, std::string_view s0) {
  return t1 > t0 || (t1 == t0 && s1 > s0);
}

bool Overlaps(const Bucket& b, const WindowSpec& spec, std::int64_t now, std::int64_t window) {
  return b.start <= now && b.start + spec.width_ms > now - window;
}

// Ids (and the spill mark) seen at or after `ids_from` are encoded.
void EncodeParts(const Window& w, std::size_t first_bucket, std::size_t first_soft,
                 std::int64_t reset, bool with_tag, std::int64_t ids_from, std::string* out) {
  std::size_t nids = 0, id_bytes = 0;
  for (const SeenId& s : w.ids) {
    if (s.seen_ms < ids_from) continue;
    ++nids;
    id_bytes += 1 + s.id.size() + 8;
  }
  const bool spilled = w.spilled_ms != kNotSpilled && w.spilled_ms >= ids_from;
  const bool with_ids = nids > 0 || spilled;
  {  // one allocation: the exact encoded size
    std::size_t n = 1 + 8 + 8 + 1 + (with_tag ? w.tag.size() : 0) + 1 +
                    8 * (w.soft_times.size() - first_soft) + 2;
    for (std::size_t i = first_bucket; i < w.buckets.size(); ++i) {
      n += 8 * 3 + 2 + 6 * w.buckets[i].counters.size() + 1 + 8 * w.buckets[i].hashes.size();
    }
    if (with_ids) n += 1 + id_bytes + 8;
    out->reserve(out->size() + n);
  }
  out->push_back(static_cast<char>(with_ids ? kFormatWithIds : kFormat));
  PutFixed<std::int64_t>(out, reset);
  PutFixed<std::int64_t>(out, with_tag ? w.tag_ms : 0);
  std::string_view tag = with_tag ? std::string_view(w.tag) : std::string_view();
  out->push_back(static_cast<char>(tag.size()));
  out->append(tag);
  auto nsoft = static_cast<std::uint8_t>(w.soft_times.size() - first_soft);
  out->push_back(static_cast<char>(nsoft));
  for (std::size_t i = first_soft; i < w.soft_times.size(); ++i) {
    PutFixed<std::int64_t>(out, w.soft_times[i]);
  }
  PutFixed<std::uint16_t>(out, static_cast<std::uint16_t>(w.buckets.size() - first_bucket));
  for (std::size_t i = first_bucket; i < w.buckets.size(); ++i) {
    const Bucket& b = w.buckets[i];
    PutFixed<std::int64_t>(out, b.start);
    PutFixed<std::int64_t>(out, b.first_seen);
    PutFixed<std::int64_t>(out, b.last_seen);
    PutFixed<std::uint16_t>(out, static_cast<std::uint16_t>(b.counters.size()));
    for (const auto& [idx, n] : b.counters) {
      PutFixed<std::uint16_t>(out, idx);
      PutFixed<std::uint32_t>(out, n);
    }
    out->push_back(static_cast<char>(b.hashes.size()));
    for (std::uint64_t h : b.hashes) PutFixed<std::uint64_t>(out, h);
  }
  if (!with_ids) return;
  out->push_back(static_cast<char>(nids));
  for (const SeenId& s : w.ids) {
    if (s.seen_ms < ids_from) continue;
    out->push_back(static_cast<char>(s.id.size()));
    out->append(s.id);
    PutFixed<std::int64_t>(out, s.seen_ms);
  }
  PutFixed<std::int64_t>(out, spilled ? w.spilled_ms : kNotSpilled);
}

// An id or the spill mark seen at or after `ids_from`.
bool IdsLive(const Window& w, std::int64_t ids_from) {
  if (w.spilled_ms != kNotSpilled && w.spilled_ms >= ids_from) return true;
  for (const SeenId& s : w.ids) {
    if (s.seen_ms >= ids_from) return true;
  }
  return false;
}

// *a = a (+) b for the ids: the union, the larger `seen_ms` of an id in both.
void MergeIds(Window* a, const Window& b) {
  a->spilled_ms = std::max(a->spilled_ms, b.spilled_ms);
  if (b.ids.empty()) return;
  std::vector<SeenId> out;
  out.reserve(a->ids.size() + b.ids.size());
  std::size_t i = 0, j = 0;
  while (i < a->ids.size() || j < b.ids.size()) {
    if (j == b.ids.size() || (i < a->ids.size() && a->ids[i].id < b.ids[j].id)) {
      out.push_back(std::move(a->ids[i++]));
    } else if (i == a->ids.size() || b.ids[j].id < a->ids[i].id) {
      out.push_back(b.ids[j++]);
    } else {
      out.push_back(std::move(a->ids[i++]));
      out.back().seen_ms = std::max(out.back().seen_ms, b.ids[j++].seen_ms);
    }
  }
  a->ids = std::move(out);
}

}  // namespace

int WindowKindIndex(char kind_byte) {
  switch (static_cast<WindowKind>(kind_byte)) {
    case WindowKind::kRecipient: return 0;
    case WindowKind::kSenderRecipient: return 1;
    case WindowKind::kDomain: return 2;
    case WindowKind::kSenderDomain: return 3;
    case WindowKind::kIpVendor: return 4;
    case WindowKind::kSender: return 5;
  }
  return -1;
}

WindowSpecs SpecsFor(const PolicySet& policy) {
  std::int64_t soft = policy.defaults.soft_bounce_window_ms;
  std::int64_t admin = policy.defaults.admin_block_window_ms;
  std::int64_t platform = policy.defaults.platform_block_window_ms;
  std::int64_t sender = policy.defaults.sender_config_window_ms;
  for (const auto& [name, c] : policy.tenants) {
    soft = std::max(soft, c.soft_bounce_window_ms);
    admin = std::max(admin, c.admin_block_window_ms);
    platform = std::max(platform, c.platform_block_window_ms);
    sender = std::max(sender, c.sender_config_window_ms);
  }
  constexpr std::int64_t k5Min = 5 * kMinuteMs;
  WindowSpecs s;
  s[0] = {kDayMs, std::max(soft, kDayMs) + kDayMs};      // recipient
  s[1] = {kDayMs, std::max(soft, kDayMs) + kDayMs};      // sender_recipient
  s[2] = {kHourMs, 48 * kHourMs};                        // domain
  s[3] = {kHourMs, std::max(admin, kHourMs) + kHourMs};  // sender_domain
  s[4] = {k5Min, std::max(platform, k5Min) + k5Min};     // ip_vendor
  s[5] = {k5Min, std::max(sender, k5Min) + k5Min};       // sender
  return s;
}

void AddEvent(Window* w, const WindowSpec& spec, const WindowEvent& e) {
  std::int64_t start = FloorTo(e.time_ms, spec.width_ms);
  // Find or insert the bucket (almost always the last one).
  auto it = w->buckets.end();
  while (it != w->buckets.begin() && (it - 1)->start >= start) --it;
  if (it == w->buckets.end() || it->start != start) {
    it = w->buckets.insert(it, Bucket{start, e.time_ms, e.time_ms, {}, {}});
  } else {
    it->first_seen = std::min(it->first_seen, e.time_ms);
    it->last_seen = std::max(it->last_seen, e.time_ms);
  }
  auto& c = it->counters;
  auto ci = std::lower_bound(c.begin(), c.end(), e.counter,
                             [](const auto& p, std::uint16_t k) { return p.first < k; });
  if (ci != c.end() && ci->first == e.counter) {
    ++ci->second;
  } else {
    c.insert(ci, {e.counter, 1});
  }
  if (e.add_hash) {
    auto& h = it->hashes;
    auto hi = std::lower_bound(h.begin(), h.end(), e.hash);
    if ((hi == h.end() || *hi != e.hash) && (h.size() < kKmvSize || hi != h.end())) {
      h.insert(hi, e.hash);
      if (h.size() > kKmvSize) h.pop_back();
    }
  }
  if (e.soft) {
    auto si = std::upper_bound(w->soft_times.begin(), w->soft_times.end(), e.time_ms);
    w->soft_times.insert(si, e.time_ms);
    TrimSoft(&w->soft_times);
  }
  if (e.reset) w->reset_ms = std::max(w->reset_ms, e.time_ms);
  if (!e.tag.empty()) {
    std::string_view tag = e.tag.substr(0, kMaxTag);
    if (TagWins(e.time_ms, tag, w->tag_ms, w->tag)) {
      w->tag_ms = e.time_ms;
      w->tag.assign(tag);
    }
  }
  Prune(w, spec);
}

void MergeWindow(Window* a, const Window& b, const WindowSpec& spec) {
  if (!b.buckets.empty()) {
    std::vector<Bucket> out;
    out.reserve(a->buckets.size() + b.buckets.size());
    std::size_t i = 0, j = 0;
    while (i < a->buckets.size() || j < b.buckets.size()) {
      if (j == b.buckets.size() ||
          (i < a->buckets.size() && a->buckets[i].start < b.buckets[j].start)) {
        out.push_back(std::move(a->buckets[i++]));
      } else if (i == a->buckets.size() || b.buckets[j].start < a->buckets[i].start) {
        out.push_back(b.buckets[j++]);
      } else {
        out.push_back(std::move(a->buckets[i++]));
        MergeBucket(&out.back(), b.buckets[j++]);
      }
    }
    a->buckets = std::move(out);
  }
  if (!b.soft_times.empty()) {
    std::vector<std::int64_t> st;
    st.reserve(a->soft_times.size() + b.soft_times.size());
    std::merge(a->soft_times.begin(), a->soft_times.end(), b.soft_times.begin(),
               b.soft_times.end(), std::back_inserter(st));
    TrimSoft(&st);
    a->soft_times = std::move(st);
  }
  a->reset_ms = std::max(a->reset_ms, b.reset_ms);
  MergeIds(a, b);
  if (!b.tag.empty() && TagWins(b.tag_ms, b.tag, a->tag_ms, a->tag)) {
    a->tag_ms = b.tag_ms;
    a->tag = b.tag;
  }
  Prune(a, spec);
}

void EncodeWindow(const Window& w, std::string* out) {
  EncodeParts(w, 0, 0, w.reset_ms, true, std::numeric_limits<std::int64_t>::min(), out);
}

bool DecodeWindow(std::string_view in, Window* w) {
  *w = Window();
  Reader r(in);
  std::uint8_t format = 0, taglen = 0, nsoft = 0;
  if (!r.Fixed(&format) || (format != kFormat && format != kFormatWithIds) ||
      !r.Fixed(&w->reset_ms) || !r.Fixed(&w->tag_ms) || !r.Fixed(&taglen)) {
    return false;
  }
  w->tag.resize(taglen);
  for (auto& ch : w->tag) {
    if (!r.Fixed(&ch)) return false;
  }
  if (!r.Fixed(&nsoft)) return false;
  w->soft_times.resize(nsoft);
  for (auto& t : w->soft_times) {
    if (!r.Fixed(&t)) return false;
  }
  std::uint16_t nb = 0;
  if (!r.Fixed(&nb)) return false;
  w->buckets.resize(nb);
  for (auto& b : w->buckets) {
    std::uint16_t nc = 0;
    std::uint8_t nh = 0;
    if (!r.Fixed(&b.start) || !r.Fixed(&b.first_seen) || !r.Fixed(&b.last_seen) ||
        !r.Fixed(&nc)) {
      return false;
    }
    b.counters.resize(nc);
    for (auto& [idx, n] : b.counters) {
      if (!r.Fixed(&idx) || !r.Fixed(&n)) return false;
    }
    if (!r.Fixed(&nh)) return false;
    b.hashes.resize(nh);
    for (auto& h : b.hashes) {
      if (!r.Fixed(&h)) return false;
    }
  }
  if (format == kFormatWithIds) {
    std::uint8_t nids = 0;
    if (!r.Fixed(&nids)) return false;
    w->ids.resize(nids);
    for (SeenId& s : w->ids) {
      std::uint8_t len = 0;
      if (!r.Fixed(&len)) return false;
      s.id.resize(len);
      for (auto& ch : s.id) {
        if (!r.Fixed(&ch)) return false;
      }
      if (!r.Fixed(&s.seen_ms)) return false;
    }
    if (!r.Fixed(&w->spilled_ms)) return false;
    for (std::size_t i = 1; i < w->ids.size(); ++i) {
      if (!(w->ids[i - 1].id < w->ids[i].id)) return false;  // sorted, unique
    }
  }
  return r.Done();
}

bool EncodeLive(const Window& w, const WindowSpec& spec, std::int64_t watermark_ms,
                std::string* out) {
  std::int64_t cutoff = watermark_ms - spec.retention_ms;
  std::size_t fb = 0;
  while (fb < w.buckets.size() && w.buckets[fb].start + spec.width_ms <= cutoff) ++fb;
  const std::int64_t ids_from = watermark_ms - spec.ids_horizon_ms;
  if (fb == w.buckets.size() && !IdsLive(w, ids_from)) return false;
  std::size_t fs = 0;
  while (fs < w.soft_times.size() && w.soft_times[fs] <= cutoff) ++fs;
  EncodeParts(w, fb, fs, w.reset_ms > cutoff ? w.reset_ms : 0, w.tag_ms > cutoff, ids_from, out);
  return true;
}

bool PhysicallyExpired(std::string_view value, const WindowSpec& spec, std::int64_t watermark_ms,
                       std::int64_t lateness_ms) {
  Window w;
  if (!DecodeWindow(value, &w)) return false;
  if (w.buckets.empty()) return true;
  if (IdsLive(w, watermark_ms - spec.ids_horizon_ms)) return false;
  return w.buckets.back().start + spec.width_ms <=
         watermark_ms - spec.retention_ms - lateness_ms;
}

Tally CountSignal(const Window& w, const WindowSpec& spec, Signal signal, std::int64_t now_ms,
                  std::int64_t window_ms) {
  Tally t;
  auto lo = CounterIndex(signal, 0);
  auto hi = static_cast<std::uint16_t>(lo + 64);
  for (const Bucket& b : w.buckets) {
    if (!Overlaps(b, spec, now_ms, window_ms)) continue;
    std::int64_t n = 0;
    auto it = std::lower_bound(b.counters.begin(), b.counters.end(), lo,
                               [](const auto& p, std::uint16_t k) { return p.first < k; });
    for (; it != b.counters.end() && it->first < hi; ++it) n += it->second;
    if (n == 0) continue;
    if (t.count == 0 || b.first_seen < t.first_seen) t.first_seen = b.first_seen;
    t.last_seen = std::max(t.last_seen, std::min(b.last_seen, now_ms));
    t.count += n;
  }
  return t;
}

Tally SoftStreak(const Window& w, std::int64_t now_ms, std::int64_t window_ms) {
  Tally t;
  std::int64_t after = std::max(w.reset_ms, now_ms - window_ms);
  for (std::int64_t x : w.soft_times) {
    if (x <= after || x > now_ms) continue;
    if (t.count == 0) t.first_seen = x;
    t.last_seen = x;
    ++t.count;
  }
  return t;
}

Tally DistinctHashes(const Window& w, const WindowSpec& spec, std::int64_t now_ms,
                     std::int64_t window_ms) {
  Tally t;
  std::vector<std::uint64_t> all;
  for (const Bucket& b : w.buckets) {
    if (b.hashes.empty() || !Overlaps(b, spec, now_ms, window_ms)) continue;
    if (all.empty()) t.first_seen = b.first_seen;
    t.last_seen = std::max(t.last_seen, std::min(b.last_seen, now_ms));
    MergeHashes(&all, b.hashes);
  }
  if (all.size() < kKmvSize) {
    t.count = static_cast<std::int64_t>(all.size());
  } else {
    // KMV: (k - 1) / (k-th smallest hash as a fraction of 2^64).
    double frac = static_cast<double>(all.back()) / 18446744073709551616.0;
    t.count = frac > 0 ? static_cast<std::int64_t>((kKmvSize - 1) / frac)
                       : static_cast<std::int64_t>(kKmvSize);
    t.count = std::max<std::int64_t>(t.count, kKmvSize);
  }
  return t;
}

}  // namespace bouncestream::state::internal
