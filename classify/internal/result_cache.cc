#include "classify/internal/result_cache.h"

#include <bit>
#include <cstring>
#include <string_view>

namespace bouncestream::classify::internal {
namespace {

constexpr std::uint64_t kK0 = 0x9E3779B97F4A7C15ull;
constexpr std::uint64_t kK1 = 0xD6E8FEB86659FD93ull;
constexpr std::uint64_t kK2 = 0xA0761D6478BD642Full;

// 64x64 -> 128 multiply folded to 64 bits: a fast, well-mixing step (only the spread matters
// here: a collision costs a full key compare, never a wrong result).
__extension__ typedef unsigned __int128 U128;
inline std::uint64_t Mix(std::uint64_t a, std::uint64_t b) {
  const U128 r = static_cast<U128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

inline std::uint64_t Load64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::uint64_t HashBytes(std::string_view s, std::uint64_t h) {
  const char* p = s.data();
  std::size_t n = s.size();
  h ^= n * kK0;
  while (n >= 16) {
    h = Mix(Load64(p) ^ h ^ kK1, Load64(p + 8) ^ kK2);
    p += 16;
    n -= 16;
  }
  if (n >= 8) {
    // The last 8 bytes may overlap bytes already hashed; the length is mixed in above.
    h = Mix(Load64(p) ^ h ^ kK1, Load64(p + n - 8) ^ kK2);
  } else if (n > 0) {
    std::uint64_t tail = 0;
    for (std::size_t k = 0; k < n; ++k) tail |= std::uint64_t{static_cast<unsigned char>(p[k])} << (8 * k);
    h = Mix(tail ^ h ^ kK1, kK2);
  }
  return h;
}

void AppendBytes(std::string* key, std::string_view s) {
  if (!s.empty()) key->append(s.data(), s.size());
}

bool SameBytes(const char* stored, std::string_view s) {
  return s.empty() || std::memcmp(stored, s.data(), s.size()) == 0;
}

}  // namespace

ResultCache::ResultCache(std::size_t slots) {
  const std::size_t n = std::bit_ceil(slots == 0 ? std::size_t{1} : slots);
  slots_.resize(n);
  mask_ = n - 1;
}

std::uint64_t ResultCache::Hash(const BounceEvent& event) {
  std::uint64_t h = HashBytes(event.text, kK2);
  h = HashBytes(event.mx, h);
  h = HashBytes(event.enhanced_code, h);
  const std::uint64_t small = static_cast<std::uint64_t>(static_cast<std::uint32_t>(event.smtp_code)) |
                              std::uint64_t{static_cast<std::uint8_t>(event.type)} << 32;
  return Mix(h ^ small, kK0);
}

bool ResultCache::Find(const BounceEvent& event, std::uint64_t hash, Classification* out) {
  const Slot& s = slots_[hash & mask_];
  if (!s.used || s.hash != hash || s.text_len != event.text.size() ||
      s.mx_len != event.mx.size() || s.enhanced_len != event.enhanced_code.size() ||
      s.smtp_code != event.smtp_code || s.type != event.type) {
    ++misses_;
    return false;
  }
  const char* k = s.key.data();
  if (!SameBytes(k, event.text) || !SameBytes(k + s.text_len, event.mx) ||
      !SameBytes(k + s.text_len + s.mx_len, event.enhanced_code)) {
    ++misses_;
    return false;
  }
  *out = s.result;
  switch (s.status_in) {
    case StatusIn::kNone: out->enhanced_code = {}; break;
    case StatusIn::kText: out->enhanced_code = event.text.substr(s.status_offset, s.status_len); break;
    case StatusIn::kEnhanced:
      out->enhanced_code = event.enhanced_code.substr(s.status_offset, s.status_len);
      break;
  }
  ++hits_;
  return true;
}

void ResultCache::Insert(const BounceEvent& event, std::uint64_t hash, const Classification& result) {
  // Where the enhanced-code view points: it must be re-pointed into the next event's fields.
  StatusIn status_in = StatusIn::kNone;
  std::size_t offset = 0;
  const std::string_view status = result.enhanced_code;
  auto inside = [&](std::string_view field) {
    if (status.empty() || field.empty()) return false;
    const auto lo = reinterpret_cast<std::uintptr_t>(field.data());
    const auto at = reinterpret_cast<std::uintptr_t>(status.data());
    if (at < lo || at + status.size() > lo + field.size()) return false;
    offset = at - lo;
    return true;
  };
  if (status.size() > 255) return;
  if (status.empty()) {
    status_in = StatusIn::kNone;
  } else if (inside(event.text)) {
    status_in = StatusIn::kText;
  } else if (inside(event.enhanced_code)) {
    status_in = StatusIn::kEnhanced;
  } else {
    return;  // a view we cannot re-point: do not cache
  }
  Slot& s = slots_[hash & mask_];
  s.used = true;
  s.hash = hash;
  s.type = event.type;
  s.status_in = status_in;
  s.text_len = static_cast<std::uint16_t>(event.text.size());
  s.mx_len = static_cast<std::uint8_t>(event.mx.size());
  s.enhanced_len = static_cast<std::uint8_t>(event.enhanced_code.size());
  s.status_offset = static_cast<std::uint16_t>(offset);
  s.status_len = static_cast<std::uint8_t>(status.size());
  s.smtp_code = event.smtp_code;
  s.result = result;
  s.key.clear();
  AppendBytes(&s.key, event.text);
  AppendBytes(&s.key, event.mx);
  AppendBytes(&s.key, event.enhanced_code);
}

}  // namespace bouncestream::classify::internal
