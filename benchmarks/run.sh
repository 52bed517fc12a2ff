#!/usr/bin/env bash
# Every benchmark next to the machine's ceilings, in one run, one table:
#   1. builds the release preset (-O3 -march=native): bouncestream, classify_bench,
#      stream_bench, state_bench, path_bench, e2e_bench; and ../shared/perf-probe's gen_bounces,
#      probe_parse, probe_classify, probe_rocksdb, probe_pipeline,
#   2. generates the data: gen_bounces (the probes' stream; classify_bench mixes our Mimecast /
#      filter acceptance-table texts into it, state_bench turns it into observations) and, inside
#      stream_bench / path_bench / e2e_bench, TrafficGenerator's stream in six input formats
#      (KumoMTA, SendGrid, SES, Postfix, Postmark, canonical; Gmail/Microsoft/Yahoo/Mimecast/
#      Proofpoint/Barracuda/ISP replies, duplicates, malformed records),
#   3. runs the probes and our benchmarks, each the median of REPS runs; every benchmark checks
#      its output against a reference before it times anything and exits 1 if the check fails
#      (then this script fails),
#   4. prints one table: stage, our events/s (one core), the probe figure it is compared with,
#      the ratio, the goal, CPU-seconds per million events.
# Usage: bash benchmarks/run.sh [records=100000] [reps=5] [e2e_records=100000] [e2e_reps=5]
# Environment: BOUNCESTREAM_BUILD_DIR (default build/release), BOUNCESTREAM_PERF_PROBE (probe
# sources, default ../shared/perf-probe), BOUNCESTREAM_RUN_DIR (work dir and raw outputs,
# default /tmp/bouncestream-run), RUN_SKIP (comma list of parts to leave out: classify, stream,
# state, path, scale, e2e, e2e_scale, probes; a skipped part's earlier output is tabled).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
REPS=${2:-5}
E2E_N=${3:-100000}
E2E_REPS=${4:-5}
BUILD=${BOUNCESTREAM_BUILD_DIR:-build/release}
PROBE_SRC=${BOUNCESTREAM_PERF_PROBE:-../shared/perf-probe}
OUT=${BOUNCESTREAM_RUN_DIR:-/tmp/bouncestream-run}
SKIP=",${RUN_SKIP:-},"
# `bouncestream run` refuses unknown BOUNCESTREAM_* variables: none of ours reach the children.
unset BOUNCESTREAM_BUILD_DIR BOUNCESTREAM_PERF_PROBE BOUNCESTREAM_RUN_DIR
mkdir -p "$OUT/bin"
skip() { [[ "$SKIP" == *",$1,"* ]]; }

bash scripts/deps.sh >/dev/null
cmake --preset release -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j "$(nproc)" --target bouncestream classify_bench stream_bench state_bench \
  path_bench e2e_bench >/dev/null
B=$BUILD/benchmarks
# shellcheck source=benchmarks/probes.sh
source benchmarks/probes.sh
build_probe gen_bounces
build_probe probe_parse -lsimdjson
build_probe probe_classify -lhs -lre2 -lsimdjson
build_probe probe_rocksdb -lrocksdb -lsimdjson
build_probe probe_pipeline -lhs -lsimdjson -lrocksdb -lprometheus-cpp-core
DATA=$OUT/data_$N  # gen_bounces N records: bounces.ndjson, patterns.tsv
{ [ -s "$DATA/bounces.ndjson" ] && [ -s "$DATA/patterns.tsv" ]; } || {
  mkdir -p "$DATA"
  "$OUT/bin/gen_bounces" "$N" "$DATA" >/dev/null
}

started=$(date -u +%FT%TZ)
load0=$(uptime)
echo "== $started $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo '+dirty'), records $N, reps $REPS, e2e $E2E_N x $E2E_REPS"
echo "== $load0"
run() {  # name, command...: output to $OUT/name.txt (shown), fails the script on a failed check
  local name=$1
  shift
  echo "-- $name: $*"
  if ! "$@" > "$OUT/$name.txt" 2> "$OUT/$name.err"; then
    cat "$OUT/$name.txt" "$OUT/$name.err" >&2
    echo "FAILED: $name (check failed or error; raw output in $OUT)" >&2
    exit 1
  fi
  grep -E '^(ours_|check|reference|parse\[copy\]|hs_regex |re2_set |merge_agg|full |serialize )' "$OUT/$name.txt" | cut -c1-200 || true
}
: > "$OUT/empty.txt"
# Outputs of the parts that run now are removed first; a skipped part's output of an earlier
# run stays and is tabled (RUN_SKIP=probes,... re-runs only some parts).
parts() { case $1 in probe_parse|probe_pipeline_full) echo probes ;; probe_classify) echo classify ;;
  probe_rocksdb) echo state ;; probe_pipeline) echo stream ;; path_x*) echo scale ;; e2e_i1_x1) echo e2e ;;
  e2e_*) echo e2e_scale ;; *) echo "$1" ;; esac; }
