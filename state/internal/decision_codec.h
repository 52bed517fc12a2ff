// Binary form of a Decision in the decisions column family (and the changelog).
#ifndef BOUNCESTREAM_STATE_INTERNAL_DECISION_CODEC_H_
#define BOUNCESTREAM_STATE_INTERNAL_DECISION_CODEC_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "state/decision.h"

namespace bouncestream::state::internal {

void EncodeDecision(const Decision& d, std::string* out);
bool DecodeDecision(std::string_view in, Decision* d);
// The slot byte and fields of the decision's key (after the partition).
char DecisionSlot(const Decision& d);
void DecisionKeySuffix(const Decision& d, std::string* out);
// 16 hex digits of xxh64 over kind, scope, key fields, decided_at, event id, origin (and `salt`).
std::string DecisionId(const Decision& d, std::string_view salt = {});
// Caps at `max` bytes without splitting a UTF-8 sequence.
std::string CapUtf8(std::string_view s, std::size_t max);

}  // namespace bouncestream::state::internal

#endif  // BOUNCESTREAM_STATE_INTERNAL_DECISION_CODEC_H_
