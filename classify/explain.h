// Human-readable account of a classification: who blocked, why, what to do.
#ifndef BOUNCESTREAM_CLASSIFY_EXPLAIN_H_
#define BOUNCESTREAM_CLASSIFY_EXPLAIN_H_

#include <string>
#include <string_view>

#include "classify/classification.h"

namespace bouncestream::classify {

// One sentence on who is responsible, for each party.
std::string_view DescribeParty(Party party);
// What the sender should do, for each action.
std::string_view DescribeAction(Action action);
// A short multi-line report for the `explain` command.
std::string ExplainText(const Classification& c);

}  // namespace bouncestream::classify

#endif  // BOUNCESTREAM_CLASSIFY_EXPLAIN_H_
