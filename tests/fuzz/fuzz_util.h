// Shared helpers of the libFuzzer targets (tests/fuzz) and their regression replay
// (regression_test.cc). Each `FuzzXxx(data, size)` is the whole body of one target, so a
// regression file replays through exactly the code the fuzzer ran.
#ifndef BOUNCESTREAM_TESTS_FUZZ_FUZZ_UTIL_H_
#define BOUNCESTREAM_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace bouncestream::fuzz {

// Reads every byte of a view so ASan sees a dangling or out-of-bounds one; returns a checksum
// that the callers fold into a volatile sink (so the loop is not optimised away).
inline std::uint32_t Touch(std::string_view s) {
  std::uint32_t h = 0;
  for (char c : s) h = h * 31 + static_cast<unsigned char>(c);
  return h;
}

// A property the target checks failed: print it and abort (libFuzzer records the input).
[[noreturn]] inline void Fail(const char* what) {
  std::fprintf(stderr, "fuzz property violated: %s\n", what);
  std::abort();
}

inline std::string_view View(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// The targets (fuzz_targets.cc); `format` is a stream::InputFormat value.
void FuzzDecode(int format, const std::uint8_t* data, std::size_t size);
void FuzzClassify(const std::uint8_t* data, std::size_t size);
void FuzzConfigToml(const std::uint8_t* data, std::size_t size);
void FuzzConfigEnv(const std::uint8_t* data, std::size_t size);
void FuzzObserve(const std::uint8_t* data, std::size_t size);
void FuzzAdmin(const std::uint8_t* data, std::size_t size);

}  // namespace bouncestream::fuzz

#endif  // BOUNCESTREAM_TESTS_FUZZ_FUZZ_UTIL_H_
