#!/usr/bin/env python3
"""Writes a Prometheus text exposition with every metric of metrics/METRICS.md, for testing the
dashboards and alert rules without a processor (ops/check.sh serves it with python3 -m
http.server and runs ops/prom_live_check.sh against it).

    python3 ops/testdata/fake_metrics.py > metrics

Each metric gets the labels METRICS.md lists, with a few values from their closed sets, so
every dashboard query has series to return; histograms get buckets, _sum and _count.
"""
import itertools
import pathlib
import re
import sys

METRICS_MD = pathlib.Path(__file__).resolve().parents[2] / "metrics" / "METRICS.md"

VALUES = {
    "version": ["0.1.0"],
    "revision": ["abc1234"],
    "topic_format": ["kumomta", "ses"],
    "result": ["ok", "dead_letter"],
    "tenant": ["acme", "other"],
    "party": ["filter_platform", "recipient_admin", "end_user", "recipient_invalid"],
    "vendor": ["mimecast", "microsoft", "other"],
    "class": ["InvalidRecipient", "SpamBlock"],
    "reason": ["json_syntax", "userunknown", "blocked"],
    "provider": ["gmail", "microsoft", "other"],
    "kind": ["suppress", "pause", "alert"],
    "scope": ["tenant", "domain", "ip_vendor"],
    "stage": ["classify", "decide"],
    "topic": ["mta.kumomta"],
    "partition": ["0", "1"],
}
BUCKETS = ["0.001", "0.01", "0.1", "1", "10", "+Inf"]


def contract():
    for line in METRICS_MD.read_text().splitlines():
        m = re.match(r"^\| `(bouncestream_[a-z0-9_]+)` \| ([a-z]+)[^|]*\| ([^|]*) \| ([^|]*) \|", line)
        if m:
            text = re.sub(r"\([^)]*\)", "", m.group(3))
            labels = [w.strip() for w in text.split(",") if re.fullmatch(r"\s*[a-z_]+\s*", w)]
            yield m.group(1), m.group(2), labels, m.group(4).strip()


def fmt(labels):
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels else ""


def main():
    out = []
    n = 0
    for name, mtype, labels, help_text in contract():
        out.append(f"# HELP {name} {help_text.replace('`', '')}")
        out.append(f"# TYPE {name} {mtype}")
        for combo in itertools.product(*(VALUES.get(l, ["x"]) for l in labels)):
            ls = list(zip(labels, combo))
            n += 1
            if mtype == "histogram":
                for i, le in enumerate(BUCKETS):
                    out.append(f"{name}_bucket{fmt(ls + [('le', le)])} {10 * (i + 1)}")
                out.append(f"{name}_sum{fmt(ls)} 12.5")
                out.append(f"{name}_count{fmt(ls)} {10 * len(BUCKETS)}")
            elif name == "bouncestream_ready" or name == "bouncestream_build_info":
                out.append(f"{name}{fmt(ls)} 1")
            elif name == "bouncestream_last_event_timestamp_seconds":
                out.append(f"{name}{fmt(ls)} 1764580000")
            else:
                out.append(f"{name}{fmt(ls)} {n}")
    if n < 20:
        sys.exit(f"could not read the metric table of {METRICS_MD}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
