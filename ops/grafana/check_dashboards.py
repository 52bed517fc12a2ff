#!/usr/bin/env python3
"""Structural checks of the Grafana dashboards and provisioning files (run by ops/check.sh).

* valid JSON; "id": null; a stable, unique uid from EXPECTED_UIDS; schemaVersion >= 39; tags;
* a datasource-type template variable DS_PROMETHEUS (query "prometheus"), and every panel, every
  target and every query variable uses {"type": "prometheus", "uid": "${DS_PROMETHEUS}"};
* tenant and vendor variables: label_values(bouncestream_events_classified_total..., tenant|vendor);
* unique panel ids; unique refIds per panel; gridPos inside the 24 columns, no overlaps;
* every bouncestream_* name in a query is a metric of metrics/METRICS.md (histograms through
  their _bucket/_sum/_count series); every label matcher on it names a label METRICS.md lists;
* the same metric/label check for the expressions of ops/prometheus/alerts.yml;
* the provisioning files point at the dashboards and define the DS_PROMETHEUS data source uid.
"""
import json
import pathlib
import re
import sys

import yaml

OPS = pathlib.Path(__file__).resolve().parent.parent
GRAFANA = OPS / "grafana"
METRICS_MD = OPS.parent / "metrics" / "METRICS.md"
EXPECTED_UIDS = {
    "bouncestream-overview.json": "bouncestream-overview",
    "bouncestream-deliverability.json": "bouncestream-deliverability",
    "bouncestream-state.json": "bouncestream-state",
}
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# Labels every series has after scraping, besides those METRICS.md lists.
TARGET_LABELS = {"job", "instance", "le"}

errors = []


def err(where, msg):
    errors.append(f"{where}: {msg}")


def contract():
    """{metric name: (type, set of labels)} from the METRICS.md table."""
    out = {}
    for line in METRICS_MD.read_text().splitlines():
        m = re.match(r"^\| `(bouncestream_[a-z0-9_]+)` \| ([a-z]+)[^|]*\| ([^|]*) \|", line)
        if not m:
            continue
        # "tenant (allow-list or `other`), party, ..." -> the label names outside parentheses
        text = re.sub(r"\([^)]*\)", "", m.group(3))
        labels = {w.strip() for w in text.split(",") if re.fullmatch(r"\s*[a-z_]+\s*", w)}
        out[m.group(1)] = (m.group(2), labels)
    if len(out) < 20:
        raise SystemExit(f"could not read the metric table of {METRICS_MD}")
    return out


def family(name, metrics):
    if name in metrics:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[: -len(suffix)] if name.endswith(suffix) else None
        if base and metrics.get(base, ("",))[0] == "histogram":
            return base
    return None


def check_expr(where, expr, metrics):
    for m in re.finditer(r"\b(bouncestream_[a-z0-9_]*[a-z0-9])\b(\{[^}]*\})?", expr):
        fam = family(m.group(1), metrics)
        if fam is None:
            err(where, f"{m.group(1)} is not a metric of metrics/METRICS.md")
            continue
        allowed = metrics[fam][1] | TARGET_LABELS
        for lm in re.finditer(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)", m.group(2) or ""):
            if lm.group(1) not in allowed:
                err(where, f"{fam} has no label {lm.group(1)} (METRICS.md: {sorted(metrics[fam][1])})")
    for m in re.finditer(r"\bby \(([^)]*)\)", expr):
        for label in (x.strip() for x in m.group(1).split(",")):
            names = {family(n, metrics) for n in re.findall(r"bouncestream_[a-z0-9_]*[a-z0-9]", expr)}
            names.discard(None)
            if names and not any(label in metrics[n][1] | TARGET_LABELS for n in names):
                err(where, f"grouping label {label} is on none of {sorted(names)}")


def overlaps(a, b):
    return not (a["x"] + a["w"] <= b["x"] or b["x"] + b["w"] <= a["x"] or
                a["y"] + a["h"] <= b["y"] or b["y"] + b["h"] <= a["y"])


