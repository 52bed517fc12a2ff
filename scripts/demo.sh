#!/usr/bin/env bash
# The demo command: installs what is missing, builds the release preset and classifies the
# shipped sample events, printing the result table and the counts by party, vendor and reason.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target bouncestream
exec ./build/release/stream/bouncestream classify --output table --stats samples/events.ndjson "$@"
