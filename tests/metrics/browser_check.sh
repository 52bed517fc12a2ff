#!/usr/bin/env bash
# Loads the bouncestream status page in headless Chromium, takes a screenshot and dumps the DOM
# twice a few seconds apart, then checks that the figures are rendered (non-empty, numeric), the
# charts are drawn, and the live figures changed between the two dumps.
#
#   tests/metrics/browser_check.sh URL OUTDIR
#     URL     the page, e.g. http://127.0.0.1:9464/  (a running `bouncestream run` or demo)
#     OUTDIR  where status.png, dom1.html and dom2.html are written
#   env: CHROMIUM (default /usr/bin/chromium), BROWSER_WAIT_MS (virtual time per load, 7000),
#        BROWSER_GAP_S (seconds between the two dumps, 4)
# Exit 0 when every check passes, 1 otherwise (a missing Chromium is a failure, not a skip).
set -u

if [[ $# -ne 2 ]]; then
  echo "usage: $0 URL OUTDIR" >&2
  exit 2
fi
URL=$1
OUT=$2
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
WAIT_MS=${BROWSER_WAIT_MS:-7000}
GAP_S=${BROWSER_GAP_S:-4}

if [[ ! -x "$CHROMIUM" ]]; then
  echo "FAIL: Chromium not found at $CHROMIUM: install the Debian package 'chromium'" \
       "(apt-get install chromium) or set CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
mkdir -p "$OUT" || exit 1
PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT

chromium() {
  # A fresh profile per run; no first-run UI, no network services besides URL.
  timeout 90 "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage \
    --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
    --hide-scrollbars --mute-audio --user-data-dir="$PROFILE/$1" \
    --window-size=1400,1150 --virtual-time-budget="$WAIT_MS" "${@:2}" "$URL" 2>"$OUT/chromium-$1.log"
}

fail=0
check() {  # check CONDITION_EXIT_CODE MESSAGE
  if [[ $1 -eq 0 ]]; then echo "ok   $2"; else echo "FAIL $2"; fail=1; fi
}

chromium dump1 --dump-dom > "$OUT/dom1.html"
check $? "first DOM dump ($OUT/dom1.html)"
sleep "$GAP_S"
chromium dump2 --dump-dom > "$OUT/dom2.html"
check $? "second DOM dump ($OUT/dom2.html)"
chromium shot --screenshot="$OUT/status.png" > /dev/null
[[ -s "$OUT/status.png" ]] && [[ "$(head -c 8 "$OUT/status.png" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]]
check $? "screenshot is a PNG ($OUT/status.png)"

# The text of the element with id=$2 in file $1 (figures are leaf elements).
figure() {
  grep -o "id=\"$2\"[^>]*>[^<]*<" "$1" | head -n1 | sed -e 's/^[^>]*>//' -e 's/<$//'
}
is_number() {
  local v=${1//,/}
  [[ "$v" =~ ^-?[0-9]+(\.[0-9]+)?$ ]]
}

for id in events-per-second total-events classified-events dead-letters total-decisions consumer-lag; do
  for dom in dom1 dom2; do
    v=$(figure "$OUT/$dom.html" "$id")
    is_number "$v"
    check $? "$dom #$id is numeric ('$v')"
  done
done
for dom in dom1 dom2; do
  v=$(figure "$OUT/$dom.html" ready-state)
  [[ -n "$v" && "$v" != "…" ]]
  check $? "$dom #ready-state is rendered ('$v')"
  polls=$(grep -o 'data-polls="[0-9]*"' "$OUT/$dom.html" | grep -o '[0-9]*')
  [[ "${polls:-0}" -ge 2 ]]
  check $? "$dom polled /api/status at least twice (${polls:-0})"
done

t1=$(figure "$OUT/dom1.html" total-events); t1=${t1//,/}
t2=$(figure "$OUT/dom2.html" total-events); t2=${t2//,/}
is_number "$t1" && is_number "$t2" && awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(b > a) }'
check $? "#total-events grew between the dumps ($t1 -> $t2)"
changed=0
for id in events-per-second classified-events consumer-lag total-decisions; do
  [[ "$(figure "$OUT/dom1.html" $id)" != "$(figure "$OUT/dom2.html" $id)" ]] && changed=$((changed + 1))
done
[[ $changed -ge 1 ]]
check $? "other live figures changed between the dumps ($changed of 4)"

grep -q '<polyline' "$OUT/dom2.html"
check $? "events/s chart is drawn (#events-chart polyline)"
grep -o '<svg id="blocks-by-party".*</svg>' "$OUT/dom2.html" | grep -q '<rect'
check $? "party chart has bars (#blocks-by-party)"
grep -o '<svg id="blocks-by-vendor".*</svg>' "$OUT/dom2.html" | grep -q '<rect\|no blocks yet'
check $? "vendor chart is drawn (#blocks-by-vendor)"
grep -q 'id="decisions-body"' "$OUT/dom2.html"
check $? "decisions table is present"
! grep -q 'id="banner" style="display: block' "$OUT/dom2.html"
check $? "page reached /api/status (no disconnected banner)"

if [[ $fail -ne 0 ]]; then
  echo "browser check FAILED for $URL (files in $OUT)" >&2
  exit 1
fi
echo "browser check passed for $URL (screenshot $OUT/status.png)"
