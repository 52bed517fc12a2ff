#!/usr/bin/env bash
# The test command (README.md, .ci/run): installs what is missing, then
#   1. builds the `ci` preset, validates the rule files and ops/, runs every test (unit, corpus,
#      integration) with CTest;
#   2. sanitizers: builds the `asan-ubsan` and `tsan` presets and runs unit and integration
#      tests under them (ASan + UBSan: every unit and integration test; TSan: the threaded and
#      multi-process ones; heavy tests scaled down, see below); any sanitizer report,
#      in a test or in a process a test started, fails the stage;
#   3. fuzz smoke: builds the `fuzz` preset (clang-16) and runs each of the 16 libFuzzer targets
#      for a few seconds on its seed corpus (nproc targets at once); a crash, sanitizer report,
#      leak or timeout fails it.
#
#   bash scripts/test.sh [extra ctest args for stage 1]
#
# Environment:
#   BOUNCESTREAM_PRESET=ci          preset of stage 1
#   BOUNCESTREAM_SKIP_SANITIZERS=1  skip stage 2 (quick local runs; CI runs it)
#   BOUNCESTREAM_SKIP_FUZZ=1        skip stage 3 (quick local runs; CI runs it)
#   BOUNCESTREAM_FAST=1             both of the above
#   BOUNCESTREAM_SANITIZERS="asan-ubsan tsan"  which sanitizer presets stage 2 runs (default both)
#   BOUNCESTREAM_TSAN_ALL=1         TSan builds and runs every test, not only the threaded ones
#   BOUNCESTREAM_ASAN_DIR, BOUNCESTREAM_TSAN_DIR build dirs (default build/asan-ubsan, build/tsan)
#   FUZZ_SMOKE_SECONDS=4            seconds per fuzz target in stage 3
# Sanitizer options and suppressions: tests/sanitizers/ (README.md there says why each exists).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# This script's own switches stay in this shell: the tests' processors inherit the environment
# and `bouncestream run` refuses BOUNCESTREAM_* variables it does not know.
export -n BOUNCESTREAM_SKIP_SANITIZERS BOUNCESTREAM_SKIP_FUZZ BOUNCESTREAM_FAST \
  BOUNCESTREAM_SANITIZERS BOUNCESTREAM_TSAN_ALL BOUNCESTREAM_ASAN_DIR \
  BOUNCESTREAM_TSAN_DIR
jobs=$(nproc)
t0=$SECONDS
stage_times=()
stage_done() { stage_times+=("$1: $(( SECONDS - $2 )) s"); echo "test.sh: $1 done in $(( SECONDS - $2 )) s" >&2; }

bash scripts/deps.sh

# ---- 1. the ci preset ------------------------------------------------------------------------
t=$SECONDS
preset="${BOUNCESTREAM_PRESET:-ci}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
./build/"$preset"/stream/bouncestream check-rules classify/rules
# ops/: dashboards, alert rules (promtool unit tests), deployment files; installs its validators.
bash ops/check.sh
ctest --preset "$preset" -j "$jobs" "$@"
stage_done "$preset" "$t"

if [[ -n "${BOUNCESTREAM_FAST:-}" ]]; then
  BOUNCESTREAM_SKIP_SANITIZERS=1
  BOUNCESTREAM_SKIP_FUZZ=1
fi

