#!/usr/bin/env bash
# CTest `benchmarks_smoke` (label bench): every benchmark of run.sh at a small N, one run each,
# with its reference check. It fails on a wrong result (a benchmark's check exits 1, or a
# benchmark does not run), never on speed: no figure is compared with anything.
#   bash benchmarks/smoke.sh BENCH_BIN_DIR
# BENCH_BIN_DIR holds classify_bench, stream_bench, state_bench, redos_bench, path_bench and
# e2e_bench of the build under test (the ci preset in CI). The probes of ../shared/perf-probe
# are not needed: the gen_bounces-shaped input of classify_bench and state_bench is written here.
set -euo pipefail
BIN=${1:?usage: smoke.sh BENCH_BIN_DIR}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-smoke.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/data" "$WORK/none"
# Nothing from other runs is picked up (state_bench synthesises its events unless it finds
# $BOUNCESTREAM_BENCH_DIR/bounces.ndjson or /tmp/perf-probe/bounces.ndjson).
export TMPDIR=$WORK BOUNCESTREAM_BENCH_DIR=$WORK/none

# A few records in gen_bounces' format (classify_bench mixes our acceptance-table texts in).
cat > "$WORK/data/bounces.ndjson" <<'EOF'
{"ts":1732300000001,"msg_id":"a.0@mta8.esp-mail.net","sender":"offers@belve.it","recipient":"razenmu_108@gmail.com","rcpt_domain":"gmail.com","smtp_code":550,"enhanced":"5.2.1","remote_ip":"147.52.194.167","ip_pool":"dedicated-a","campaign":"c-1","attempt":2,"diagnostic":"smtp; 550-5.2.1 The email account that you tried to reach is disabled. 8774988f1803d-03ae5f6ebfsi9832568pjb.391 - gsmtp"}
{"ts":1732300000002,"msg_id":"b.1@mta20.esp-mail.net","sender":"marketing@galqu.nl","recipient":"priya2412@yahoo.com","rcpt_domain":"yahoo.com","smtp_code":552,"enhanced":"","remote_ip":"98.136.96.91","ip_pool":"shared-1","campaign":"c-2","attempt":1,"diagnostic":"552 1 Requested mail action aborted, mailbox not found"}
{"ts":1732300000003,"msg_id":"c.2@mta3.esp-mail.net","sender":"news@shop.example","recipient":"jo@fabrikam.example","rcpt_domain":"fabrikam.example","smtp_code":550,"enhanced":"","remote_ip":"192.0.2.50","ip_pool":"dedicated-b","campaign":"c-3","attempt":1,"diagnostic":"550 Envelope blocked - User Entry - https://community.mimecast.com/docs/DOC-1369#550 [gz1V.au11]"}
{"ts":1732300000004,"msg_id":"d.3@mta3.esp-mail.net","sender":"news@shop.example","recipient":"al@contoso.example","rcpt_domain":"contoso.example","smtp_code":550,"enhanced":"5.7.606","remote_ip":"192.0.2.31","ip_pool":"dedicated-b","campaign":"c-3","attempt":1,"diagnostic":"550 5.7.606 Access denied, banned sending IP [198.51.100.7]. AS(1430)"}
{"ts":1732300000005,"msg_id":"e.4@mta1.esp-mail.net","sender":"news@shop.example","recipient":"kim@example.net","rcpt_domain":"example.net","smtp_code":451,"enhanced":"4.7.1","remote_ip":"192.0.2.80","ip_pool":"shared-1","campaign":"c-4","attempt":3,"diagnostic":"451 4.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org"}
EOF

t0=$SECONDS
step() {  # name, command...
  local name=$1 t=$SECONDS
  shift
  if ! "$@" > "$WORK/$name.log" 2>&1; then
    cat "$WORK/$name.log"
    echo "benchmarks_smoke: $name FAILED: $*" >&2
    exit 1
  fi
  grep -E '^(check|reference|ours_|run [0-9])' "$WORK/$name.log" | cut -c1-160 || true
  echo "benchmarks_smoke: $name ok ($(( SECONDS - t )) s)"
}
step classify "$BIN/classify_bench" "$WORK/data/bounces.ndjson" 5 1
step stream "$BIN/stream_bench" 3000 1 3000 1 decode,pipeline,e2e
step state "$BIN/state_bench" "" 6000 1 1000
step redos "$BIN/redos_bench" 65536 1
step path "$BIN/path_bench" 4000 1 1 1000 4000
step path_x16 "$BIN/path_bench" 2000 1 16 1000 2000
step e2e_1 "$BIN/e2e_bench" 6000 1 1 1 3000
step e2e_2 "$BIN/e2e_bench" 6000 1 2 4 3000
echo "benchmarks_smoke: all checks passed in $(( SECONDS - t0 )) s"
