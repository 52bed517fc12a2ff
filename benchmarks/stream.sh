#!/usr/bin/env bash
# Stream processor speed next to the machine's ceilings, in one run:
#   1. builds the release preset (stream_bench, bouncestream) and ../shared/perf-probe's
#      gen_bounces, probe_parse and probe_pipeline,
#   2. generates the probe's synthetic bounce stream (kept in $OUT, shared with classify.sh),
#   3. runs probe_parse and probe_pipeline (levels parse,classify,serialize; not `full`, which
#      takes long and measures state) and our stream_bench (decode; decode+classify+encode;
#      encode alone; end to end through the dev broker), each median of REPS runs (e2e: E2E_REPS
#      runs),
#   4. prints one table: stage, our events/s, the probe figure it compares with, the ratio, and
#      our CPU-seconds per million events.
# Usage: bash benchmarks/stream.sh [records=200000] [reps=5] [e2e_records=40000] [e2e_reps=3]
# Environment: BOUNCESTREAM_PERF_PROBE (probe sources), BOUNCESTREAM_BENCH_DIR (work dir),
# BOUNCESTREAM_PROBE_RECORDS (records gen_bounces writes when the data set is missing, 400000).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
REPS=${2:-5}
E2E_N=${3:-40000}
E2E_REPS=${4:-3}
PROBE_N=${BOUNCESTREAM_PROBE_RECORDS:-400000}
PROBE_SRC=${BOUNCESTREAM_PERF_PROBE:-../shared/perf-probe}
OUT=${BOUNCESTREAM_BENCH_DIR:-/tmp/bouncestream-bench}
mkdir -p "$OUT/bin"

bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target stream_bench bouncestream >/dev/null
# shellcheck source=benchmarks/probes.sh
source benchmarks/probes.sh
build_probe gen_bounces
build_probe probe_parse -lsimdjson
build_probe probe_pipeline -lhs -lsimdjson -lrocksdb -lprometheus-cpp-core
{ [ -s "$OUT/bounces.ndjson" ] && [ -s "$OUT/patterns.tsv" ]; } ||
  "$OUT/bin/gen_bounces" "$PROBE_N" "$OUT" >/dev/null

echo "== $(date -u +%FT%TZ) $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/bin/probe_parse" "$OUT/bounces.ndjson" "$REPS" | tee "$OUT/probe_parse.txt" | grep -E '^(simdjson|parse\[copy\])'
"$OUT/bin/probe_pipeline" "$OUT" "$REPS" parse,classify,serialize | tee "$OUT/probe_pipeline.txt"
./build/release/benchmarks/stream_bench "$N" "$REPS" "$E2E_N" "$E2E_REPS" | tee "$OUT/stream.txt"
echo "== done, load $(cut -d' ' -f1-3 /proc/loadavg)"

probe_copy=$(awk '/^parse\[copy\]:/ { for (i = 1; i <= NF; i++) if ($i == "median") printf "%.0f", $(i+1) * 1e6 }' "$OUT/probe_parse.txt")
probe_serialize=$(awk '$1 == "serialize" { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }' "$OUT/probe_pipeline.txt")
echo
printf '%-30s %13s  %-26s %13s %7s %12s\n' stage "ours events/s" "compared with" "probe /s" ratio "CPU-s per M"
awk -v pc="$probe_copy" -v ps="$probe_serialize" '
  /^ours_/ {
    v = 0; c = "-"
    for (i = 1; i <= NF; i++) { if ($i == "median") v = $(i+1); if ($i == "cpu_s_per_M") c = $(i+1) }
    name = substr($1, 6); ref = "-"; rv = 0
    if (name ~ /^decode\// && name != "decode/malformed") { ref = "probe_parse[copy]"; rv = pc }
    if (name == "pipeline") { name = "decode+classify+encode"; ref = "probe_pipeline serialize"; rv = ps; pipe = v }
    if (name == "encode") name = "encode (record + key)"
    if (name == "e2e") name = "e2e start->last output"
    if (name == "e2e_first_last") name = "e2e first->last output"
    if (name == "e2e_steady") { name = "e2e steady"; steady = v }
    if (name == "produce") name = "produce input (kafka)"
    if (rv > 0) printf "%-30s %13.0f  %-26s %13.0f %7.2f %12s\n", name, v, ref, rv, v / rv, c
    else printf "%-30s %13.0f  %-26s %13s %7s %12s\n", name, v, ref, "-", "-", c
  }
  END {
    if (pipe > 0 && steady > 0)
      printf "e2e steady / decode+classify+encode = %.2f (what the Kafka round trip leaves of the no-Kafka path)\n", steady / pipe
  }' "$OUT/stream.txt"
echo "(ours: TrafficGenerator records, six formats, mean ~527 B; probes: gen_bounces records, one format, mean ~460 B; stages 1-2 and probes median of $REPS, e2e median of $E2E_REPS; raw output in $OUT)"
