#!/usr/bin/python3
"""Checks that the schemas' vocabularies equal the names in the C++ sources, so they cannot drift.

    check_taxonomy.py [SOURCE_DIR]     (default: the repository this file is in)

Parsed from the sources (no build needed):
  classify/taxonomy.h   BOUNCESTREAM_REASONS/CLASSES/PARTIES/ACTIONS/VENDORS  X(kName, "text")
  classify/classifier.cc ToString(VendorSource)   case VendorSource::kX: return "text";
  classify/event.cc     kTypeNames                 the event types
  stream/decode/decoder.cc kFormatNames            the input formats (less "auto")
  state/decision.cc     ToString(DecisionKind), ToString(Scope)   (when the file exists)
and compared, in order, with the `enum`s of schemas/classified.schema.json and
schemas/decision.schema.json (whose reason/party/vendor lists are "" + the taxonomy's).
Prints one line per vocabulary and, on a mismatch, the list to paste into the schema. Exit 1 on
any mismatch, 2 when a source cannot be parsed.
"""

import json
import os
import re
import sys


def fail(msg, code=2):
    sys.stderr.write("check_taxonomy: " + msg + "\n")
    sys.exit(code)


def read(root, rel):
    try:
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        fail(f"{rel}: {e}")


def macro_names(header, macro):
    """The text names of X(kName, "text") entries of `#define MACRO(X) ...` (continued lines)."""
    m = re.search(r"#define\s+" + macro + r"\(X\)((?:[^\n]*\\\n)*[^\n]*)", header)
    if not m:
        fail(f"taxonomy.h: no #define {macro}(X)")
    names = re.findall(r'X\(\s*k\w+\s*,\s*"([^"]*)"\s*\)', m.group(1))
    if not names:
        fail(f"taxonomy.h: {macro} has no X(kName, \"text\") entries")
    return names


def array_names(source, name, rel):
    m = re.search(name + r"\s*\{([^}]*)\}", source)
    if not m:
        fail(f"{rel}: no {name}{{...}}")
    return re.findall(r'"([^"]*)"', m.group(1))


def case_names(source, enum, rel):
    """`case Enum::kX: return "text";` inside std::string_view ToString(Enum ...)."""
    m = re.search(r"ToString\(\s*" + enum + r"\b[^)]*\)\s*\{(.*?)\n\}", source, re.S)
    if not m:
        fail(f"{rel}: no ToString({enum})")
    names = re.findall(r'case\s+' + enum + r'::k\w+:\s*return\s*"([^"]*)"', m.group(1))
    if not names:
        fail(f"{rel}: ToString({enum}) has no cases")
    return names


def pointer(doc, ptr):
    node = doc
    for part in ptr.strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.normpath(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    taxonomy = read(root, "classify/taxonomy.h")
    classifier = read(root, "classify/classifier.cc")
    event = read(root, "classify/event.cc")
    decoder = read(root, "stream/decode/decoder.cc")
    schemas = {}
    for name in ("classified", "decision"):
        with open(os.path.join(root, "schemas", name + ".schema.json"), encoding="utf-8") as f:
            schemas[name] = json.load(f)

    reasons = macro_names(taxonomy, "BOUNCESTREAM_REASONS")
    classes = macro_names(taxonomy, "BOUNCESTREAM_CLASSES")
    parties = macro_names(taxonomy, "BOUNCESTREAM_PARTIES")
    actions = macro_names(taxonomy, "BOUNCESTREAM_ACTIONS")
    vendors = macro_names(taxonomy, "BOUNCESTREAM_VENDORS")
    formats = [f for f in array_names(decoder, "kFormatNames", "decoder.cc") if f != "auto"]

    checks = [
        ("reason", reasons, "classified", "/$defs/reason/enum"),
        ("class", classes, "classified", "/$defs/bounce_class/enum"),
        ("party", parties, "classified", "/$defs/party/enum"),
        ("action", actions, "classified", "/$defs/action/enum"),
        ("vendor", vendors, "classified", "/$defs/vendor/enum"),
        ("vendor_source", case_names(classifier, "VendorSource", "classifier.cc"), "classified",
         "/$defs/classification/properties/vendor_source/enum"),
        ("event type", array_names(event, "kTypeNames", "event.cc"), "classified",
         "/$defs/event/properties/type/enum"),
        ("input format", formats, "classified", "/$defs/source/properties/format/enum"),
        ("decision reason", [""] + reasons, "decision", "/$defs/reason_or_empty/enum"),
        ("decision party", [""] + parties, "decision", "/$defs/party_or_empty/enum"),
        ("decision vendor", [""] + vendors, "decision", "/$defs/vendor_or_empty/enum"),
    ]
    if os.path.exists(os.path.join(root, "state/decision.cc")):
        decision = read(root, "state/decision.cc")
        checks += [
            ("decision kind", case_names(decision, "DecisionKind", "decision.cc"), "decision",
             "/properties/kind/enum"),
            ("decision scope", case_names(decision, "Scope", "decision.cc"), "decision",
             "/properties/scope/enum"),
        ]
    else:
        print("decision kind/scope: state/decision.cc absent, not checked")

    bad = 0
    for label, source, schema, ptr in checks:
        try:
            have = pointer(schemas[schema], ptr)
        except (KeyError, TypeError):
            print(f"FAIL {label}: {schema}.schema.json has no {ptr}")
            bad += 1
            continue
        if have == source:
            print(f"ok   {label}: {len(source)} names ({schema}.schema.json#{ptr})")
            continue
        bad += 1
        missing = [n for n in source if n not in have]
        extra = [n for n in have if n not in source]
        what = []
        if missing:
            what.append("missing " + ", ".join(repr(n) for n in missing))
        if extra:
            what.append("not in the source " + ", ".join(repr(n) for n in extra))
        if not what:
            what.append("same names, different order")
        print(f"FAIL {label}: {schema}.schema.json#{ptr}: {'; '.join(what)}\n"
              f"     the source's list: {json.dumps(source)}")
    if bad:
        print(f"{bad} vocabularies differ from the sources")
        return 1
    print(f"all {len(checks)} vocabularies match the sources")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
