// One libFuzzer entry point; BOUNCESTREAM_FUZZ_CALL (set per target in CMakeLists.txt) is the
// call into fuzz_targets.cc, e.g. FuzzDecode(1, data, size) or FuzzClassify(data, size).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bouncestream::fuzz;  // NOLINT: the call below is a macro
  BOUNCESTREAM_FUZZ_CALL;
  return 0;
}
