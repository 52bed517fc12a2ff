#!/usr/bin/env python3
"""Writes the seed corpus tests/fuzz/corpus/<target>/ from tests/testdata, the schema samples,
the classifier acceptance tables, the example config and a few hand-made hostile cases.
Re-run after changing the inputs; the output is deterministic (file name = sha1 of the bytes)."""
import hashlib, json, os, pathlib, shutil

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
OUT = HERE / "corpus"

def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)

FORMATS = {"canonical": "canonical.ndjson", "kumomta": "kumomta.ndjson",
           "powermta": "powermta.csv", "postfix": "postfix.log", "postal": "postal.ndjson",
           "ses": "ses.ndjson", "sendgrid": "sendgrid.ndjson", "mailgun": "mailgun.ndjson",
           "postmark": "postmark.ndjson", "sparkpost": "sparkpost.ndjson"}
HOSTILE = [b"", b" ", b"{", b"[", b"{}", b"[]", b"null", b"\"x\"", b"{\"a\":" * 200,
           b"[" * 1000, b"\xff\xfe\xfd", b"{\"text\":\"\xc3\x28\"}", b"{\"id\":1e999999}",
           b"{\"time\":-9223372036854775809}", b"\x00" * 64, b"a,b,c\n" * 10,
           b"{\"recipient\":\"@\",\"text\":\"\\ud800\"}"]

def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    for fmt, name in FORMATS.items():
        text = (ROOT / "tests/testdata" / name).read_bytes()
        lines = [l for l in text.split(b"\n") if l.strip()]
        put("decode_" + fmt, text)
        put("decode_auto", text)
        if fmt == "powermta":  # header + each record, as the adapter sees a topic
            for l in lines[1:]:
                put("decode_powermta", lines[0] + b"\n" + l)
        for l in lines:
            put("decode_" + fmt, l)
            put("decode_auto", l)
        for h in HOSTILE:
            put("decode_" + fmt, h)
    for h in HOSTILE:
        put("decode_auto", h)

    # classify: byte 0 = type; "mx\nenhanced\ntext"
    for tsv in sorted((ROOT / "tests/classify/testdata").glob("*.tsv")):
        rows = tsv.read_text(encoding="utf-8").split("\n")[1:]
        for row in rows:
            cols = row.split("\t")
            if len(cols) < 2 or not cols[0]:
                continue
            put("classify", b"\x00" + cols[1].encode() + b"\n\n" + cols[0].encode())
    for h in [b"\x00550 5.1.1 user unknown", b"\x01421 4.7.0 try again later",
              b"\x02", b"\x00" + b"5" * 300, b"\x00\xff\xfe 550 \xc3",
              b"\x00mx.mimecast.com\n5.7.1\n550 " + b"envelope blocked " * 50,
              b"\x00\n\n" + b"(" * 500 + b"spamhaus" + b")" * 500]:
        put("classify", h)

    # config_toml: the example file, and small variations
    example = (ROOT / "stream/bouncestream.example.toml").read_bytes()
    put("config_toml", example)
    for t in [b"bootstrap = \"127.0.0.1:9092\"\ngroup = \"g\"\n[[input]]\ntopic = \"t\"\n",
              b"bootstrap = [\"a:1\", \"b:2\"]\ngroup = \"g\"\n[[input]]\ntopic = \"t\"\nformat = \"ses\"\n"
              b"[state]\ndedupe_horizon = \"3d\"\nblock_cache = \"64MiB\"\n"
              b"[policy.tenant.\"acme\"]\n[kafka]\n\"socket.timeout.ms\" = \"1000\"\n",
              b"profile = \"production\"\n[kafka]\n\"security.protocol\" = \"plaintext\"\n",
              b"[metrics]\ntenants = [\"a\"]\n[metrics.providers]\ngmail = [\"gmail.com\"]\n",
              b"a = 1\na = 2\n", b"[[input]]\n" * 50, b"x = \"\\uD800\"\n", b"\xff = 1\n"]:
        put("config_toml", t)

    # config_env: lines of NAME=VALUE and flags
    for t in ["BOOTSTRAP=127.0.0.1:9092\nGROUP=g\nINPUTS=a:ses,b\n",
              "BOUNCESTREAM_STATE_DEDUPE_HORIZON=1h30m\nBOUNCESTREAM_STATE_BLOCK_CACHE=64MiB\n"
              "BOUNCESTREAM_KAFKA_SOCKET_TIMEOUT_MS=1000\nBOUNCESTREAM_TOPICS_DLQ=dlq\n",
              "--bootstrap=h:1\n--group=g\n--input=t:kumomta\n-X socket.timeout.ms=10\n--engine=vectorscan\n",
              "PROFILE=production\nALLOW_PLAINTEXT=true\nKAFKA_SECURITY_PROTOCOL=plaintext\n",
              "POLICY_HARD_INVALID_THRESHOLD=1\nMETRICS_TENANTS=a,b\nADMIN_TOKEN=x\nSTATE_HMAC_KEY=k\n",
              "BATCH_MAX_MESSAGES=99999999999\n", "7d\n90m\n1500ms\n0\nnever\n64MiB\n1000\n"]:
        put("config_env", t)

    # observe: "<key>\n<classified record>"
    for name in ["classified.valid.jsonl", "classified.invalid.jsonl", "classified.future.jsonl"]:
        for l in (ROOT / "tests/schemas/samples" / name).read_text(encoding="utf-8").split("\n"):
            if not l.strip() or l.startswith("#"):
                continue
            try:
                rcpt = json.loads(l).get("recipient") or ""
            except Exception:
                rcpt = ""
            dom = rcpt.rsplit("@", 1)[-1].lower() if "@" in str(rcpt) else ""
            put("observe", dom.encode() + b"\n" + l.encode())
    for h in HOSTILE:
        put("observe", b"example.com\n" + h)

    # admin: command values, decisions, times
    dec = [l for l in (ROOT / "tests/schemas/samples/decision.valid.jsonl").read_text().split("\n")
           if l.strip() and not l.startswith("#")]
    for l in dec:
        put("admin", l)
    base = {"request_id": "0123456789abcdef0123456789abcdef", "decision_id": "", "tenant": "",
            "recipient": "", "note": "", "decisions": [], "issued_at": "2026-12-01T10:24:00.123Z"}
    put("admin", json.dumps(dict(base, command="lift", decision_id="00112233445566778899")))
    put("admin", json.dumps(dict(base, command="erase", recipient="h:" + "a" * 32, tenant="acme")))
    if dec:
        put("admin", '{"command":"import","request_id":"0123456789abcdef0123456789abcdef",'
            '"decision_id":"","tenant":"","recipient":"","note":"n","decisions":[' + dec[0] +
            '],"issued_at":"2026-12-01T10:24:00Z"}')
    for t in ["2026-12-01T10:24:00.123+02:00", "2026-12-01", "1796032860", "1796032860000",
              "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00Z"]:
        put("admin", t)
    for h in HOSTILE:
        put("admin", h)

if __name__ == "__main__":
    main()