# ---- 2. sanitizers -----------------------------------------------------------------------------
# Heavy integration tests, scaled down (each is run at full size by stage 1):
#   crash_equivalence_test  CRASH_TEST_RECORDS (202,000 in stage 1; it needs >= 75,000 for its
#                           12 kills) = 80,000 and one seed, in the asan-ubsan stage only;
#   ops_live_demo_check     DEMO_DURATION / DEMO_RATE (60 s at 1,500/s in stage 1);
#   memory_bound_test       not run (it asserts an RSS bound; sanitizers' shadow memory).
# Reports go to files (log_path) so that those of processes a test spawned (the processors,
# the dev broker) are seen even when the test only looks at their exit code or kills them.
SUPP="$ROOT/tests/sanitizers"
sanitizer_stage() {  # sanitizer_stage PRESET BUILD_DIR
  local preset=$1 dir=$2 t=$SECONDS
  [[ $dir == /* ]] || dir="$ROOT/$dir"
  local logs="$dir/sanitizer-logs"
  cmake --preset "$preset" -B "$dir" >/dev/null
  local targets=()
  if [[ $preset == tsan && -z "${BOUNCESTREAM_TSAN_ALL:-}" ]]; then
    # TSan: the tests with threads or several processes (the processor's librdkafka, HTTP and
    # RocksDB threads, the dev broker, kills and rebalances, the admin surface); the rest is
    # single-threaded and covered by ASan + UBSan. BOUNCESTREAM_TSAN_ALL=1 runs everything.
    targets=(--target bouncestream state_test metrics_server_test devbroker_test pipeline_test
             state_cli_test security_test cli_test)
  fi
  # ASan + UBSan builds everything (the sanitize presets build no benchmarks) and runs every unit
  # and integration test, the processes they start included.
  cmake --build "$dir" -j "$jobs" "${targets[@]}"
  rm -rf "$logs" && mkdir -p "$logs"
  # MemoryBoundTest asserts an RSS bound: shadow memory makes it meaningless here.
  local exclude=(-E '^MemoryBoundTest\.') common_env=(DEMO_DURATION=20 DEMO_RATE=300 READY_TIMEOUT_S=120)
  if [[ $preset == asan-ubsan ]]; then
    common_env+=(
      "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:log_path=$logs/asan:suppressions=$SUPP/asan.supp"
      "LSAN_OPTIONS=suppressions=$SUPP/lsan.supp:print_suppressions=0"
      "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan:suppressions=$SUPP/ubsan.supp"
      CRASH_TEST_RECORDS=80000 CRASH_TEST_SEEDS=3)
    if [[ ${#targets[@]} -gt 0 ]]; then  # only what was built
      exclude=(-E '^MemoryBoundTest\.|_NOT_BUILT$|^schemas_|^metrics_browser_check$|^ops_live_demo_check$')
    fi
  else
    # librdkafka's C11 threads are invisible to TSan without this shim (tsan_c11_threads.c).
    cc -shared -fPIC -O2 -o "$dir/tsan_c11_threads.so" "$SUPP/tsan_c11_threads.c" -lpthread
    common_env+=(
      "LD_PRELOAD=$dir/tsan_c11_threads.so"
      "TSAN_OPTIONS=halt_on_error=0:second_deadlock_stack=1:history_size=4:ignore_noninstrumented_modules=1:log_path=$logs/tsan:suppressions=$SUPP/tsan.supp")
    exclude=(-E '^(MemoryBoundTest|CrashEquivalenceTest)\.')
    if [[ ${#targets[@]} -gt 0 ]]; then  # only what was built
      exclude=(-E '^(MemoryBoundTest|CrashEquivalenceTest)\.|_NOT_BUILT$|^schemas_|^metrics_browser_check$|^ops_live_demo_check$')
    fi
  fi
  local rc=0
  env "${common_env[@]}" ctest --test-dir "$dir" -L 'unit|integration' -j "$jobs" \
      --output-on-failure --timeout 1200 "${exclude[@]}" || rc=$?
  if compgen -G "$logs/*" >/dev/null; then
    echo "test.sh: $preset: sanitizer reports (in $logs):" >&2
    for f in "$logs"/*; do echo "==== $f" >&2; head -c 20000 "$f" >&2; done
    rc=1
  fi
  stage_done "$preset" "$t"
  return $rc
}

if [[ -z "${BOUNCESTREAM_SKIP_SANITIZERS:-}" ]]; then
  for s in ${BOUNCESTREAM_SANITIZERS:-asan-ubsan tsan}; do
    case $s in
      asan-ubsan) sanitizer_stage asan-ubsan "${BOUNCESTREAM_ASAN_DIR:-build/asan-ubsan}" ;;
      tsan) sanitizer_stage tsan "${BOUNCESTREAM_TSAN_DIR:-build/tsan}" ;;
      *) echo "test.sh: unknown sanitizer preset '$s' (asan-ubsan, tsan)" >&2; exit 2 ;;
    esac
  done
fi

# ---- 3. fuzz smoke -----------------------------------------------------------------------------
if [[ -z "${BOUNCESTREAM_SKIP_FUZZ:-}" ]]; then
  t=$SECONDS
  rm -rf build/fuzz/smoke  # the seed corpus only, not what earlier runs found
  # nproc targets at once: each still runs FUZZ_SMOKE_SECONDS on a core of its own.
  FUZZ_JOBS=$jobs FUZZ_RUN_JOBS=$jobs FUZZ_WORK=build/fuzz/smoke \
    bash tests/fuzz/run.sh "${FUZZ_SMOKE_SECONDS:-4}"
  stage_done "fuzz smoke" "$t"
fi

printf 'test.sh: all stages passed in %d s (%s)\n' "$(( SECONDS - t0 ))" \
  "$(IFS=';'; echo "${stage_times[*]}")" >&2
