#!/usr/bin/env bash
# Runs every offline validation of ops/ and exits non-zero if any fails:
#
#   bash ops/check.sh
#
# Installs what is missing: Debian packages (prometheus for promtool and the server, yamllint,
# python3-yaml, golang-go, shellcheck, nodejs, npm, systemd) with apt-get, and the npm validators
# pinned in ops/tools/package-lock.json into ops/.tools (git-ignored). Nothing else is fetched;
# the live expression check talks to 127.0.0.1 only.
set -uo pipefail
ops="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$ops/.." && pwd)"
cd "$root" || exit 1

# ---- tools -----------------------------------------------------------------------------
# Debian package -> a file it provides.
declare -A need=(
  [prometheus]=/usr/bin/promtool [yamllint]=/usr/bin/yamllint [python3-yaml]=/usr/lib/python3/dist-packages/yaml/__init__.py
  [golang-go]=/usr/bin/go [shellcheck]=/usr/bin/shellcheck [nodejs]=/usr/bin/node [npm]=/usr/bin/npm
  [systemd]=/usr/bin/systemd-analyze [curl]=/usr/bin/curl
)
missing=()
for p in "${!need[@]}"; do [[ -e "${need[$p]}" ]] || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "check: installing ${missing[*]}" >&2
  SUDO=""; [[ "$(id -u)" -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  # --no-install-recommends keeps the prometheus package from pulling in exporters; the package
  # enables a service, which stays stopped on machines without systemd as PID 1.
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || exit 1
fi
# Debian's python3 (with python3-yaml), whatever python3 comes first on PATH.
PY=/usr/bin/python3
[[ -x "$PY" ]] || PY=python3

tools="$ops/.tools"
if ! cmp -s "$ops/tools/package-lock.json" "$tools/package-lock.json" || [[ ! -d "$tools/node_modules" ]]; then
  echo "check: installing the npm validators into ops/.tools" >&2
  mkdir -p "$tools"
  cp "$ops/tools/package.json" "$ops/tools/package-lock.json" "$tools/"
  (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || exit 1
fi
export PATH="$tools/node_modules/.bin:$PATH"

tmp="$(mktemp -d)"
bgpid=""
cleanup() {
  if [[ -n "$bgpid" ]]; then kill "$bgpid" 2>/dev/null; wait "$bgpid" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- steps -----------------------------------------------------------------------------
passed=0 failed=0 failures=()
step() {  # step NAME COMMAND...: runs COMMAND, shows its output only when it fails
  local name="$1"; shift
  if "$@" > "$tmp/step.out" 2>&1; then
    passed=$((passed + 1)); printf 'ok    %s\n' "$name"
  else
    failed=$((failed + 1)); failures+=("$name"); printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$tmp/step.out"
  fi
}

# Shell and YAML.
step "shellcheck ops/*.sh" shellcheck "$ops"/*.sh "$ops"/helm/render.sh
step "yamllint ops/" yamllint -s -c "$ops/.yamllint" ops

# Prometheus: rules, rule unit tests, configs.
step "promtool check rules alerts.yml" promtool check rules "$ops/prometheus/alerts.yml"
step "promtool test rules alerts_test.yml" promtool test rules "$ops/prometheus/alerts_test.yml"
step "promtool check config prometheus.yml" promtool check config "$ops/prometheus/prometheus.yml"
k8s_prom() {  # Debian's promtool has no Kubernetes discovery: check a copy with static targets
  mkdir -p "$tmp/prom" && cp "$ops/prometheus/alerts.yml" "$tmp/prom/"
  sed 's/^    kubernetes_sd_configs:/    static_configs:/; s/^      - role: pod/      - targets: []/' \
    "$ops/prometheus/prometheus-kubernetes.yml" > "$tmp/prom/prometheus.yml"
  promtool check config "$tmp/prom/prometheus.yml"
}
step "promtool check config prometheus-kubernetes.yml" k8s_prom
alerts_meta() {  # every alert: severity, summary, description, runbook_url with an anchor in runbook.md
  "$PY" - "$ops" <<'PY'
import re, sys, yaml
ops = sys.argv[1]
runbook = open(f"{ops}/runbook.md").read()
anchors = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", runbook, re.M)}
bad = 0
names = []
for g in yaml.safe_load(open(f"{ops}/prometheus/alerts.yml"))["groups"]:
    for r in g["rules"]:
        names.append(r["alert"])
        a, l = r.get("annotations", {}), r.get("labels", {})
        for k in ("summary", "description", "runbook_url"):
            if not a.get(k):
                print(f"{r['alert']}: no {k}"); bad += 1
        if l.get("severity") not in ("page", "ticket"):
            print(f"{r['alert']}: severity must be page or ticket"); bad += 1
        m = re.search(r"ops/runbook\.md#([a-z0-9-]+)$", a.get("runbook_url", ""))
        if not m or m.group(1) not in anchors:
            print(f"{r['alert']}: runbook_url {a.get('runbook_url')!r} has no heading in ops/runbook.md"); bad += 1
tests = open(f"{ops}/prometheus/alerts_test.yml").read()
for n in names:  # each alert tested firing (exp_alerts with labels) and not firing (exp_alerts: [])
    t = yaml.safe_load(tests)
    cases = [c for test in t["tests"] for c in test.get("alert_rule_test", []) if c["alertname"] == n]
    if not any(c.get("exp_alerts") for c in cases) or not any(not c.get("exp_alerts") for c in cases):
        print(f"{n}: alerts_test.yml must test it both firing and not firing"); bad += 1
print(f"{len(names)} alerts")
sys.exit(1 if bad else 0)
PY
}
step "alerts: labels, annotations, runbook entries, firing + not-firing tests" alerts_meta

# Grafana dashboards.
step "dashboards match generate_dashboards.py" "$PY" "$ops/grafana/generate_dashboards.py" --check
step "dashboards: uid, DS_PROMETHEUS, variables, layout, metric names (check_dashboards.py)" \
  "$PY" "$ops/grafana/check_dashboards.py"
grafana_tsc() {
  node "$ops/grafana/typecheck.mjs" "$tmp/grafana" "$ops"/grafana/dashboards/*.json &&
    ln -sfn "$tools/node_modules" "$tmp/grafana/node_modules" &&
    tsc -p "$tmp/grafana"
}
step "dashboards type-check against @grafana/schema (tsc)" grafana_tsc

# PromQL expressions.
step "expressions.txt is up to date" "$PY" "$ops/expressions.py" --check
parse_all() {  # every expression parses: promtool checks them as recording rules
  "$PY" - "$ops/expressions.txt" "$tmp/exprs.yml" <<'PY'
import sys, yaml
exprs = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
rules = [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(exprs)]
yaml.safe_dump({"groups": [{"name": "expressions", "rules": rules}]}, open(sys.argv[2], "w"))
PY
  promtool check rules "$tmp/exprs.yml"
}
step "every expression parses (promtool)" parse_all
names_contract() {  # metric_names.sh output == names of METRICS.md used; all in the contract
  "$ops/metric_names.sh" > "$tmp/used.txt" || return 1
  # shellcheck disable=SC2016  # backquotes are Markdown
  grep -oE '^\| `bouncestream_[a-z0-9_]+`' "$root/metrics/METRICS.md" | grep -oE 'bouncestream_[a-z0-9_]+' |
    sort -u > "$tmp/contract.txt"
  local extra; extra="$(comm -23 "$tmp/used.txt" "$tmp/contract.txt")"
  [[ -z "$extra" ]] || { echo "used but not in metrics/METRICS.md: $extra"; return 1; }
  echo "unused metrics of METRICS.md: $(comm -13 "$tmp/used.txt" "$tmp/contract.txt" | tr '\n' ' ')"
}
step "metric_names.sh: every name is in metrics/METRICS.md" names_contract
live_fake() {  # a real Prometheus against a fake /metrics built from METRICS.md
  mkdir -p "$tmp/www" && "$PY" "$ops/testdata/fake_metrics.py" > "$tmp/www/metrics" || return 1
  promtool check metrics < "$tmp/www/metrics" || return 1
  local port
  port="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$PY" -m http.server --bind 127.0.0.1 --directory "$tmp/www" "$port" > "$tmp/http.log" 2>&1 &
  bgpid=$!
  local rc=0
  bash "$ops/prom_live_check.sh" "http://127.0.0.1:$port/metrics" || rc=1
  kill "$bgpid" 2>/dev/null; wait "$bgpid" 2>/dev/null; bgpid=""
  return $rc
}
step "prom_live_check.sh against a fake /metrics of METRICS.md" live_fake

# systemd.
systemd_verify() {  # verify a copy whose ExecStart points at a stub (the binary is not installed)
  mkdir -p "$tmp/systemd" && printf '#!/bin/sh\nexit 0\n' > "$tmp/systemd/bouncestream" &&
    chmod +x "$tmp/systemd/bouncestream" &&
    sed "s#^ExecStart=/usr/bin/bouncestream #ExecStart=$tmp/systemd/bouncestream #" \
      "$ops/systemd/bouncestream.service" > "$tmp/systemd/bouncestream.service" || return 1
  grep -q "^ExecStart=$tmp/systemd/bouncestream run " "$tmp/systemd/bouncestream.service" || {
    echo "ExecStart must be /usr/bin/bouncestream run ..."; return 1; }
  # verify only warns about unknown keys: any output is a failure
  local out; out="$(systemd-analyze verify "$tmp/systemd/bouncestream.service" 2>&1)" || { echo "$out"; return 1; }
  [[ -z "$out" ]] || { echo "$out"; return 1; }
}
step "systemd-analyze verify bouncestream.service" systemd_verify
env_file() {  # only BOUNCESTREAM_* assignments; secrets only as *_FILE paths
  local bad
  bad="$(grep -vE '^\s*(#|$)' "$ops/systemd/bouncestream.env" | grep -vE '^BOUNCESTREAM_[A-Z0-9_]+=' || true)"
  [[ -z "$bad" ]] || { echo "not a BOUNCESTREAM_* assignment: $bad"; return 1; }
  bad="$(grep -E '^BOUNCESTREAM_[A-Z0-9_]*(PASSWORD|SECRET|TOKEN|HMAC_KEY|PASSPHRASE)=' "$ops/systemd/bouncestream.env" || true)"
  [[ -z "$bad" ]] || { echo "secret value in the environment file (use *_FILE): $bad"; return 1; }
}
step "bouncestream.env: BOUNCESTREAM_* only, secrets as files" env_file

# Kubernetes and Helm.
step "helm/rendered matches the chart (render.sh --check)" bash "$ops/helm/render.sh" --check
k8s_validate() {
  bash "$ops/helm/render.sh" --values "$ops/helm/ci-values.yaml" > "$tmp/ci-values.rendered.yaml" || return 1
  yamllint -s -c "$ops/.yamllint" "$tmp/ci-values.rendered.yaml" || return 1
  "$PY" - "$tmp/k8s.json" "$ops"/k8s/*.yaml "$ops"/helm/rendered/*.yaml "$tmp/ci-values.rendered.yaml" <<'PY' || return 1
import json, sys, tomllib, yaml
out, bad = [], 0
for f in sys.argv[2:]:
    for d in yaml.safe_load_all(open(f)):
        if d is None:
            continue
        out.append({"file": f, "doc": d})
        kind = d.get("kind")
        if kind == "ConfigMap":
            for k, v in d.get("data", {}).items():
                if k.endswith(".toml"):
                    try:
                        tomllib.loads(v)
                    except tomllib.TOMLDecodeError as e:
                        print(f"{f}: {k}: {e}"); bad += 1
        if kind == "StatefulSet":
            spec = d["spec"]["template"]["spec"]
            if not spec.get("securityContext", {}).get("runAsNonRoot"):
                print(f"{f}: pod securityContext.runAsNonRoot must be true"); bad += 1
            if not d["spec"].get("volumeClaimTemplates"):
                print(f"{f}: no volumeClaimTemplates"); bad += 1
            ann = d["spec"]["template"]["metadata"].get("annotations", {})
            if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != "9464":
                print(f"{f}: prometheus.io scrape annotations missing"); bad += 1
            for c in spec["containers"]:
                probes = {p: c.get(p, {}).get("httpGet", {}) for p in ("livenessProbe", "readinessProbe")}
                if probes["livenessProbe"].get("path") != "/healthz" or probes["readinessProbe"].get("path") != "/readyz":
                    print(f"{f}: {c['name']}: liveness /healthz and readiness /readyz probes required"); bad += 1
                if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
                    print(f"{f}: {c['name']}: readOnlyRootFilesystem expected"); bad += 1
                for e in c.get("env", []):  # secrets come as files, never as env or argv
                    if "secretKeyRef" in e.get("valueFrom", {}) or any(w in e["name"] for w in ("PASSWORD", "TOKEN", "HMAC_KEY")) and not e["name"].endswith("_FILE"):
                        print(f"{f}: {c['name']}: secret in env {e['name']}"); bad += 1
                for a in c.get("args", []) + c.get("command", []):
                    if any(w in str(a).lower() for w in ("password", "token", "secret")):
                        print(f"{f}: {c['name']}: secret-like argument {a}"); bad += 1
            if not any("secret" in v for v in spec.get("volumes", [])):
                print(f"{f}: secrets must be mounted from a Secret volume"); bad += 1
json.dump(out, open(sys.argv[1], "w"))
print(f"{len(out)} objects read")
sys.exit(1 if bad else 0)
PY
  # kubernetes-models resolves through ESM imports, so the validator runs from the tools dir.
  cp "$ops/k8s/validate.mjs" "$tools/k8s-validate.mjs" &&
    node "$tools/k8s-validate.mjs" "$tmp/k8s" "$tmp/k8s.json" &&
    ln -sfn "$tools/node_modules" "$tmp/k8s/node_modules" &&
    tsc -p "$tmp/k8s"
}
step "Kubernetes manifests (ops/k8s, helm/rendered, ci-values): schema, unknown fields, policy" k8s_validate

# Dockerfile.
docker_lint() {
  local f="$ops/docker/Dockerfile"
  dockerfile-utils lint "$f" || return 1
  local bad=0
  [[ "$(grep -cE '^FROM ' "$f")" -ge 2 ]] || { echo "multi-stage build expected"; bad=1; }
  grep -qE '^FROM debian:12 AS build' "$f" || { echo "builder must be debian:12"; bad=1; }
  grep -qE '^FROM debian:12-slim$' "$f" || { echo "runtime must be debian:12-slim"; bad=1; }
  grep -qE '^ENTRYPOINT \["bouncestream", "run"\]$' "$f" || { echo 'ENTRYPOINT ["bouncestream", "run"] (exec form) expected'; bad=1; }
  local user; user="$(grep -E '^USER ' "$f" | tail -1 | awk '{print $2}')"
  [[ -n "$user" && "$user" != root && "$user" != 0 && "${user%%:*}" != 0 ]] || { echo "last USER must be non-root"; bad=1; }
  grep -qE '^STOPSIGNAL SIGTERM$' "$f" || { echo "STOPSIGNAL SIGTERM expected"; bad=1; }
  grep -qE '^EXPOSE 9464$' "$f" || { echo "EXPOSE 9464 expected"; bad=1; }
  return $bad
}
step "Dockerfile: dockerfile-utils lint and policy" docker_lint

echo "ops/check.sh: $passed passed, $failed failed"
((failed == 0)) || { printf 'failed: %s\n' "${failures[@]}"; exit 1; }
