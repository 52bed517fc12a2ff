#!/usr/bin/env bash
# Installs the Debian 12 packages bouncestream needs to build, test and run. Only what is missing
# is installed, so a second run is fast. Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential g++ cmake ninja-build pkg-config git
  librdkafka-dev libsimdjson-dev librocksdb-dev prometheus-cpp-dev
  libvectorscan-dev libre2-dev libtomlplusplus-dev libcli11-dev libxxhash-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev libcivetweb-dev
  # tests: output-record schemas (python3-jsonschema), the status page in a real browser
  # (chromium), the subscriber example and docs (python3-confluent-kafka, kcat)
  python3 python3-jsonschema python3-confluent-kafka kcat chromium
  # the fuzz smoke (preset `fuzz`): clang 16 with libFuzzer and the sanitizer runtimes
  # (clang-14, Debian's default, cannot compile the project: tests/fuzz/README.md)
  clang-16 libclang-rt-16-dev llvm-16
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
