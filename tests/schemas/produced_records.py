#!/usr/bin/python3
"""Helper of produced_records_check.sh (run with /usr/bin/python3: python3-jsonschema,
python3-confluent-kafka).

    produced_records.py generate OUTDIR            traffic.ndjson + malformed.txt in OUTDIR
    produced_records.py caught-up BOOTSTRAP GROUP TIMEOUT_S
                                                   waits until GROUP committed every input and
                                                   classified partition to its end
    produced_records.py count FILE.kcat.jsonl      records in a `kcat -J` dump
    produced_records.py pick OUTDIR WHAT           a decision id to lift, from the dumps:
                                                   suppress | pause-ip | pause-domain | alert
    produced_records.py check ROOT OUTDIR          splits the `kcat -J` dumps of OUTDIR/topics
                                                   into value JSONL files, validates them against
                                                   ROOT/schemas, checks keys, DLQ headers,
                                                   tombstones and that nothing is unexpectedly
                                                   empty; writes OUTDIR/summary.json

Exit codes: 0 ok, 1 a check failed, 2 usage.
"""

import json
import os
import subprocess
import sys
import time

SEP = "\x1f"
T0 = 1796032800000  # 2026-12-01T10:00:00Z, event time of the generated traffic (ms)

# Generated recipients and senders (the erase target is ERASE_RCPT).
ERASE_RCPT = "erase.me@gdpr-dest.example"
ERASE_TENANT = "acme"

MIMECAST_END_USER = ("550 Envelope blocked - User Entry - "
                     "https://community.mimecast.com/docs/DOC-1369#550")
MIMECAST_ADMIN = ("550 Administrative prohibition - envelope blocked - "
                  "https://community.mimecast.com/docs/DOC-1369#550")
MIMECAST_RBL = ("554 Your IP address has been blocked by a Mimecast RBL policy - spamcop - "
                "https://community.mimecast.com/docs/DOC-1369#554")
GMAIL_AUTH = ("550 5.7.26 This mail is unauthenticated, which poses a security risk to the "
              "sender and Gmail users, and has been blocked. The sender must authenticate with "
              "at least one of SPF or DKIM.")
HARD = "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"
SOFT = "552 5.2.2 <{rcpt}>: Mailbox full, over quota"


def event(i, tenant, sender, rcpt, mx, ip, code, text, typ):
    return {"id": f"gen-{i}", "time": T0 + i * 1000, "tenant": tenant, "sender": sender,
            "recipient": rcpt, "mx": mx, "remote_ip": "", "sending_ip": ip,
            "smtp_code": code, "enhanced_code": "", "text": text.replace("{rcpt}", rcpt),
            "type": typ}


def generate(outdir):
    ev = []
    n = lambda: len(ev)
    # Hard bounces (suppress, scope tenant), among them the recipient to erase.
    for k, rcpt in enumerate([ERASE_RCPT, "gone1@dead-dest.example", "gone2@dead-dest.example",
                              "gone3@other-dest.example"]):
        ev.append(event(n(), ERASE_TENANT, "news@mail.acme.example", rcpt,
                        "mx." + rcpt.split("@")[1], "198.51.100.10", 550, HARD, "bounce"))
    # Mimecast end-user blocks (suppress, scope sender), one of them of the erase target too.
    for rcpt in [ERASE_RCPT, "picky@enduser-dest.example"]:
        ev.append(event(n(), ERASE_TENANT, "promo@mail.acme.example", rcpt,
                        "eu-smtp-inbound-1.mimecast.com", "198.51.100.10", 550,
                        MIMECAST_END_USER, "bounce"))
    # Admin policy blocks: 4 recipients of one domain, one sender (pause, scope domain).
    for k in range(4):
        ev.append(event(n(), ERASE_TENANT, "news@mail.acme.example",
                        f"staff{k}@corp-admin.example", "eu-smtp-inbound-1.mimecast.com",
                        "198.51.100.11", 550, MIMECAST_ADMIN, "bounce"))
    # Platform blocks: 24 from one sending IP, recipients of one domain (pause, scope ip_vendor).
    for k in range(24):
        ev.append(event(n(), "globex", "info@mail.globex.example",
                        f"user{k}@mimecast-customer.example", "eu-smtp-inbound-1.mimecast.com",
                        "203.0.113.50", 554, MIMECAST_RBL, "bounce"))
    # SPF/DKIM failures (alert).
    for k in range(2):
        ev.append(event(n(), "globex", "billing@mail.globex.example",
                        f"customer{k}@gmail.com", "gmail-smtp-in.l.google.com", "203.0.113.51",
                        550, GMAIL_AUTH, "bounce"))
    # A complaint (suppress, scope tenant) and a soft-bounce streak (suppress after 5).
    ev.append(event(n(), "globex", "info@mail.globex.example", "angry@complain-dest.example",
                    "", "203.0.113.52", 0, "", "complaint"))
    for k in range(6):
        ev.append(event(n(), "globex", "info@mail.globex.example", "full@soft-dest.example",
                        "mx.soft-dest.example", "203.0.113.52", 552, SOFT, "bounce"))
    # Deliveries and deferrals (classified only).
    for k in range(3):
        ev.append(event(n(), "globex", "info@mail.globex.example", f"ok{k}@fine-dest.example",
                        "mx.fine-dest.example", "203.0.113.52", 250, "250 2.0.0 OK", "delivered"))
        ev.append(event(n(), "globex", "info@mail.globex.example", f"later{k}@fine-dest.example",
                        "mx.fine-dest.example", "203.0.113.52", 421,
                        "421 4.7.0 Try again later, closing connection.", "deferral"))
    with open(os.path.join(outdir, "traffic.ndjson"), "w", encoding="utf-8") as f:
        for e in ev:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    # Undecodable records (DLQ): not JSON, not an object, a wrong field type.
    with open(os.path.join(outdir, "malformed.txt"), "w", encoding="utf-8") as f:
        f.write('{"id": "broken", "time": \n')
        f.write("[1, 2, 3]\n")
        f.write('{"id":"bad-time","time":"yesterday","tenant":"t","sender":"s@x.example",'
                '"recipient":"r@x.example","type":"bounce","text":"550 no"}\n')
        f.write("this line is not a bounce record in any format\n")
    print(len(ev))
    return 0


