// The layout of a classified record's observation header (kObservationHeader), shared by its
// writer (EncodeClassifiedRecord) and its reader (ObservationReader). It is printable ASCII
// apart from strings copied inline (valid UTF-8 whenever it is written), so that `kcat -J` and
// other JSON dumps of the topic stay valid.
//
// Numbers are little-endian base-32 varints, one character per 5 bits: character '0' + d, d in
// 0..63, where d & 31 are the bits and d & 32 says that another character follows. Signed
// numbers are zigzag-encoded first.
//
// Version 1: "1", then thirteen strings in this order:
//   id, tenant, sender, recipient, sending_ip, text, type, reason, vendor, party, rule, dnsbl,
//   source topic
// each a number n: n even = n/2 bytes follow inline; n odd = a reference to (n-1)/2 bytes of
// the record's value, at the offset given by the next number. Then the event time (ms), the
// source partition and the source offset (signed), and "1" if the address is dead
// (classification.hard), else "0". Nothing may follow.
//
// Every string is what a JSON reader returns for the same field of the record's value, so the
// header and the JSON give the same Observation. A reader that does not know a version takes
// the JSON.
#ifndef BOUNCESTREAM_STREAM_INTERNAL_OBSERVATION_HEADER_H_
#define BOUNCESTREAM_STREAM_INTERNAL_OBSERVATION_HEADER_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace bouncestream::stream::internal {

inline constexpr char kObservationHeaderVersion = '1';
// The most bytes a field takes besides its inline bytes (two numbers of 13 characters).
inline constexpr std::size_t kMaxFieldOverhead = 26;
inline constexpr std::size_t kMaxNumber = 13;

inline char* PutNumber(std::uint64_t v, char* p) {
  while (v >= 32) {
    *p++ = static_cast<char>('0' + ((v & 31) | 32));
    v >>= 5;
  }
  *p++ = static_cast<char>('0' + v);
  return p;
}
inline char* PutSigned(std::int64_t v, char* p) {
  return PutNumber((static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63), p);
}
inline char* PutInline(std::string_view s, char* p) {
  p = PutNumber(static_cast<std::uint64_t>(s.size()) << 1, p);
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}
inline char* PutReference(std::size_t offset, std::size_t size, char* p) {
  p = PutNumber((static_cast<std::uint64_t>(size) << 1) | 1, p);
  return PutNumber(offset, p);
}

// Reads the header's fields in order (after the version); every getter fails (nullopt) past the
// end or on a malformed field, and a reference must lie inside `value`.
class HeaderCursor {
 public:
  HeaderCursor(std::string_view header, std::string_view value) : h_(header), value_(value) {}

  std::optional<std::uint64_t> Number() {
    std::uint64_t v = 0;
    for (int shift = 0; pos_ < h_.size(); shift += 5) {
      const int c = static_cast<unsigned char>(h_[pos_++]) - '0';
      if (c < 0 || c > 63) return std::nullopt;
      const auto bits = static_cast<std::uint64_t>(c & 31);
      if (shift == 60 ? bits > 15 : shift > 60) return std::nullopt;  // past 64 bits
      v |= bits << shift;
      if ((c & 32) == 0) return v;
    }
    return std::nullopt;
  }
  std::optional<std::int64_t> Signed() {
    const auto u = Number();
    if (!u) return std::nullopt;
    return static_cast<std::int64_t>((*u >> 1) ^ (~(*u & 1) + 1));
  }
  std::optional<std::string_view> String() {
    const auto n = Number();
    if (!n) return std::nullopt;
    const std::uint64_t size = *n >> 1;
    if ((*n & 1) == 0) {
      if (size > h_.size() - pos_) return std::nullopt;
      const std::string_view s = h_.substr(pos_, static_cast<std::size_t>(size));
      pos_ += static_cast<std::size_t>(size);
      return s;
    }
    const auto offset = Number();
    if (!offset || *offset > value_.size() || size > value_.size() - *offset) return std::nullopt;
    return value_.substr(static_cast<std::size_t>(*offset), static_cast<std::size_t>(size));
  }
  std::optional<char> Char() {
    if (pos_ >= h_.size()) return std::nullopt;
    return h_[pos_++];
  }
  bool AtEnd() const { return pos_ == h_.size(); }

 private:
  std::string_view h_, value_;
  std::size_t pos_ = 0;
};

}  // namespace bouncestream::stream::internal

#endif  // BOUNCESTREAM_STREAM_INTERNAL_OBSERVATION_HEADER_H_
