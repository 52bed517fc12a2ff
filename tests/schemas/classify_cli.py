#!/usr/bin/python3
"""Runs `bouncestream classify` over the repository's test inputs (every adapter) and validates
every output line against schemas/classified.schema.json#/$defs/classify_output: the encoder
(stream/encode.cc) and the schema cannot drift apart.

    classify_cli.py BOUNCESTREAM_BINARY [SOURCE_DIR]

The CLI prints the classified record without `source` (EncodeClassified); the topic record
(EncodeClassifiedRecord) is that plus `source`, which the hand-written samples cover.
"""

import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import validate  # noqa: E402


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    binary = argv[1]
    root = argv[2] if len(argv) > 2 else os.path.normpath(os.path.join(HERE, "..", ".."))
    testdata = os.path.join(root, "tests", "testdata")
    runs = [("auto", os.path.join(root, "samples", "events.ndjson"))]
    for name in sorted(os.listdir(testdata)):
        runs.append((name.split(".")[0], os.path.join(testdata, name)))
    with tempfile.TemporaryDirectory() as tmp:
        out_path = os.path.join(tmp, "classified.jsonl")
        with open(out_path, "wb") as out:
            for fmt, path in runs:
                r = subprocess.run([binary, "classify", "--format", fmt, path], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, timeout=120)
                if r.returncode != 0:
                    sys.stderr.write(f"classify --format {fmt} {path}: exit {r.returncode}\n"
                                     f"{r.stderr.decode(errors='replace')}")
                    return 1
                lines = r.stdout.count(b"\n")
                if lines == 0:
                    sys.stderr.write(f"classify --format {fmt} {path}: no output\n")
                    return 1
                print(f"classify --format {fmt} {os.path.relpath(path, root)}: {lines} records")
                out.write(r.stdout)
        schema = os.path.join(root, "schemas", "classified.schema.json") + "#/$defs/classify_output"
        return validate.main([schema, out_path])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
