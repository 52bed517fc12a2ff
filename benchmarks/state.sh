#!/usr/bin/env bash
# State engine speed next to the machine's ceilings, in one run:
#   1. builds the release preset (state_bench) and ../shared/perf-probe's gen_bounces,
#      probe_rocksdb and probe_pipeline,
#   2. generates the probe's synthetic bounce stream (kept in $OUT, shared with classify.sh and
#      stream.sh) and cuts its first N records into $OUT/bounces_N.ndjson,
#   3. runs probe_rocksdb (mode merge_agg: 3 window keys per event, batch-local aggregation, one
#      Merge per distinct key), probe_pipeline (level full, state merge_agg) and our state_bench
#      (windows: Apply+Commit, 5 window keys + dedupe entry + changelog values per event;
#      decisions: the same with the policy rules), each the median of REPS runs,
#   4. prints one table: stage, our events/s, the probe figure it compares with, the ratio.
# Usage: bash benchmarks/state.sh [records=200000] [reps=5] [commits=1000]
#   commits: comma list of checkpoint intervals in events (Apply per 1000 events, a checkpoint
#   every that many: state_bench's `commit` argument); one state_bench run per interval.
# Environment: BOUNCESTREAM_PERF_PROBE (probe sources), BOUNCESTREAM_BENCH_DIR (work dir),
# BOUNCESTREAM_PROBE_RECORDS (records gen_bounces writes when the data set is missing, 400000),
# BOUNCESTREAM_STATE_BENCH (a state_bench binary to use instead of building the release preset).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
REPS=${2:-5}
COMMITS=${3:-1000}
PROBE_N=${BOUNCESTREAM_PROBE_RECORDS:-400000}
PROBE_SRC=${BOUNCESTREAM_PERF_PROBE:-../shared/perf-probe}
OUT=${BOUNCESTREAM_BENCH_DIR:-/tmp/bouncestream-bench}
mkdir -p "$OUT/bin"

BENCH=${BOUNCESTREAM_STATE_BENCH:-}
if [ -z "$BENCH" ]; then
  bash scripts/deps.sh
  cmake --preset release >/dev/null
  cmake --build --preset release --target state_bench >/dev/null
  BENCH=./build/release/benchmarks/state_bench
fi
# shellcheck source=benchmarks/probes.sh
source benchmarks/probes.sh
build_probe gen_bounces
build_probe probe_rocksdb -lrocksdb -lsimdjson
build_probe probe_pipeline -lhs -lsimdjson -lrocksdb -lprometheus-cpp-core
{ [ -s "$OUT/bounces.ndjson" ] && [ -s "$OUT/patterns.tsv" ]; } ||
  "$OUT/bin/gen_bounces" "$PROBE_N" "$OUT" >/dev/null
DATA="$OUT/bounces_$N.ndjson"
[ -s "$DATA" ] || head -n "$N" "$OUT/bounces.ndjson" > "$DATA"

echo "== $(date -u +%FT%TZ) $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$OUT/bin/probe_rocksdb" "$DATA" "$REPS" merge_agg "$OUT/db" 1000 | tee "$OUT/probe_rocksdb.txt"
: > "$OUT/probe_rocksdb_batches.txt"
for C in ${COMMITS//,/ }; do  # the probe with the same batch size as our checkpoint interval
  [ "$C" = 1000 ] && continue
  "$OUT/bin/probe_rocksdb" "$DATA" "$REPS" merge_agg "$OUT/db" "$C" | sed "s/^merge_agg/merge_agg@$C/" |
    tee -a "$OUT/probe_rocksdb_batches.txt"
done
"$OUT/bin/probe_pipeline" "$OUT" "$REPS" full merge_agg "$N" | tee "$OUT/probe_pipeline_full.txt"
: > "$OUT/state.txt"
for C in ${COMMITS//,/ }; do
  "$BENCH" "$DATA" "$N" "$REPS" 1000 windows,decisions "$C" | sed "s/^ours_\([a-z]*\)/ours_\1@$C/" |
    tee -a "$OUT/state.txt"
done
echo "== done, load $(cut -d' ' -f1-3 /proc/loadavg)"

probe_merge=$(awk '$1 == "merge_agg" { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }' "$OUT/probe_rocksdb.txt")
probe_full=$(awk '$1 == "full" { for (i = 1; i <= NF; i++) if ($i == "median") print $(i+1) }' "$OUT/probe_pipeline_full.txt")
echo
printf '%-32s %13s  %-30s %13s %7s %12s\n' stage "ours events/s" "compared with" "probe /s" ratio "CPU-s per M"
awk -v pm="$probe_merge" -v pf="$probe_full" '
  FILENAME == ARGV[1] { if ($1 ~ /^merge_agg@/) for (i = 1; i <= NF; i++) if ($i == "median") pb[substr($1, 11)] = $(i+1); next }
  /^ours_/ {
    v = 0; c = "-"
    for (i = 1; i <= NF; i++) { if ($i == "median") v = $(i+1); if ($i == "cpu_s_per_M") c = $(i+1) }
    name = substr($1, 6)
    split(name, parts, "@")
    if (parts[2] == "1000") name = parts[1]; else name = parts[1] " (commit " parts[2] ")"
    printf "%-32s %13.0f  %-30s %13.0f %7.2f %12s\n", "state/" name, v, "probe_rocksdb merge_agg", pm, v / pm, c
    if (parts[1] == "windows" && (parts[2] in pb))
      printf "%-32s %13.0f  %-30s %13.0f %7.2f %12s\n", "state/" name, v, "probe_rocksdb merge_agg batch " parts[2], pb[parts[2]], v / pb[parts[2]], c
    if (parts[1] == "decisions" && pf > 0)
      printf "%-32s %13.0f  %-30s %13.0f %7.2f %12s\n", "state/" name, v, "probe_pipeline full (whole path)", pf, v / pf, c
  }' "$OUT/probe_rocksdb_batches.txt" "$OUT/state.txt"
echo "(probe_rocksdb: 3 keys/event, 132-byte rings, no dedupe/changelog; ours: 5 window keys, dedupe entry, changelog values, offsets in the WriteBatch; goal: windows >= 0.70 x probe_rocksdb merge_agg; raw output in $OUT)"
