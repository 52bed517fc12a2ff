#!/usr/bin/env bash
# The demo command: installs what is missing, builds the release preset, then runs
# `bouncestream demo`: a local broker (librdkafka's mock cluster), a realistic mixed bounce
# stream in several input formats, and the processor, with a live summary of who is blocking.
# Extra arguments go to the demo, e.g. --duration 60 --rate 5000, or --bootstrap HOST:PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target bouncestream
exec ./build/release/stream/bouncestream demo "$@"
