// RocksDB key layout. Every key of every column family starts with the partition (u32
// big-endian), so one partition is one contiguous range in each column family.
//   windows   [p][kind][fields joined by 0x1F]                    -> window value (merge)
//   decisions [p][slot][fields joined by 0x1F]                    -> decision value
//   expiry    [p][expires_at: i64 order-preserving BE][slot][fields] -> ""
//   dedupe    [p][xxh64(recipient): u64 BE][event id]             -> i64 seen (watermark)
//             (before 2026-12-02: [p][event id], still read during the upgrade: see
//             Part::legacy_dedupe_wm in engine.cc and state/README.md "Dedupe upgrade")
//   meta      [p]'o' -> next_offset, watermark;  [p]'c' -> changelog position;
//             [p]'k' -> the dedupe upgrade mark (i64)
// Decision slots: 'T' tenant suppression (tenant, recipient), 'S' sender suppression (tenant,
// recipient, sender), 'D' domain pause (tenant, domain, sender), 'I' ip pause (ip, vendor),
// 'A' alert (tenant, sender, reason).
#ifndef BOUNCESTREAM_STATE_INTERNAL_KEYS_H_
#define BOUNCESTREAM_STATE_INTERNAL_KEYS_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "state/internal/codec.h"
#include "state/internal/xxhash.h"

namespace bouncestream::state::internal {

inline constexpr char kSep = '\x1F';
inline constexpr std::size_t kPartitionBytes = 4;

inline void PartitionPrefix(std::int32_t p, std::string* out) {
  PutBe32(out, static_cast<std::uint32_t>(p));
}
inline std::string PartitionPrefix(std::int32_t p) {
  std::string s;
  PartitionPrefix(p, &s);
  return s;
}
inline std::int32_t KeyPartition(std::string_view key) {
  return static_cast<std::int32_t>(GetBe32(key.data()));
}

// [p][tag][f1 0x1F f2 ...]
inline void BuildKey(std::string* out, std::int32_t p, char tag,
                     std::initializer_list<std::string_view> fields) {
  out->clear();
  PartitionPrefix(p, out);
  out->push_back(tag);
  bool first = true;
  for (std::string_view f : fields) {
    if (!first) out->push_back(kSep);
    first = false;
    out->append(f);
  }
}

inline constexpr char kMetaOffsets = 'o';
inline constexpr char kMetaChangelog = 'c';
inline constexpr char kMetaDedupe = 'k';

// A dedupe key after its partition prefix: one source event can carry several recipients (an
// SES notice's bouncedRecipients, a KumoMTA record's recipients share one id), so an event is
// identified by its id *and* its recipient. The recipient enters as a hash, first, so that
// every entry of one address is one key range (GDPR erase).
inline constexpr std::size_t kRecipientHashBytes = 8;
inline void AppendDedupeSuffix(std::string_view recipient, std::string_view event_id,
                               std::string* out) {
  PutBe64(out, XXH64(recipient.data(), recipient.size(), 0));
  out->append(event_id);
}

// Changelog keys: one byte naming the column family, then the RocksDB key; the commit marker
// is 'm' [p] batch_id (unique per batch, so log compaction never removes it).
inline constexpr char kClWindows = 'w';
inline constexpr char kClDecisions = 'd';
inline constexpr char kClExpiry = 'x';
inline constexpr char kClDedupe = 'u';
inline constexpr char kClMarker = 'm';

inline std::string_view Field(std::string_view fields, int index) {
  std::size_t pos = 0;
  for (int i = 0; i < index; ++i) {
    pos = fields.find(kSep, pos);
    if (pos == std::string_view::npos) return {};
    ++pos;
  }
  std::size_t end = fields.find(kSep, pos);
  return fields.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
}

}  // namespace bouncestream::state::internal

#endif  // BOUNCESTREAM_STATE_INTERNAL_KEYS_H_
