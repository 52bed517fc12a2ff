// One libFuzzer entry point; BOUNCESTREAM_FUZZ_CALL (set per target in CMakeLists.txt) is the
// call into fuzz_targets.cc, e.g. FuzzDecode(1, data, size) or FuzzClassify(data, size).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_util.h"

// One run before fuzzing starts, so one-time set-up (compiling the shipped rules for both
// engines, ~seconds under ASan) does not count against the first input's -timeout.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::uint8_t one[1] = {0};
  const std::uint8_t* data = one;
  const std::size_t size = 1;
  using namespace bouncestream::fuzz;  // NOLINT: the call below is a macro
  BOUNCESTREAM_FUZZ_CALL;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bouncestream::fuzz;  // NOLINT: the call below is a macro
  BOUNCESTREAM_FUZZ_CALL;
  return 0;
}