def caught_up(bootstrap, group, timeout_s):
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "enable.auto.commit": False})
    deadline = time.time() + float(timeout_s)
    topics = ["bounces.in", "bouncestream.classified"]
    stable = 0
    try:
        while time.time() < deadline:
            md = c.list_topics(timeout=10)
            parts = [TopicPartition(t, p) for t in topics for p in md.topics[t].partitions]
            committed = c.committed(parts, timeout=10)
            behind = 0
            for tp in committed:
                _, high = c.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                  timeout=10)
                off = tp.offset if tp.offset >= 0 else 0
                behind += max(0, high - off)
            if behind == 0:
                stable += 1
                if stable >= 2:
                    return 0
            else:
                stable = 0
            time.sleep(0.5)
    finally:
        c.close()
    sys.stderr.write(f"group {group} did not catch up within {timeout_s} s\n")
    return 1


def load_dump(path):
    """Records of a `kcat -J` dump: dicts with key, payload (None = tombstone), headers."""
    out = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def headers_of(rec):
    h = rec.get("headers") or []
    if isinstance(h, dict):
        return h
    return {h[i]: h[i + 1] for i in range(0, len(h) - 1, 2)}  # kcat 1.7: [name, value, ...]


def pick(outdir, what):
    topic = {"suppress": "bouncestream.suppressions", "pause-ip": "bouncestream.blocks",
             "pause-domain": "bouncestream.blocks", "alert": "bouncestream.alerts"}[what]
    for rec in load_dump(os.path.join(outdir, "topics", topic + ".kcat.jsonl")):
        if rec.get("payload") is None:
            continue
        d = json.loads(rec["payload"])
        if what == "suppress" and d["kind"] == "suppress" and d["scope"] == "tenant" \
                and d.get("recipient") == "gone1@dead-dest.example":
            print(d["decision_id"]); return 0
        if what == "pause-ip" and d["kind"] == "pause" and d["scope"] == "ip_vendor":
            print(d["decision_id"]); return 0
        if what == "pause-domain" and d["kind"] == "pause" and d["scope"] == "domain":
            print(d["decision_id"]); return 0
        if what == "alert" and d["kind"] == "alert":
            print(d["decision_id"]); return 0
    sys.stderr.write(f"no {what} decision on {topic}\n")
    return 1


def expected_key(topic, v):
    if topic == "bouncestream.classified":
        r = v["recipient"]
        return r.rsplit("@", 1)[1].lower() if "@" in r else ""
    if topic == "bouncestream.audit":
        return v["request_id"]
    rcpt = v.get("recipient", v.get("recipient_hash", ""))
    if topic == "bouncestream.suppressions":
        k = v["tenant"] + SEP + rcpt
        return k + SEP + v["sender"] if v["scope"] == "sender" else k
    if topic == "bouncestream.blocks":
        if v["scope"] == "ip_vendor":
            return v["sending_ip"] + SEP + v["vendor"]
        return v["tenant"] + SEP + v["sender"] + SEP + v["domain"]
    if topic == "bouncestream.alerts":
        return v["tenant"] + SEP + v["sender"] + SEP + v["reason"]
    return None


