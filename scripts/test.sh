#!/usr/bin/env bash
# The test command: installs what is missing, builds the `ci` preset and runs every test
# (unit, corpus, integration) with CTest. Usage: bash scripts/test.sh [extra ctest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
preset="${BOUNCESTREAM_PRESET:-ci}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
./build/"$preset"/stream/bouncestream check-rules classify/rules
# ops/: dashboards, alert rules (promtool unit tests), deployment files; installs its validators.
bash ops/check.sh
ctest --preset "$preset" -j "$(nproc)" "$@"