for f in probe_parse probe_classify probe_rocksdb probe_pipeline probe_pipeline_full classify stream state \
         path path_x4 path_x16 e2e_i1_x1 e2e_i2_x1 e2e_i1_x4 e2e_i1_x16; do
  skip "$(parts "$f")" || rm -f "$OUT/$f.txt"
done

skip probes || run probe_parse "$OUT/bin/probe_parse" "$DATA/bounces.ndjson" "$REPS"
skip classify || run probe_classify "$OUT/bin/probe_classify" "$DATA" "$REPS"
skip state || run probe_rocksdb "$OUT/bin/probe_rocksdb" "$DATA/bounces.ndjson" "$REPS" merge_agg "$OUT/db" 1000
skip stream || run probe_pipeline "$OUT/bin/probe_pipeline" "$DATA" "$REPS" parse,classify,serialize
skip probes || run probe_pipeline_full "$OUT/bin/probe_pipeline" "$DATA" "$REPS" full merge_agg "$N"
skip classify || run classify "$B/classify_bench" "$DATA/bounces.ndjson" "$N" "$REPS"
skip stream || run stream "$B/stream_bench" "$N" "$REPS" 0 0 decode,pipeline
skip state || run state "$B/state_bench" "$DATA/bounces.ndjson" "$N" "$REPS" 1000
skip path || run path "$B/path_bench" "$N" "$REPS" 1
skip scale || run path_x4 "$B/path_bench" "$N" "$REPS" 4
skip scale || run path_x16 "$B/path_bench" "$N" "$REPS" 16
skip e2e || run e2e_i1_x1 "$B/e2e_bench" "$E2E_N" "$E2E_REPS" 1 1
skip e2e_scale || run e2e_i2_x1 "$B/e2e_bench" "$E2E_N" "$E2E_REPS" 2 1
skip e2e_scale || run e2e_i1_x4 "$B/e2e_bench" "$E2E_N" "$E2E_REPS" 1 4
skip e2e_scale || run e2e_i1_x16 "$B/e2e_bench" "$E2E_N" "$E2E_REPS" 1 16
load1=$(uptime)
echo "== done $(date -u +%FT%TZ), $load1"

# ---- the table ----
val() {  # file, line regex, key after which the number follows (default "median")
  [ -s "$1" ] || return 0
  awk -v re="$2" -v key="${3:-median}" '$0 ~ re { for (i = 1; i < NF; i++) if ($i == key) { print $(i+1); exit } }' "$1"
}
p_copy=$(awk '/^parse\[copy\]:/ { for (i = 1; i <= NF; i++) if ($i == "median") printf "%.0f", $(i+1) * 1e6 }' "$OUT/probe_parse.txt")
p_cls=$( [ -s "$OUT/probe_classify.txt" ] && awk '/^(hs_regex|re2_set) / { for (i = 1; i <= NF; i++) if ($i == "median") v = $(i+1); if (v > best) { best = v; name = $1 } } END { print best, name }' "$OUT/probe_classify.txt")
p_cls_v=${p_cls% *}
p_cls_n=${p_cls#* }
p_merge=$(val "$OUT/probe_rocksdb.txt" '^merge_agg')
p_ser=$(val "$OUT/probe_pipeline.txt" '^serialize ')
p_full=$(val "$OUT/probe_pipeline_full.txt" '^full ')
path1=$(val "$OUT/path.txt" '^ours_path ')
e2e1=$(val "$OUT/e2e_i1_x1.txt" '^ours_e2e_i1_x1 ')

printf '\n%-32s %13s  %-28s %12s %7s %-10s %11s\n' stage "ours events/s" "compared with" "its /s" ratio goal "CPU-s per M"
row() {  # stage, ours, cpu, ref-name, ref-value, goal (">=0.80" or ""), extra goal ">=1000000" (absolute)
  local stage=$1 ours=$2 cpu=${3:--} ref=${4:--} rv=${5:-} goal=${6:-} abs=${7:-}
  [ -n "$ours" ] || return 0
  awk -v s="$stage" -v o="$ours" -v c="$cpu" -v r="$ref" -v rv="$rv" -v g="$goal" -v a="$abs" 'BEGIN {
    ratio = "-"; mark = g
    if (rv + 0 > 0) ratio = sprintf("%.2f", o / rv)
    if (g != "" && ratio != "-") { mark = g ((o / rv >= substr(g, 3) + 0) ? " ok" : " NO") }
    if (a != "") mark = mark (mark == "" ? "" : ",") ">=" a/1e6 "M" ((o + 0 >= a + 0) ? " ok" : " NO")
    printf "%-32s %13.0f  %-28s %12s %7s %-10s %11s\n", s, o, r, (rv + 0 > 0 ? sprintf("%.0f", rv) : "-"), ratio, mark, c }'
}
# decode per input format (stream_bench)
if [ -s "$OUT/stream.txt" ]; then
  while read -r name v c; do
    ref="probe_parse[copy]"; rv=$p_copy; goal=">=0.80"
    [ "$name" = "decode/malformed" ] && { ref="-"; rv=""; goal=""; }
    if [ "$name" = "pipeline" ]; then name="decode+classify+encode"; ref="probe_pipeline serialize"; rv=$p_ser; goal=""; fi
    row "$name" "$v" "$c" "$ref" "$rv" "$goal"
  done < <(awk '/^ours_/ { v = ""; c = "-"; for (i = 1; i <= NF; i++) { if ($i == "median") v = $(i+1); if ($i == "cpu_s_per_M") c = $(i+1) } print substr($1, 6), v, c }' "$OUT/stream.txt")
