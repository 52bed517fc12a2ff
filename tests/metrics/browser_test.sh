#!/usr/bin/env bash
# CTest driver: starts metrics_demo_server on a free port, runs browser_check.sh against it,
# stops the server.   browser_test.sh DEMO_SERVER OUTDIR
set -u
SERVER=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
rm -f "$OUT/port"
"$SERVER" --port-file "$OUT/port" --duration 240 > "$OUT/server.log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null' EXIT
for _ in $(seq 100); do
  [[ -s "$OUT/port" ]] && break
  sleep 0.1
done
if [[ ! -s "$OUT/port" ]]; then
  echo "FAIL: the demo server did not start:" >&2
  cat "$OUT/server.log" >&2
  exit 1
fi
PORT=$(cat "$OUT/port")
sleep 3  # some traffic first
"$HERE/browser_check.sh" "http://127.0.0.1:$PORT/" "$OUT"
