#!/usr/bin/env python3
"""Extracts every PromQL expression used by the dashboards and the alert rules.

    python3 ops/expressions.py            writes ops/expressions.txt (one expression per line)
    python3 ops/expressions.py --check    fails if ops/expressions.txt is not up to date
    python3 ops/expressions.py --sources  prints KIND<TAB>WHERE<TAB>EXPRESSION for every use

ops/expressions.txt is ready to evaluate: Grafana's variables are replaced by fixed values
($job, $instance, $tenant, $vendor -> ".*", $__rate_interval -> 1m, $__range -> 1h), each
expression is on one line (whitespace collapsed) and appears once, in the order of first use.
Template-variable queries contribute the selector inside label_values(...).

KIND says what a live Prometheus scraping a processor that has handled traffic must return
(ops/prom_live_check.sh):
  data   a dashboard query or variable selector: must return at least one series;
  event  a dashboard query that selects something a healthy processor may never have seen
         (see EVENT_SPECIFIC): must parse; no data is reported, not failed;
  rule   an alert rule expression: it returns series only while something is wrong, so it
         must parse; its result is not checked.
"""
import json
import pathlib
import re
import sys

import yaml

OPS = pathlib.Path(__file__).resolve().parent
DASHBOARDS = sorted((OPS / "grafana" / "dashboards").glob("*.json"))
ALERTS = OPS / "prometheus" / "alerts.yml"
OUT = OPS / "expressions.txt"

SUBSTITUTIONS = [
    ("$__rate_interval", "1m"),
    ("$__range", "1h"),
    ("$__interval", "1m"),
    ("$job", ".*"),
    ("$instance", ".*"),
    ("$tenant", ".*"),
    ("$vendor", ".*"),
]
# Selections that only have data after a specific event. A test processor fed the demo traffic
# may or may not have paused an IP towards a filter within a few seconds.
EVENT_SPECIFIC = [
    re.compile(r'scope="ip_vendor"'),
]


def substitute(expr):
    for var, value in SUBSTITUTIONS:
        expr = expr.replace(var, value)
    leftover = re.search(r"\$\{?\w+", expr)
    if leftover:
        raise SystemExit(f"unknown Grafana variable {leftover.group(0)} in: {expr}")
    return " ".join(expr.split())


def uses():
    """(kind, where, expression) for every use, in file order."""
    out = []
    for path in DASHBOARDS:
        d = json.loads(path.read_text())
        for v in d.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\)\s*", q)
            if not m:
                raise SystemExit(f"{path.name}: variable {v['name']}: unsupported query {q!r}")
            out.append(("data", f"{path.name} variable {v['name']}", substitute(m.group(1))))
        for p in d.get("panels", []):
            for t in p.get("targets", []):
                e = substitute(t["expr"])
                kind = "event" if any(r.search(e) for r in EVENT_SPECIFIC) else "data"
                out.append((kind, f"{path.name} panel {p['id']} {p['title']!r} {t['refId']}", e))
    for g in yaml.safe_load(ALERTS.read_text())["groups"]:
        for r in g["rules"]:
            name = r.get("alert") or r.get("record")
            out.append(("rule", f"alerts.yml {g['name']} {name}", substitute(r["expr"])))
    return out


def expressions():
    seen, order = set(), []
    for _, _, e in uses():
        if e not in seen:
            seen.add(e)
            order.append(e)
    return order


def main():
    args = sys.argv[1:]
    if "--sources" in args:
        for kind, where, e in uses():
            print(f"{kind}\t{where}\t{e}")
        return 0
    text = "\n".join(expressions()) + "\n"
    if "--check" in args:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python3 ops/expressions.py")
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
