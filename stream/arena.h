// A bump allocator for the bytes of decoded events: a batch of events holds string_views into it,
// and Reset() recycles the memory for the next batch without freeing it.
#ifndef BOUNCESTREAM_STREAM_ARENA_H_
#define BOUNCESTREAM_STREAM_ARENA_H_

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

namespace bouncestream::stream {

class Arena {
 public:
  explicit Arena(std::size_t chunk_bytes = 64 * 1024) : chunk_bytes_(chunk_bytes) {}

  std::string_view Copy(std::string_view s) {
    if (s.empty()) return {};
    char* p = Allocate(s.size());
    std::memcpy(p, s.data(), s.size());
    return {p, s.size()};
  }

  char* Allocate(std::size_t n) {
    if (chunks_.empty() || used_ + n > capacity_) NewChunk(n);
    char* p = chunks_[current_].get() + used_;
    used_ += n;
    return p;
  }

  void Reset() {
    current_ = 0;
    used_ = 0;
    capacity_ = chunks_.empty() ? 0 : sizes_[0];
  }

 private:
  void NewChunk(std::size_t n) {
    // Reuse the next retained chunk when it is big enough.
    if (!chunks_.empty() && current_ + 1 < chunks_.size() && sizes_[current_ + 1] >= n) {
      ++current_;
    } else {
      const std::size_t size = n > chunk_bytes_ ? n : chunk_bytes_;
      const std::size_t at = chunks_.empty() ? 0 : current_ + 1;
      chunks_.insert(chunks_.begin() + static_cast<std::ptrdiff_t>(at),
                     std::make_unique<char[]>(size));
      sizes_.insert(sizes_.begin() + static_cast<std::ptrdiff_t>(at), size);
      current_ = at;
    }
    used_ = 0;
    capacity_ = sizes_[current_];
  }

  std::size_t chunk_bytes_;
  std::vector<std::unique_ptr<char[]>> chunks_;
  std::vector<std::size_t> sizes_;
  std::size_t current_ = 0;
  std::size_t used_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace bouncestream::stream

#endif  // BOUNCESTREAM_STREAM_ARENA_H_
