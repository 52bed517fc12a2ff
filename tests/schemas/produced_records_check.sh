#!/usr/bin/env bash
# Validates records the product really produced against schemas/*.schema.json.
#
#   produced_records_check.sh BOUNCESTREAM_BINARY OUTDIR
#
# Starts a dev broker and `bouncestream run` (with an admin token), produces every file of
# tests/testdata/ (one record per line, each file to one partition so that line formats keep
# their order: PowerMTA's header first) plus generated traffic in which every decision kind
# appears and a few undecodable records; lifts a suppression, an IP pause and an alert and erases
# a recipient through the admin topic of the running group; stops the processor and lifts a
# domain pause offline (`state lift --state-dir`, published); then dumps every output topic
# (`kcat -J -e`) to OUTDIR/topics and checks them with produced_records.py check: each value
# against its schema, keys as documented, tombstones (counted, not validated), DLQ headers, and
# that no topic is unexpectedly empty. Exit 0 = all valid. Needs kcat, /usr/bin/python3 with
# python3-jsonschema and python3-confluent-kafka. OUTDIR is wiped first and kept afterwards.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
BIN=$(realpath "$1")
OUT=$2
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
HELPER="$PY $HERE/produced_records.py"
GROUP=schemas-produced
KCAT=$(command -v kcat || true)
[[ -n "$KCAT" ]] || { echo "kcat is missing (apt-get install kcat)" >&2; exit 1; }
$PY -c 'import jsonschema, confluent_kafka' ||
  { echo "needs python3-jsonschema and python3-confluent-kafka for $PY" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/topics" "$OUT/logs"
OUT=$(realpath "$OUT")

BROKER_PID=
PROC_PID=
cleanup() {
  # Only the processes this script started, by pid.
  if [[ -n "$PROC_PID" ]] && kill -0 "$PROC_PID" 2>/dev/null; then kill -KILL "$PROC_PID"; fi
  if [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null; then kill -TERM "$BROKER_PID"; fi
  wait 2>/dev/null || true
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  echo "--- processor log (tail) ---" >&2
  tail -n 30 "$OUT/logs/processor.log" >&2 2>/dev/null || true
  exit 1
}

# waits up to $1 seconds for the command "${@:2}" to succeed
wait_for() {
  local secs=$1; shift
  local until=$((SECONDS + secs))
  while ! "$@"; do
    (( SECONDS < until )) || return 1
    sleep 0.3
  done
}

topics=(bounces.in:3 bouncestream.classified:3 bouncestream.dlq:1 bouncestream.suppressions:3
        bouncestream.blocks:1 bouncestream.alerts:1 bouncestream.audit:1 bouncestream.admin:1
        "$GROUP-state-changelog:3")
args=()
for t in "${topics[@]}"; do args+=(--topic "$t"); done
"$BIN" devbroker --port 0 "${args[@]}" --bootstrap-file "$OUT/bootstrap" \
  >"$OUT/logs/broker.log" 2>&1 &
BROKER_PID=$!
wait_for 20 test -s "$OUT/bootstrap" || fail "the dev broker wrote no bootstrap file"
B=$(head -n 1 "$OUT/bootstrap")
echo "broker $B"

# The admin token: random, in a file for the CLI, in the environment for the processor.
umask 077
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$OUT/admin.token"
umask 022

start_processor() {
  BOUNCESTREAM_ADMIN_TOKEN=$(cat "$OUT/admin.token") \
    "$BIN" run --bootstrap "$B" --group "$GROUP" --input bounces.in:auto \
    --state-dir "$OUT/state" --metrics-addr 127.0.0.1:0 >>"$OUT/logs/processor.log" 2>&1 &
  PROC_PID=$!
}
partitions_ready() {
  kill -0 "$PROC_PID" 2>/dev/null || fail "the processor exited"
  [[ $(grep -c '"state partition ready"' "$OUT/logs/processor.log" || true) -ge 3 ]]
}
start_processor
wait_for 90 partitions_ready || fail "the processor did not get its 3 state partitions"
sleep 1  # the admin consumer (from the end of the admin topic) is fetching by now

produce() {  # produce PARTITION FILE: one record per line
  "$KCAT" -P -q -b "$B" -t bounces.in -p "$1" -z none <"$2" ||
    fail "kcat could not produce $2"
}
i=0
for f in "$ROOT"/tests/testdata/*; do
  produce $((i % 3)) "$f"
  i=$((i + 1))
done
$HELPER generate "$OUT" >/dev/null
produce 0 "$OUT/malformed.txt"
# The generated traffic by recipient domain, as a keyed producer would place it.
"$KCAT" -P -q -b "$B" -t bounces.in -K $'\t' -z none < <(
  $PY -c 'import json, sys
for line in open(sys.argv[1]):
    print(json.loads(line)["recipient"].split("@")[1] + "\t" + line.rstrip("\n"))' \
    "$OUT/traffic.ndjson") || fail "kcat could not produce the traffic"

dump() {  # dump TOPIC: every record to its end, as kcat JSON envelopes
  "$KCAT" -C -q -b "$B" -t "$1" -o beginning -e -J >"$OUT/topics/$1.kcat.jsonl" ||
    fail "kcat could not read $1"
}
count() { $HELPER count "$OUT/topics/$1.kcat.jsonl"; }
at_least() {  # at_least N TOPIC
  kill -0 "$PROC_PID" 2>/dev/null || fail "the processor exited"
  dump "$2"
  [[ $(count "$2") -ge $1 ]]
}
$HELPER caught-up "$B" "$GROUP" 90 || fail "the processor did not process its input"
for t in bouncestream.suppressions bouncestream.blocks bouncestream.alerts; do
  wait_for 30 at_least 1 "$t" || fail "$t is empty after the traffic"
done
wait_for 30 at_least 2 bouncestream.blocks || fail "bouncestream.blocks: not both pauses"

# Operator actions for the running group: signed commands on the admin topic.
state_admin() {
  "$BIN" state "$@" --bootstrap "$B" --admin-token-file "$OUT/admin.token" \
    >>"$OUT/logs/state-cli.log" 2>&1 || fail "bouncestream state $1 failed"
}
SUPPRESS=$($HELPER pick "$OUT" suppress) || fail "no suppression to lift"
PAUSE_IP=$($HELPER pick "$OUT" pause-ip) || fail "no IP pause to lift"
PAUSE_DOMAIN=$($HELPER pick "$OUT" pause-domain) || fail "no domain pause to lift"
ALERT=$($HELPER pick "$OUT" alert) || fail "no alert to lift"
state_admin lift --note "ticket OPS-1: address restored" "$SUPPRESS"
state_admin lift --note "delisted at spamcop" "$PAUSE_IP"
state_admin lift --note "SPF fixed" "$ALERT"
state_admin erase --tenant acme erase.me@gdpr-dest.example
wait_for 30 at_least 4 bouncestream.audit || fail "the running group wrote no audit records"

# Stop the processor (SIGTERM: flush, commit, exit 0), then an offline lift that publishes.
kill -TERM "$PROC_PID"
rc=0
wait "$PROC_PID" || rc=$?
PROC_PID=
[[ $rc -eq 0 ]] || fail "the processor exited with $rc on SIGTERM"
"$BIN" state lift --state-dir "$OUT/state" --group "$GROUP" --bootstrap "$B" \
  --note "admin unblocked us" "$PAUSE_DOMAIN" >>"$OUT/logs/state-cli.log" 2>&1 ||
  fail "offline state lift failed"

for t in bouncestream.classified bouncestream.dlq bouncestream.suppressions bouncestream.blocks \
         bouncestream.alerts bouncestream.audit; do
  dump "$t"
done
$HELPER check "$ROOT" "$OUT"