fi
# classify (classify_bench; CPU-s per M = 1e6 / rate there: single thread, wall)
if [ -s "$OUT/classify.txt" ]; then
  while read -r name v; do
    row "classify/$name" "$v" "$(awk -v v="$v" 'BEGIN { printf "%.2f", 1e6 / v }')" "probe_classify $p_cls_n" "$p_cls_v" ">=0.70" 1000000
  done < <(awk '/^ours_/ { for (i = 1; i <= NF; i++) if ($i == "median") print substr($1, 6), $(i+1) }' "$OUT/classify.txt")
fi
# state writes and decisions (state_bench)
row "state writes (windows)" "$(val "$OUT/state.txt" '^ours_windows')" "$(val "$OUT/state.txt" '^ours_windows' cpu_s_per_M)" "probe_rocksdb merge_agg" "$p_merge" ">=0.70"
row "decisions (state + policy)" "$(val "$OUT/state.txt" '^ours_decisions')" "$(val "$OUT/state.txt" '^ours_decisions' cpu_s_per_M)" "probe_rocksdb merge_agg" "$p_merge" ""
# encode (path_bench)
row "encode (classified record)" "$(val "$OUT/path.txt" '^ours_encode')" "$(val "$OUT/path.txt" '^ours_encode' cpu_s_per_M)" "-" "" ""
# whole path without Kafka (path_bench)
row "whole path, no Kafka" "$path1" "$(val "$OUT/path.txt" '^ours_path ' cpu_s_per_M)" "probe_pipeline full merge_agg" "$p_full" ">=1.40"
row "  recipients x4" "$(val "$OUT/path_x4.txt" '^ours_path_x4')" "$(val "$OUT/path_x4.txt" '^ours_path_x4' cpu_s_per_M)" "whole path, no Kafka x1" "$path1" ""
row "  recipients x16" "$(val "$OUT/path_x16.txt" '^ours_path_x16')" "$(val "$OUT/path_x16.txt" '^ours_path_x16' cpu_s_per_M)" "whole path, no Kafka x1" "$path1" ""
# end to end through the dev broker (e2e_bench)
row "e2e broker, 1 instance" "$e2e1" "$(val "$OUT/e2e_i1_x1.txt" '^ours_e2e' cpu_s_per_M)" "whole path, no Kafka x1" "$path1" ">=0.70"
row "  2 instances" "$(val "$OUT/e2e_i2_x1.txt" '^ours_e2e')" "$(val "$OUT/e2e_i2_x1.txt" '^ours_e2e' cpu_s_per_M)" "e2e broker, 1 instance" "$e2e1" ""
row "  recipients x4" "$(val "$OUT/e2e_i1_x4.txt" '^ours_e2e')" "$(val "$OUT/e2e_i1_x4.txt" '^ours_e2e' cpu_s_per_M)" "e2e broker, 1 instance" "$e2e1" ""
row "  recipients x16" "$(val "$OUT/e2e_i1_x16.txt" '^ours_e2e')" "$(val "$OUT/e2e_i1_x16.txt" '^ours_e2e' cpu_s_per_M)" "e2e broker, 1 instance" "$e2e1" ""
echo
for f in path path_x4 path_x16; do
  [ -s "$OUT/$f.txt" ] && awk -v f="$f" '/^ours_path/ { for (i = 1; i < NF; i++) { if ($i == "window_keys") k = $(i+1); if ($i == "sst_bytes") s = $(i+1); if ($i == "peak_rss_kb") r = $(i+1); if ($i == "decisions") d = $(i+1) } printf "%s: %s decisions, %s window keys, SST %.1f MiB, peak RSS %.0f MiB\n", f, d, k, s / 1048576, r / 1024 }' "$OUT/$f.txt"
done
for f in e2e_i1_x1 e2e_i2_x1 e2e_i1_x4 e2e_i1_x16; do
  [ -s "$OUT/$f.txt" ] && awk -v f="$f" '/^ours_e2e/ { for (i = 1; i < NF; i++) { if ($i == "max_rss_kb") r = $(i+1); if ($i == "broker_cpu_s_per_M") b = $(i+1) } printf "%s: processor max RSS %.0f MiB, broker %s CPU-s per M\n", f, r / 1024, b }' "$OUT/$f.txt"
done
echo "(one core each; ratios are within this run. CPU-s per M: thread CPU for decode/encode/pipeline, 1e6/rate for classify, process CPU incl. RocksDB background threads for state/path, processors' user+sys for e2e. Raw output in $OUT)"
echo "== started $started: $load0"
echo "== ended   $(date -u +%FT%TZ): $load1"
