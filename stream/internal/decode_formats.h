// The MTA/ESP input adapters, one per file in stream/decode/. Each decodes one payload (one Kafka
// message or one input line) into zero or more canonical events appended to `out`; on error the
// dispatcher in decoder.cc drops whatever the adapter appended. A payload that is valid but carries
// no bounce-relevant event (an open, a click, a header line) yields zero events and no error.
#ifndef BOUNCESTREAM_STREAM_INTERNAL_DECODE_FORMATS_H_
#define BOUNCESTREAM_STREAM_INTERNAL_DECODE_FORMATS_H_

#include <string_view>
#include <vector>

#include "stream/internal/decode_impl.h"

namespace bouncestream::stream::decode {

DecodeStatus Kumo(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus PowerMta(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Postfix(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Postal(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Ses(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Sendgrid(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Mailgun(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Postmark(Decoder::Impl& impl, std::string_view payload, std::vector<BounceEvent>* out);
DecodeStatus Sparkpost(Decoder::Impl& impl, std::string_view payload,
                       std::vector<BounceEvent>* out);

}  // namespace bouncestream::stream::decode

#endif  // BOUNCESTREAM_STREAM_INTERNAL_DECODE_FORMATS_H_
