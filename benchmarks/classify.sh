#!/usr/bin/env bash
# Classifier speed next to the machine's ceiling, in one run:
#   1. builds the release preset and ../shared/perf-probe's gen_bounces and probe_classify,
#   2. generates the probe's synthetic bounce stream,
#   3. runs probe_classify (Hyperscan and RE2::Set on the probe's 330 rules) and our
#      classify_bench (the shipped rules, both engines, table texts mixed in, output checked
#      against a reference before timing), median of REPS runs each,
#   4. prints one table: engine and row, our events/s, the probe's best engine, the ratio.
# Rows per engine (see classify_bench.cc): <engine> = the stream as it is with the Session's
# result cache on (texts repeat; the hit rate is printed), <engine>_nocache = the same stream
# without the cache, <engine>_unique = every distinct event once, without the cache (no repeat to
# exploit); re2set_heldout = texts RE2's lazy DFA has not seen (warmed on the other half).
# The probe repeats its texts too and has no cache: <engine>_nocache is the like-for-like row,
# <engine>_unique the pessimistic one.
# Usage: bash benchmarks/classify.sh [records=400000] [reps=5]
# BOUNCESTREAM_BUILD_DIR=<dir> uses an already configured release build dir instead of the
# release preset's.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-400000}
REPS=${2:-5}
PROBE_SRC=${BOUNCESTREAM_PERF_PROBE:-../shared/perf-probe}
OUT=${BOUNCESTREAM_BENCH_DIR:-/tmp/bouncestream-bench}
mkdir -p "$OUT/bin"

bash scripts/deps.sh
BUILD=${BOUNCESTREAM_BUILD_DIR:-}
if [ -z "$BUILD" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target classify_bench >/dev/null
  BUILD=build/release
else
  cmake --build "$BUILD" --target classify_bench >/dev/null
fi
# shellcheck source=benchmarks/probes.sh
source benchmarks/probes.sh
build_probe gen_bounces
build_probe probe_classify -lhs -lre2 -lsimdjson
[ -s "$OUT/bounces.ndjson" ] || "$OUT/bin/gen_bounces" "$N" "$OUT" >/dev/null

echo "== $(date -u +%FT%TZ) $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/bin/probe_classify" "$OUT" "$REPS" | tee "$OUT/probe.txt" | grep -E '^(hs_regex|re2_set) ' || true
BOUNCESTREAM_BENCH_HELDOUT=1 "$BUILD/benchmarks/classify_bench" "$OUT/bounces.ndjson" "$N" "$REPS" | tee "$OUT/ours.txt"

probe_best=$(awk '/^(hs_regex|re2_set) / { for (i = 1; i <= NF; i++) if ($i == "median") v = $(i+1); if (v > best) { best = v; name = $1 } } END { print best, name }' "$OUT/probe.txt")
echo
printf '%-26s %14s %14s %8s %12s\n' stage "ours events/s" "probe best/s" ratio "CPU-s per M"
awk -v pb="$probe_best" 'BEGIN { split(pb, p, " ") }
  /^ours_/ { for (i = 1; i <= NF; i++) if ($i == "median") v = $(i+1);
             printf "%-26s %14.0f %14.0f %8.2f %12.2f\n", "classify/" substr($1, 6), v, p[1], v / p[1], 1e6 / v }
  END { printf "(probe best engine: %s)\n", p[2] }' "$OUT/ours.txt"