def check_dashboard(path, metrics, uids):
    where = path.name
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        err(where, f"invalid JSON: {e}")
        return
    if "id" not in d or d["id"] is not None:
        err(where, '"id" must be null')
    uid = d.get("uid")
    if EXPECTED_UIDS.get(path.name) != uid:
        err(where, f"uid {uid!r}, expected {EXPECTED_UIDS.get(path.name)!r}")
    if uid in uids:
        err(where, f"uid {uid} used twice")
    uids.add(uid)
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
        err(where, "schemaVersion must be an integer >= 39")
    if "bouncestream" not in d.get("tags", []):
        err(where, "tags must include bouncestream")
    if not d.get("title"):
        err(where, "no title")

    variables = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        err(where, 'needs a template variable DS_PROMETHEUS of type "datasource", query "prometheus"')
    for name in ("tenant", "vendor"):
        v = variables.get(name)
        q = v and (v["query"]["query"] if isinstance(v.get("query"), dict) else v.get("query"))
        if not v or v.get("type") != "query" or not re.fullmatch(
                rf"label_values\(bouncestream_events_classified_total(\{{[^}}]*\}})?, {name}\)", q or ""):
            err(where, f"variable {name} must be label_values(bouncestream_events_classified_total, {name})")
    for v in variables.values():
        if v.get("type") == "query" and v.get("datasource") != DS:
            err(where, f"variable {v['name']}: datasource must be {DS}")

    ids = set()
    boxes = []
    for p in d.get("panels", []):
        pw = f"{where} panel {p.get('id')} {p.get('title')!r}"
        if p.get("id") in ids:
            err(pw, "duplicate panel id")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "xywh") or g["x"] < 0 or g["x"] + g["w"] > 24:
            err(pw, f"bad gridPos {g}")
        else:
            for other, ob in boxes:
                if overlaps(g, ob):
                    err(pw, f"overlaps panel {other}")
            boxes.append((p.get("id"), g))
        if p.get("type") == "row":
            if p.get("panels"):
                err(pw, "collapsed rows are not used; keep row panels empty")
            continue
        if p.get("datasource") != DS:
            err(pw, f"panel datasource must be {DS}")
        targets = p.get("targets") or []
        if not targets:
            err(pw, "no targets")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs):
            err(pw, "duplicate refId")
        for t in targets:
            tw = f"{pw} {t.get('refId')}"
            if t.get("datasource") != DS:
                err(tw, f"target datasource must be {DS}")
            if not (t.get("expr") or "").strip():
                err(tw, "empty expr")
            check_expr(tw, t.get("expr", ""), metrics)


def check_provisioning():
    dpath = GRAFANA / "provisioning" / "dashboards" / "bouncestream.yaml"
    spath = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
    try:
        dp = yaml.safe_load(dpath.read_text())
        sp = yaml.safe_load(spath.read_text())
    except (OSError, yaml.YAMLError) as e:
        err("provisioning", str(e))
        return
    if dp.get("apiVersion") != 1 or not dp.get("providers"):
        err(dpath.name, "needs apiVersion: 1 and providers")
    for prov in dp.get("providers", []):
        for key in ("name", "orgId", "folder", "type", "options"):
            if key not in prov:
                err(dpath.name, f"provider without {key}")
        if prov.get("type") != "file" or not prov.get("options", {}).get("path"):
            err(dpath.name, "provider must be type file with options.path")
    if sp.get("apiVersion") != 1 or not sp.get("datasources"):
        err(spath.name, "needs apiVersion: 1 and datasources")
    for ds in sp.get("datasources", []):
        if ds.get("type") != "prometheus" or not ds.get("uid") or not ds.get("url"):
            err(spath.name, "each data source needs type prometheus, uid and url")


def main():
    metrics = contract()
    files = sorted((GRAFANA / "dashboards").glob("*.json"))
    if {f.name for f in files} != set(EXPECTED_UIDS):
        err("dashboards", f"expected exactly {sorted(EXPECTED_UIDS)}, found {[f.name for f in files]}")
    uids = set()
    for f in files:
        check_dashboard(f, metrics, uids)
    check_provisioning()
    # The alert rules use the same contract.
    for g in yaml.safe_load((OPS / "prometheus" / "alerts.yml").read_text())["groups"]:
        for r in g["rules"]:
            check_expr(f"alerts.yml {r.get('alert')}", r["expr"], metrics)
    for e in errors:
        print(e)
    print(f"dashboards: {len(files)} checked (and the alert rules' metric names), {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
