#!/usr/bin/env bash
# Checks the dashboards' and alert rules' PromQL against a live /metrics endpoint with a real
# Prometheus server (Debian's `prometheus` package):
#
#   ops/prom_live_check.sh [--scrapes N] METRICS_URL      e.g. http://127.0.0.1:9464/metrics
#
# 1. Starts prometheus on 127.0.0.1 (a free port, a temporary TSDB) scraping METRICS_URL every
#    1 s, and waits for N (default 3) successful scrapes.
# 2. Evaluates every expression of `ops/expressions.py --sources` (the lines of
#    ops/expressions.txt, with where each is used) through /api/v1/query. Grafana variables are
#    already replaced there: $__rate_interval -> 1m, $__range -> 1h, which the scrapes cover.
#      - every expression must parse and evaluate (no API error);
#      - "data" expressions (dashboard queries and variable selectors) must return at least one
#        series: the processor must have handled some traffic, e.g. the demo's;
#      - "event" expressions (a dashboard query for an event a healthy processor may not have
#        seen yet, such as an IP paused towards a filter) and "rule" expressions (alert rules,
#        which return series only while something is wrong) must parse; no data is reported.
#      - every series selector inside an alert rule (a name with its {matchers}) must select at
#        least one series, or a wrong name or matcher would keep the alert from ever firing
#        (event-specific selectors, as above, are reported, not failed).
# 3. Compares metric names: the bouncestream_* names used (ops/metric_names.sh) must be exactly
#    those METRICS_URL exposes (a # TYPE line or a sample): a used name that is not exposed and
#    an exposed name that nothing uses both fail.
#
# Exit 0 when all checks pass, 1 otherwise, 2 on usage errors. Only loopback and the given URL
# are contacted; the server is stopped on exit.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
scrapes=3
if [[ "${1:-}" == "--scrapes" ]]; then scrapes="${2:?}"; shift 2; fi
url="${1:-}"
if [[ -z "$url" || ! "$url" =~ ^(https?)://([^/]+)(/.*)?$ ]]; then
  echo "usage: $0 [--scrapes N] METRICS_URL   (http://HOST:PORT/metrics)" >&2
  exit 2
fi
scheme="${BASH_REMATCH[1]}" hostport="${BASH_REMATCH[2]}" path="${BASH_REMATCH[3]:-/metrics}"
prom="$(command -v prometheus || true)"
if [[ -z "$prom" ]]; then
  echo "prom_live_check: the prometheus binary is missing (apt-get install prometheus)" >&2
  exit 1
fi

tmp="$(mktemp -d)"
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat > "$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: bouncestream
    scheme: $scheme
    metrics_path: "$path"
    static_configs:
      - targets: ["$hostport"]
EOF
"$prom" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn > "$tmp/prometheus.log" 2>&1 &
pid=$!

python3 "$here/expressions.py" --sources > "$tmp/sources.tsv"
"$here/metric_names.sh" > "$tmp/used.txt"

python3 - "$port" "$url" "$scrapes" "$tmp" "$pid" <<'PY'
import json, re, sys, time, urllib.error, urllib.parse, urllib.request, os

port, metrics_url, scrapes, tmp, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
api = f"http://127.0.0.1:{port}/api/v1/query"

def query(expr):
    data = urllib.parse.urlencode({"query": expr}).encode()
    try:
        with urllib.request.urlopen(api, data=data, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return json.load(e)
        except ValueError:
            return {"status": "error", "error": f"HTTP {e.code}"}

def alive():
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False

# Wait for the server, then for enough successful scrapes.
deadline = time.time() + 60
while True:
    if not alive():
        print("prom_live_check: prometheus exited:\n" + open(f"{tmp}/prometheus.log").read())
        sys.exit(1)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2).read()
        break
    except (urllib.error.URLError, ConnectionError):
        if time.time() > deadline:
            print("prom_live_check: prometheus did not become ready")
            sys.exit(1)
        time.sleep(0.2)
while True:
    r = query('sum_over_time(up{job="bouncestream"}[5m])')
    got = r.get("data", {}).get("result", [])
    n = float(got[0]["value"][1]) if got else 0
    if n >= scrapes:
        break
    if time.time() > deadline:
        t = query('up{job="bouncestream"}')
        print(f"prom_live_check: only {n:.0f} successful scrape(s) of {metrics_url} in 60 s "
              f"(up = {t.get('data', {}).get('result')}); check the URL")
        sys.exit(1)
    time.sleep(0.5)
print(f"prom_live_check: {n:.0f} scrapes of {metrics_url} by prometheus on 127.0.0.1:{port}")

# Evaluate every expression; the strictest requirement wins when one is used several times.
rank = {"data": 2, "event": 1, "rule": 0}
exprs = {}
for line in open(f"{tmp}/sources.tsv"):
    kind, where, expr = line.rstrip("\n").split("\t")
    k, w = exprs.get(expr, ("rule", []))
    exprs[expr] = (kind if rank[kind] > rank[k] else k, w + [where])
failures, notes = [], []
counts = {"data": 0, "event": 0, "rule": 0, "selector": 0}
# Series selectors of an alert expression: a metric name with its optional {matchers}.
SELECTOR = re.compile(r'\b(?:bouncestream_[a-z0-9_]*[a-z0-9]|up)\b(?:\s*\{[^}]*\})?(?!\s*\()')
EVENT_SPECIFIC = [re.compile(r'scope="ip_vendor"')]  # as in ops/expressions.py
for expr, (kind, wheres) in exprs.items():
    counts[kind] += 1
    r = query(expr)
    if r.get("status") != "success":
        failures.append(f"ERROR  {r.get('errorType', '')} {r.get('error')}\n       {expr}\n       used in: {'; '.join(wheres)}")
        continue
    result = r["data"]["result"]
    empty = (not result) if isinstance(result, list) else False
    if empty and kind == "data":
        failures.append(f"NODATA {expr}\n       used in: {'; '.join(wheres)}")
    elif empty and kind == "event":
        notes.append(f"no data (allowed: event-specific): {expr}")
    if kind == "rule":
        # An alert returns nothing while all is well, but each series selector in it must
        # select something, or a wrong name or label matcher would keep it from ever firing.
        for sel in sorted(set(m.group(0) for m in SELECTOR.finditer(expr))):
            counts["selector"] += 1
            r = query(f"count(last_over_time({sel}[5m]))")
            if r.get("status") != "success":
                failures.append(f"ERROR  {r.get('errorType', '')} {r.get('error')}\n       {sel}\n       in: {expr}")
            elif not r["data"]["result"]:
                if any(e.search(sel) for e in EVENT_SPECIFIC):
                    notes.append(f"no series (allowed: event-specific) for {sel} in an alert rule")
                else:
                    failures.append(f"NOSERIES {sel} selects nothing (the alert cannot fire)\n       in: {expr}\n       used in: {'; '.join(wheres)}")

# Metric names: used vs exposed.
with urllib.request.urlopen(metrics_url, timeout=10) as r:
    text = r.read().decode("utf-8", "replace")
types = dict(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
exposed = set(types)
for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{|\s)", text, re.M):
    name = m.group(1)
    for suffix in ("_bucket", "_sum", "_count", "_created", "_total"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and types.get(base) in ("histogram", "summary") and suffix != "_total":
            name = base
            break
    exposed.add(name)
exposed = {n for n in exposed if n.startswith("bouncestream_")}
used = {l.strip() for l in open(f"{tmp}/used.txt") if l.strip()}
for n in sorted(used - exposed):
    failures.append(f"MISSING {n} is used by the dashboards/alerts but not exposed by {metrics_url}")
unused = sorted(exposed - used)
for n in unused:
    failures.append(f"UNUSED {n} is exposed by {metrics_url} but used by no dashboard or alert")

for n in notes:
    print("note:", n)
if not unused:
    print("every exposed bouncestream_* metric is used by a dashboard or an alert")
print(f"expressions: {len(exprs)} evaluated ({counts['data']} must return data, "
      f"{counts['event']} event-specific, {counts['rule']} alert rules with "
      f"{counts['selector']} series selectors that must select something); "
      f"metric names: {len(used)} used, {len(exposed)} exposed")
for f in failures:
    print("FAIL", f)
checked = len(exprs) + counts["selector"] + len(used | exposed)
print(f"{checked - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
PY
