# Sourced by the benchmark scripts: builds the probes of ../shared/perf-probe (the machine's
# ceilings) into $OUT/bin with the flags performance-ceilings.md used. Needs OUT and PROBE_SRC.
#   build_probe NAME [LIBS...]   rebuilt only when $PROBE_SRC/NAME.cpp is newer than the binary
# shellcheck shell=bash
CXX="g++ -O3 -march=native -std=c++17"
build_probe() {
  local name=$1
  shift
  [ "$OUT/bin/$name" -nt "$PROBE_SRC/$name.cpp" ] || $CXX -o "$OUT/bin/$name" "$PROBE_SRC/$name.cpp" "$@"
}
