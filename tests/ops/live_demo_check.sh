#!/usr/bin/env bash
# End-to-end check of the dashboards, alert rules and status page against a real processor:
#
#   tests/ops/live_demo_check.sh BOUNCESTREAM_BINARY OUTDIR
#
# 1. Picks two free loopback ports and starts `bouncestream demo` (dev broker + traffic generator
#    + a real `run` processor serving /metrics and the status page) in the background, with its
#    work dir (processor.log, devbroker.log, state) in OUTDIR/demo and its stdout in
#    OUTDIR/demo.log.
# 2. Waits until /readyz answers 200 (READY_TIMEOUT_S, default 60; on timeout prints the tail of
#    the processor log) and until the processor has classified events and published decisions
#    (WARMUP_TIMEOUT_S, default 20), so that the "data" queries can have data.
# 3. While the demo runs, in parallel:
#      ops/prom_live_check.sh http://127.0.0.1:PORT/metrics      (Debian's prometheus server)
#      tests/metrics/browser_check.sh http://127.0.0.1:PORT/ OUTDIR/browser   (headless chromium)
#    their outputs are in OUTDIR/prom_live_check.log and OUTDIR/browser_check.log.
# 4. Saves /metrics and /api/status (OUTDIR/metrics.txt, OUTDIR/api_status.json), checks the
#    demo is still running, stops it with SIGINT and requires exit code 0 (it drains first).
# 5. Scans the processor log, /metrics and /api/status for raw e-mail addresses (local@domain;
#    the masked form ***@domain is allowed): addresses must never reach logs or metrics.
#
# env: DEMO_DURATION (s of traffic, 60), DEMO_RATE (records/s, 1500), READY_TIMEOUT_S (60),
#      WARMUP_TIMEOUT_S (20), STOP_TIMEOUT_S (90); CHROMIUM etc. pass through to browser_check.sh.
# Exit 0 when every part passes, 1 otherwise, 2 on usage errors. Only loopback is used.
set -u

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BOUNCESTREAM_BINARY OUTDIR" >&2
  exit 2
fi
BIN=$1
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DURATION=${DEMO_DURATION:-60}
RATE=${DEMO_RATE:-1500}
READY_TIMEOUT_S=${READY_TIMEOUT_S:-60}
WARMUP_TIMEOUT_S=${WARMUP_TIMEOUT_S:-20}
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-90}

if [[ ! -x "$BIN" ]]; then
  echo "FAIL: $BIN is not an executable bouncestream binary" >&2
  exit 2
