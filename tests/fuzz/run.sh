#!/usr/bin/env bash
# Builds the `fuzz` preset (clang-16, libFuzzer + ASan + UBSan) and runs every fuzz target for
# N seconds (default 20: the CI smoke run) on a copy of its seed corpus; a target stops at its
# first crash, sanitizer report, leak, timeout or OOM; every target runs, the script exits 1 if
# any failed, and prints the exec count of every target.
#
#   bash tests/fuzz/run.sh [seconds_per_target=20] [target ...]
#
# Environment: FUZZ_JOBS (build parallelism, default 2), FUZZ_RUN_JOBS (targets run at once,
# default 1), FUZZ_WORK (where the working corpora,
# logs and crash files go; default build/fuzz/work), FUZZ_SKIP_BUILD=1 (use the built binaries),
# FUZZ_BUILD_DIR (the build directory of the `fuzz` preset, default build/fuzz).
# scripts/test.sh runs the CI smoke: `FUZZ_WORK=build/fuzz/smoke run.sh 4` on a fresh copy of the
# seed corpora.
# A crash leaves crash-<sha1> in $FUZZ_WORK/<target>/; copy it to tests/fuzz/regressions/<target>/
# once fixed (see README.md). Needs Debian packages clang-16 and libclang-rt-16-dev.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET=${1:-20}
shift || true
JOBS=${FUZZ_JOBS:-2}
WORK=${FUZZ_WORK:-build/fuzz/work}
BUILD=${FUZZ_BUILD_DIR:-build/fuzz}
BIN=$BUILD/tests/fuzz

if [[ -z "${FUZZ_SKIP_BUILD:-}" ]]; then
  if ! command -v clang++-16 >/dev/null; then
    echo "run.sh: clang++-16 not found (apt-get install clang-16 libclang-rt-16-dev)" >&2
    exit 2
  fi
  [[ -f $BUILD/CMakeCache.txt ]] || cmake --preset fuzz -B "$BUILD" >/dev/null
  cmake --build "$BUILD" -j"$JOBS" --target fuzz_all
fi

ALL=(decode_auto decode_canonical decode_kumomta decode_powermta decode_postfix decode_postal
     decode_ses decode_sendgrid decode_mailgun decode_postmark decode_sparkpost
     classify config_toml config_env observe admin)
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi

# -max_len: near each entry point's own limit where a fuzzer can still move (the decoders take
# 4 MiB, the classifier scans 64 KiB; larger inputs only slow the mutator down: the 4 MiB path
# is covered by the unit tests and redos_bench).
max_len() {
  case "$1" in
    classify) echo 70000 ;;
    decode_*) echo 65536 ;;
    config_*) echo 16384 ;;
    *) echo 65536 ;;
  esac
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1}
export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-$(command -v llvm-symbolizer-16 || command -v llvm-symbolizer || true)}
export BOUNCESTREAM_RULES=${BOUNCESTREAM_RULES:-$PWD/classify/rules}

# Runs one target; its result line goes to $WORK/<target>/result.line, its exit status to
# $WORK/<target>/result.rc (the table is printed in target order once all have run).
run_target() {
  local t=$1 dir="$WORK/$1" log rc execs rate cov corp result
  mkdir -p "$dir/corpus"
  cp -n tests/fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null || true
  log="$dir/fuzz.log"
  rm -f "$dir/result.line" "$dir/result.rc"
  set +e
  "$BIN/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$dir/" \
      "$dir/corpus" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  rate=$(grep -a -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  cov=$(grep -a -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || true)
  corp=$(ls "$dir/corpus" | wc -l)
  if [[ $rc -eq 0 ]]; then
    result=ok
  else
    result="FAILED (exit $rc; $log; $(ls "$dir" | grep -E '^(crash|leak|timeout|oom|slow-unit)-' | head -3 | tr '\n' ' ' || true))"
  fi
  printf '%-18s %12s %9s %8s %6s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$corp" "$result" \
    >"$dir/result.line"
  echo "$rc" >"$dir/result.rc"
}

# FUZZ_RUN_JOBS targets run at once (default 1; scripts/test.sh passes nproc): each is
# single-threaded and runs for its own SECONDS_PER_TARGET, so N at once on N cores give each the
# same time and about the same exec count as one after the other.
RUN_JOBS=${FUZZ_RUN_JOBS:-1}
for t in "${TARGETS[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $RUN_JOBS ]]; do wait -n || true; done
  run_target "$t" &
done
wait

status=0
printf '%-18s %12s %9s %8s %6s  %s\n' target execs exec/s cov corpus result
for t in "${TARGETS[@]}"; do
  dir="$WORK/$t"
  if [[ -f $dir/result.line && -f $dir/result.rc ]]; then
    cat "$dir/result.line"
    [[ $(cat "$dir/result.rc") == 0 ]] || status=1
  else
    printf '%-18s %12s %9s %8s %6s  %s\n' "$t" '?' '?' '?' '?' "FAILED (no result; $dir)"
    status=1
  fi
done
exit $status
