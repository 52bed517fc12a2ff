// Pulls a vendor's documentation code out of a reply text: Mimecast's KB anchor
// ("DOC-1369#550"), Microsoft's AS()/S-codes, Yahoo's [TSS04]-style tags, Google's ?p= help
// topic, Sophos XGEMAIL_ and Trellix ETP codes.
#ifndef BOUNCESTREAM_CLASSIFY_INTERNAL_DOC_CODES_H_
#define BOUNCESTREAM_CLASSIFY_INTERNAL_DOC_CODES_H_

#include <string_view>

#include "classify/classification.h"

namespace bouncestream::classify::internal {

void ExtractDocCode(Vendor vendor, std::string_view text, DocCode* out);

}  // namespace bouncestream::classify::internal

#endif  // BOUNCESTREAM_CLASSIFY_INTERNAL_DOC_CODES_H_