fi
mkdir -p "$OUT" || exit 1
OUT=$(cd "$OUT" && pwd)
rm -rf "$OUT/demo" "$OUT/browser"
rm -f "$OUT"/*.log "$OUT/metrics.txt" "$OUT/api_status.json"

declare -a RESULTS=()
failed=0
result() {  # result ok|FAIL NAME DETAIL
  RESULTS+=("$(printf '%-4s %-22s %s' "$1" "$2" "$3")")
  [[ $1 == ok ]] || failed=1
  echo "live_demo_check: $1 $2: $3"
}
summary() {
  echo
  echo "== live_demo_check summary (outputs in $OUT) =="
  printf '%s\n' "${RESULTS[@]}"
  if [[ $failed -eq 0 ]]; then echo "live_demo_check: PASSED"; else echo "live_demo_check: FAILED"; fi
}

# The HTTP status code of a GET (000 when nothing answers).
http_code() {
  curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null || true
}

read -r BROKER_PORT METRICS_PORT < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
BASE="http://127.0.0.1:$METRICS_PORT"
PLOG="$OUT/demo/processor.log"

"$BIN" demo --duration "$DURATION" --rate "$RATE" --port "$BROKER_PORT" \
  --metrics-addr "127.0.0.1:$METRICS_PORT" --work-dir "$OUT/demo" > "$OUT/demo.log" 2>&1 &
DEMO=$!
echo "live_demo_check: demo pid $DEMO (${DURATION} s at ${RATE}/s), broker port $BROKER_PORT," \
     "status page $BASE/, work dir $OUT/demo"

# On any early exit: stop the demo and, should it not go, the processes it started.
cleanup() {
  if kill -0 "$DEMO" 2>/dev/null; then
    local kids
    kids=$(ps -o pid= --ppid "$DEMO" 2>/dev/null | tr '\n' ' ')
    kill -TERM "$DEMO" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DEMO" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$DEMO" 2>/dev/null
    for k in $kids; do kill -KILL "$k" 2>/dev/null; done
  fi
}
trap cleanup EXIT

log_tail() {
  echo "--- demo stdout ($OUT/demo.log), last 15 lines:"
  tail -n 15 "$OUT/demo.log" 2>/dev/null
  echo "--- processor log ($PLOG), last 30 lines:"
  tail -n 30 "$PLOG" 2>/dev/null || echo "(no processor log)"
  echo "---"
}

# The demo's line about its processor having exited (none while it runs).
processor_died() {
  grep -m1 'processor exited with' "$OUT/demo.log" 2>/dev/null
}

# 2. Readiness, then some traffic handled and some decisions made.
start=$SECONDS
ready=0
while ((SECONDS - start < READY_TIMEOUT_S)); do
  if ! kill -0 "$DEMO" 2>/dev/null || processor_died; then break; fi
  if [[ $(http_code "$BASE/readyz") == 200 ]]; then ready=1; break; fi
  sleep 0.5
done
if [[ $ready -ne 1 ]]; then
  if processor_died; then
    result FAIL readyz "the processor died before $BASE/readyz answered 200: $(processor_died)"
  elif kill -0 "$DEMO" 2>/dev/null; then
    result FAIL readyz "no 200 from $BASE/readyz within $READY_TIMEOUT_S s (last: $(http_code "$BASE/readyz"))"
  else
    wait "$DEMO"
    result FAIL readyz "the demo exited ($?) before $BASE/readyz answered 200"
  fi
  log_tail
  summary
  exit 1
fi
result ok readyz "$BASE/readyz answered 200 after $((SECONDS - start)) s"

# Totals from /api/status: "classified decisions" (0 0 when not available).
status_totals() {
  curl -s -m 5 "$BASE/api/status" 2>/dev/null | python3 -c '
import json, sys
try:
    t = json.load(sys.stdin).get("totals", {})
except ValueError:
    t = {}
print(int(t.get("events_classified") or 0), int(t.get("decisions") or 0))' 2>/dev/null || echo 0 0
}
start=$SECONDS
classified=0 decisions=0
while ((SECONDS - start < WARMUP_TIMEOUT_S)); do
  read -r classified decisions < <(status_totals)
  [[ ${classified:-0} -gt 0 && ${decisions:-0} -gt 0 ]] && break
  sleep 1
done
if [[ ${classified:-0} -gt 0 && ${decisions:-0} -gt 0 ]]; then
  result ok traffic "the processor has classified $classified events and made $decisions decisions"
else
  # Not fatal by itself: the checks below say which queries lack data.
  result FAIL traffic "after $WARMUP_TIMEOUT_S s: classified $classified, decisions $decisions (from /api/status)"
fi

# 3. Prometheus and the browser, in parallel, while the demo runs.
t0=$SECONDS
"$ROOT/ops/prom_live_check.sh" "$BASE/metrics" > "$OUT/prom_live_check.log" 2>&1 &
PROM=$!
"$ROOT/tests/metrics/browser_check.sh" "$BASE/" "$OUT/browser" > "$OUT/browser_check.log" 2>&1 &
BROWSER=$!
wait "$PROM"; prom_rc=$?
wait "$BROWSER"; browser_rc=$?
checks_s=$((SECONDS - t0))

echo "--- ops/prom_live_check.sh ($OUT/prom_live_check.log):"
cat "$OUT/prom_live_check.log"
echo "--- tests/metrics/browser_check.sh ($OUT/browser_check.log):"
cat "$OUT/browser_check.log"
echo "---"
prom_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$OUT/prom_live_check.log" | tail -n1)
if [[ $prom_rc -eq 0 ]]; then
  result ok prometheus "${prom_line:-exit 0}"
else
  result FAIL prometheus "${prom_line:-exit $prom_rc}; see $OUT/prom_live_check.log"
fi
browser_ok=$(grep -c '^ok ' "$OUT/browser_check.log")
browser_fail=$(grep -c '^FAIL' "$OUT/browser_check.log")
if [[ $browser_rc -eq 0 ]]; then
  result ok browser "$browser_ok checks passed; screenshot $OUT/browser/status.png"
else
  result FAIL browser "$browser_ok passed, $browser_fail failed (exit $browser_rc); see $OUT/browser_check.log"
fi

# 4. Save what the processor exposes now, then stop the demo.
curl -s -m 10 -o "$OUT/metrics.txt" "$BASE/metrics"
curl -s -m 10 -o "$OUT/api_status.json" "$BASE/api/status"
if processor_died > /dev/null; then
  result FAIL running "the demo's processor died: $(processor_died)"
  log_tail
elif kill -0 "$DEMO" 2>/dev/null; then
  result ok running "the demo and its processor were still running after the checks ($checks_s s)"
else
  result FAIL running "the demo ended during the checks ($checks_s s): raise DEMO_DURATION"
fi

if kill -0 "$DEMO" 2>/dev/null; then
  kill -INT "$DEMO"
  how="SIGINT"
else
  how="already exited"
fi
t0=$SECONDS
while kill -0 "$DEMO" 2>/dev/null && ((SECONDS - t0 < STOP_TIMEOUT_S)); do sleep 0.2; done
if kill -0 "$DEMO" 2>/dev/null; then
  result FAIL stop "the demo did not exit within $STOP_TIMEOUT_S s of SIGINT"
  log_tail
else
  wait "$DEMO"; rc=$?
  pexit=$(grep -o 'processor exit code: -\?[0-9]*' "$OUT/demo.log" | grep -o -- '-\?[0-9]*$')
  if [[ $rc -eq 0 ]]; then
    result ok stop "demo exit 0 ($how, after $((SECONDS - t0)) s; processor exit ${pexit:-?})"
  else
    result FAIL stop "demo exit $rc ($how; processor exit ${pexit:-?}); see $OUT/demo.log"
    log_tail
  fi
fi
trap - EXIT
cleanup

# 5. No raw address in the processor log, /metrics or /api/status (***@domain is the masked form).
ADDR='[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}'
scan() {  # scan NAME FILE
  local n
  if [[ ! -s "$2" ]]; then
    result FAIL "$1" "$2 is missing or empty"
    return
  fi
  n=$(grep -cE "$ADDR" "$2")
  if [[ $n -eq 0 ]]; then
    result ok "$1" "no raw address in $2 ($(wc -c < "$2") bytes)"
  else
    result FAIL "$1" "$n line(s) of $2 contain an address, e.g. $(grep -oE "$ADDR" "$2" | head -n3 | tr '\n' ' ')"
  fi
}
scan "no-address log" "$PLOG"
scan "no-address metrics" "$OUT/metrics.txt"
scan "no-address api" "$OUT/api_status.json"
echo "live_demo_check: masked addresses (***@) seen: processor log $(grep -c '\*\*\*@' "$PLOG" 2>/dev/null)," \
     "metrics $(grep -c '\*\*\*@' "$OUT/metrics.txt" 2>/dev/null), api/status $(grep -o '\*\*\*@' "$OUT/api_status.json" 2>/dev/null | wc -l)"

summary
exit "$failed"
