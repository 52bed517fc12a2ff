#!/usr/bin/python3
"""Validates JSON Lines files against one of bouncestream's record schemas (schemas/*.json).

    validate.py [--consumer] [--expect-invalid] [--quiet] SCHEMA[#/json/pointer] FILE.jsonl...

Every non-blank line of every FILE (`-` = stdin) is one record. Lines whose first non-blank
character is `#` are comments (sample files use them to say why the next record is invalid).

Default mode: stops at the first invalid record, prints FILE:LINE, the JSON path of the error and
the message, and exits 1. At the end prints `SCHEMA: N records valid (FILES)`.

--expect-invalid: the other direction, for samples that must be rejected. Every record must fail;
a comment `# expect: /json/path` before a record also requires an error at that path (so a
sample is rejected for the reason it was written for, not for a typo). Exits 1 on the first
record that passes (or fails elsewhere).

--consumer: validates as a version-1 consumer should: unknown members are allowed (objects are
open) and the vocabularies marked "x-open-enum" accept any string. Without it the schemas are
exactly what the producer emits today (the project's own tests).

SCHEMA#/pointer picks a subschema, e.g. classified.schema.json#/$defs/classify_output for the
output of `bouncestream classify`. Every *.schema.json beside SCHEMA is loaded, so `$ref`s between
the files resolve offline.

Exit codes: 0 all as expected, 1 a record not as expected, 2 usage, I/O, JSON or schema errors.
Needs Debian's python3-jsonschema (4.10): run it with /usr/bin/python3.
"""

import argparse
import copy
import json
import os
import sys

try:
    import jsonschema
    from jsonschema import Draft202012Validator
except ImportError:  # pragma: no cover - environment problem
    sys.stderr.write("validate.py: python3-jsonschema is missing "
                     "(apt-get install python3-jsonschema; run with /usr/bin/python3)\n")
    sys.exit(2)


def _open_schema(node):
    """Consumer view: drop closed-object and open-enum constraints, recursively."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("additionalProperties", "unevaluatedProperties") and v is False:
                continue
            if k == "enum" and node.get("x-open-enum") is True:
                continue
            out[k] = _open_schema(v)
        return out
    if isinstance(node, list):
        return [_open_schema(v) for v in node]
    return node


def load_schemas(schema_arg, consumer=False):
    """Returns (validator, label) for `path[#pointer]`; raises SystemExit(2) on errors."""
    path, _, pointer = schema_arg.partition("#")
    path = os.path.abspath(path)
    directory = os.path.dirname(path)
    store = {}
    root = None
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".schema.json"):
            continue
        full = os.path.join(directory, name)
        try:
            with open(full, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            raise SystemExit(_fail(2, f"{full}: cannot load schema: {e}"))
        try:
            Draft202012Validator.check_schema(doc)
        except jsonschema.SchemaError as e:
            raise SystemExit(_fail(2, f"{full}: not a valid 2020-12 schema: {e.message}"))
        if consumer:
            doc = _open_schema(doc)
        store[doc.get("$id", "file://" + full)] = doc
        if full == path:
            root = doc
    if root is None:
        raise SystemExit(_fail(2, f"{path}: no such schema (*.schema.json)"))
    base = root.get("$id", "file://" + path)
    if pointer:
        target = {"$schema": "https://json-schema.org/draft/2020-12/schema",
                  "$ref": base + "#" + pointer}
    else:
        target = root
    resolver = jsonschema.RefResolver(base_uri=base, referrer=root, store=store)
    if pointer:
        try:
            resolver.resolve(base + "#" + pointer)
        except jsonschema.RefResolutionError as e:
            raise SystemExit(_fail(2, f"{schema_arg}: {e}"))
    label = os.path.basename(path) + ("#" + pointer if pointer else "")
    return Draft202012Validator(target, resolver=resolver), label


def best_error(errors):
    """The error to show. A failing member also makes unevaluatedProperties call it unexpected
    (annotations of failed subschemas are dropped), so that one is shown only when alone."""
    specific = [e for e in errors if e.validator != "unevaluatedProperties"]
    return jsonschema.exceptions.best_match(specific or errors)


def json_path(error):
    return "/" + "/".join(str(p) for p in error.absolute_path)


def all_errors(errors):
    """Every error with the nested ones of anyOf/oneOf/allOf."""
    for e in errors:
        yield e
        if e.context:
            yield from all_errors(e.context)


def records(files):
    """Yields (file, line_no, comment_lines, text) for every record line."""
    for name in files:
        try:
            f = sys.stdin if name == "-" else open(name, encoding="utf-8")
        except OSError as e:
            raise SystemExit(_fail(2, f"{name}: {e}"))
        comments = []
        with f:
            for no, line in enumerate(f, 1):
                stripped = line.strip()
                if not stripped:
                    continue
                if stripped.startswith("#"):
                    comments.append(stripped[1:].strip())
                    continue
                yield name, no, comments, stripped
                comments = []


def _fail(code, message):
    sys.stderr.write(message + "\n")
    return code


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("schema", help="schema file, optionally #/json/pointer to a subschema")
    p.add_argument("files", nargs="+", help="JSON Lines files; - = stdin")
    p.add_argument("--expect-invalid", action="store_true",
                   help="every record must be rejected (negative samples)")
    p.add_argument("--consumer", action="store_true",
                   help="open objects and open enums: what a v1 consumer may rely on")
    p.add_argument("--quiet", action="store_true", help="no summary line")
    args = p.parse_args(argv)

    validator, label = load_schemas(args.schema, consumer=args.consumer)
    count = 0
    for name, no, comments, text in records(args.files):
        where = f"{name}:{no}"
        try:
            record = json.loads(text)
        except ValueError as e:
            return _fail(2, f"{where}: not JSON: {e}")
        errors = list(validator.iter_errors(record))
        count += 1
        if not args.expect_invalid:
            if errors:
                best = best_error(errors)
                return _fail(1, f"{where}: invalid at {json_path(best)}: {best.message}")
            continue
        if not errors:
            return _fail(1, f"{where}: expected to be rejected, but it is valid")
        expected = [c.split(":", 1)[1].strip() for c in comments if c.startswith("expect:")]
        paths = {json_path(e) for e in all_errors(errors)}
        for want in expected:
            if want not in paths:
                best = best_error(errors)
                return _fail(1, f"{where}: rejected, but not at {want} (errors at "
                                f"{', '.join(sorted(paths))}; best: {json_path(best)}: "
                                f"{best.message})")
    if count == 0:
        return _fail(2, f"{label}: no records in {', '.join(args.files)}")
    if not args.quiet:
        what = "records rejected as expected" if args.expect_invalid else "records valid"
        mode = " (consumer)" if args.consumer else ""
        print(f"{label}{mode}: {count} {what} ({', '.join(args.files)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