DLQ_HEADERS = ["bouncestream.reason", "bouncestream.detail", "bouncestream.source.topic",
               "bouncestream.source.partition", "bouncestream.source.offset",
               "bouncestream.adapter"]
DLQ_REASONS = {"json_syntax", "not_object", "missing_field", "bad_field", "invalid_utf8",
               "too_deep", "too_large", "empty", "unknown_format", "bad_line", "bad_csv",
               "missing_header", "bad_classified_record"}

# topic -> (schema, minimum records with a value)
VALIDATED = {
    "bouncestream.classified": ("classified.schema.json", 1),
    "bouncestream.suppressions": ("suppression.schema.json", 1),
    "bouncestream.blocks": ("block.schema.json", 1),
    "bouncestream.alerts": ("alert.schema.json", 1),
    "bouncestream.audit": ("audit.schema.json", 1),
}


def check(root, outdir):
    here = os.path.dirname(os.path.abspath(__file__))
    validate = os.path.join(here, "validate.py")
    tdir = os.path.join(outdir, "topics")
    failures = []
    summary = {}
    inputs = set()
    for name in ("traffic.ndjson", "malformed.txt"):
        with open(os.path.join(outdir, name), encoding="utf-8") as f:
            inputs.update(line.rstrip("\n") for line in f)
    for name in sorted(os.listdir(os.path.join(root, "tests", "testdata"))):
        with open(os.path.join(root, "tests", "testdata", name), encoding="utf-8") as f:
            inputs.update(line.rstrip("\n") for line in f)

    for topic, (schema, minimum) in VALIDATED.items():
        recs = load_dump(os.path.join(tdir, topic + ".kcat.jsonl"))
        values, tombstones, bad_keys = [], 0, 0
        kinds = {}
        for r in recs:
            if r.get("payload") is None:
                tombstones += 1
                continue
            values.append(r["payload"])
            try:
                v = json.loads(r["payload"])
            except ValueError:
                continue  # validate.py reports it
            if isinstance(v, dict):
                k = v.get("kind") or v.get("action") or v.get("classification", {}).get("party")
                kinds[str(k)] = kinds.get(str(k), 0) + 1
                try:
                    want = expected_key(topic, v)
                except (KeyError, AttributeError, TypeError):
                    want = None  # the schema check names the missing member
                # An empty key is produced as no key at all (null): the classified record of
                # a recipient without '@'.
                if want is not None and (r.get("key") or "") != want:
                    bad_keys += 1
                    if bad_keys <= 3:
                        failures.append(f"{topic} offset {r.get('offset')}: key "
                                        f"{(r.get('key') or '')!r} is not the documented "
                                        f"{want!r}")
        jsonl = os.path.join(tdir, topic + ".jsonl")
        with open(jsonl, "w", encoding="utf-8") as f:
            for v in values:
                f.write(v + "\n")
        summary[topic] = {"records": len(recs), "values": len(values), "tombstones": tombstones,
                          "kinds": kinds, "bad_keys": bad_keys}
        if len(values) < minimum:
            failures.append(f"{topic}: {len(values)} records with a value, expected >= {minimum}")
            continue
        p = subprocess.run([sys.executable, validate, os.path.join(root, "schemas", schema),
                            jsonl], capture_output=True, text=True)
        summary[topic]["valid"] = p.returncode == 0
        sys.stdout.write(p.stdout)
        if p.returncode != 0:
            failures.append(f"{topic}: {p.stderr.strip()}")
        # Audit records never hold an address, anywhere (also in members a schema might open).
        if topic == "bouncestream.audit" and any("@" in v for v in values):
            failures.append("bouncestream.audit: a record holds '@'")

    sup = summary["bouncestream.suppressions"]
    if sup["tombstones"] < 1:
        failures.append("bouncestream.suppressions: no tombstone after the erase")
    for topic in ("bouncestream.blocks", "bouncestream.alerts", "bouncestream.audit"):
        if summary[topic]["tombstones"]:
            failures.append(f"{topic}: {summary[topic]['tombstones']} null values (tombstones "
                            "are documented only for suppressions)")
    for kind in ("suppress", "lift"):
        if not sup["kinds"].get(kind):
            failures.append(f"bouncestream.suppressions: no '{kind}' record")
    for kind in ("pause", "resume"):
        if not summary["bouncestream.blocks"]["kinds"].get(kind):
            failures.append(f"bouncestream.blocks: no '{kind}' record")
    for kind in ("alert", "lift"):
        if not summary["bouncestream.alerts"]["kinds"].get(kind):
            failures.append(f"bouncestream.alerts: no '{kind}' record")
    for action in ("lift", "erase"):
        if not summary["bouncestream.audit"]["kinds"].get(action):
            failures.append(f"bouncestream.audit: no '{action}' record")

    # The DLQ: payload unchanged, every documented header. Two sources: undecodable input
    # records (source.topic bounces.in) and classified records the decision stage could not
    # read (reason bad_classified_record, source.topic bouncestream.classified).
    classified_at = {(r["partition"], r["offset"]): r.get("payload") for r in
                     load_dump(os.path.join(tdir, "bouncestream.classified.kcat.jsonl"))}
    recs = load_dump(os.path.join(tdir, "bouncestream.dlq.kcat.jsonl"))
    reasons = {}
    from_input = 0
    own_valid = []
    for r in recs:
        h = headers_of(r)
        missing = [n for n in DLQ_HEADERS if n not in h]
        where = f"bouncestream.dlq offset {r.get('offset')}"
        if missing:
            failures.append(f"{where}: headers missing: {', '.join(missing)}")
            continue
        reasons[h["bouncestream.reason"]] = reasons.get(h["bouncestream.reason"], 0) + 1
        if h["bouncestream.reason"] not in DLQ_REASONS:
            failures.append(f"{where}: reason {h['bouncestream.reason']!r} not documented")
        if not (h["bouncestream.source.partition"].isdigit()
                and h["bouncestream.source.offset"].isdigit()):
            failures.append(f"{where}: source partition/offset not decimal")
            continue
        if not h["bouncestream.detail"] or "@" in h["bouncestream.detail"]:
            failures.append(f"{where}: detail empty or holds an address")
        payload = r.get("payload") or ""
        if h["bouncestream.source.topic"] == "bounces.in":
            from_input += 1
            if h["bouncestream.adapter"] != "auto":
                failures.append(f"{where}: adapter {h['bouncestream.adapter']!r}, configured auto")
            if payload not in inputs:
                failures.append(f"{where}: payload is not an input record byte for byte")
        elif h["bouncestream.source.topic"] == "bouncestream.classified":
            at = (int(h["bouncestream.source.partition"]), int(h["bouncestream.source.offset"]))
            if h["bouncestream.reason"] != "bad_classified_record" \
                    or h["bouncestream.adapter"] != "canonical":
                failures.append(f"{where}: from the classified topic with reason "
                                f"{h['bouncestream.reason']!r} adapter {h['bouncestream.adapter']!r}")
            if classified_at.get(at) != payload:
                failures.append(f"{where}: payload is not classified record {at} byte for byte")
            else:
                own_valid.append((at, payload))
        else:
            failures.append(f"{where}: source.topic {h['bouncestream.source.topic']!r}")
    summary["bouncestream.dlq"] = {"records": len(recs), "reasons": reasons,
                                   "from_input": from_input,
                                   "own_classified_records": len(own_valid)}
    if from_input < 4:
        failures.append(f"bouncestream.dlq: {from_input} undecodable input records, the 4 "
                        "malformed inputs expected")
    # The processor's own classified records are all readable (an empty recipient included: it
    # counts for the domain, sender and IP windows), so none of them may be dead-lettered.
    for at, payload in own_valid:
        v = json.loads(payload)
        failures.append(f"bouncestream.dlq: classified record {at[0]}/{at[1]} (valid, format "
                        f"{v.get('source', {}).get('format')}) was dead-lettered as "
                        "bad_classified_record")

    with open(os.path.join(outdir, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    for topic, s in summary.items():
        extra = s.get("kinds") or s.get("reasons")
        print(f"{topic}: {s['records']} records"
              + (f", {s['tombstones']} tombstones" if s.get("tombstones") else "")
              + (f" {json.dumps(extra, sort_keys=True)}" if extra else ""))
    for msg in failures:
        sys.stderr.write("FAIL: " + msg + "\n")
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "generate":
        return generate(argv[1])
    if len(argv) == 4 and argv[0] == "caught-up":
        return caught_up(argv[1], argv[2], argv[3])
    if len(argv) == 2 and argv[0] == "count":
        print(len(load_dump(argv[1])))
        return 0
    if len(argv) == 3 and argv[0] == "pick":
        return pick(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "check":
        return check(argv[1], argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
