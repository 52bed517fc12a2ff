// xxHash, inlined into the including file. Include this instead of <xxhash.h>.
//
// On an AVX-512 target (the release preset's -march=native on such a machine) GCC 12 reports a
// false -Wmaybe-uninitialized inside its AVX-512 intrinsics where XXH3's long-input loop
// inlines them, which -Werror turns into a build failure. There the AVX2 loop is used instead:
// xxHash gives the same hashes with every vector implementation.
#ifndef BOUNCESTREAM_STATE_INTERNAL_XXHASH_H_
#define BOUNCESTREAM_STATE_INTERNAL_XXHASH_H_

#if defined(__AVX512F__) && defined(__AVX2__) && !defined(XXH_VECTOR)
#define XXH_VECTOR 2  // XXH_AVX2
#endif
#define XXH_INLINE_ALL
#include <xxhash.h>

#endif  // BOUNCESTREAM_STATE_INTERNAL_XXHASH_H_
