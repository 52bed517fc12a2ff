#ifndef BOUNCESTREAM_STREAM_CLI_RULES_LOADER_H_
#define BOUNCESTREAM_STREAM_CLI_RULES_LOADER_H_

#include <memory>

#include "classify/classifier.h"
#include "stream/cli/commands.h"

namespace bouncestream::stream::cli {

// Loads and compiles the rules; prints every error to stderr and returns null on failure.
std::shared_ptr<const classify::Classifier> LoadClassifier(const RuleOptions& options);

}  // namespace bouncestream::stream::cli

#endif  // BOUNCESTREAM_STREAM_CLI_RULES_LOADER_H_
