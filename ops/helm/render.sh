#!/usr/bin/env bash
# Renders the Helm chart the way `helm template bouncestream ops/helm/bouncestream` would, with
# ops/helm/render.go (Go's text/template + the Sprig functions the chart uses), because helm is
# not available as a Debian or npm package. Needs Debian's golang-go and python3-yaml.
#
#   ops/helm/render.sh                 writes ops/helm/rendered/bouncestream.yaml
#   ops/helm/render.sh --check         fails if the committed rendering is out of date
#   ops/helm/render.sh --values FILE   renders with FILE merged over values.yaml, to stdout
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
chart="$here/bouncestream"
out="$here/rendered/bouncestream.yaml"
mode=write extra=""
case "${1:-}" in
  --check) mode=check ;;
  --values) mode=stdout extra="${2:?--values needs a file}" ;;
  "") ;;
  *) echo "usage: $0 [--check | --values FILE]" >&2; exit 2 ;;
esac

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - "$chart/values.yaml" "$chart/Chart.yaml" "$tmp" "$extra" <<'PY'
import json, sys, yaml
values_path, chart_path, tmp, extra = sys.argv[1:5]
def merge(a, b):
    for k, v in b.items():
        a[k] = merge(a[k], v) if isinstance(v, dict) and isinstance(a.get(k), dict) else v
    return a
values = yaml.safe_load(open(values_path)) or {}
if extra:
    values = merge(values, yaml.safe_load(open(extra)) or {})
json.dump(values, open(f"{tmp}/values.json", "w"))
json.dump(yaml.safe_load(open(chart_path)), open(f"{tmp}/chart.json", "w"))
PY
export GO111MODULE=off GOCACHE="${GOCACHE:-$tmp/gocache}"
go run "$here/render.go" -chart "$chart" -values "$tmp/values.json" -meta "$tmp/chart.json" \
  -release bouncestream -namespace default > "$tmp/out.yaml"
case "$mode" in
  write) mkdir -p "$(dirname "$out")"; cp "$tmp/out.yaml" "$out" ;;
  stdout) cat "$tmp/out.yaml" ;;
  check)
    if ! diff -u "$out" "$tmp/out.yaml"; then
      echo "ops/helm/rendered/bouncestream.yaml is out of date: run ops/helm/render.sh" >&2
      exit 1
    fi ;;
esac
