#!/usr/bin/python3
"""Offline test of docs/examples/suppression_consumer.py's state logic (no Kafka): records are
fed to SuppressionSet.apply as a consumer would receive them. The records used are the schema's
valid samples, so the example consumer and the schema agree on the format.

    suppression_consumer_test.py [SOURCE_DIR]
"""

import copy
import datetime
import importlib.util
import json
import os
import sys
import unittest

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
if len(sys.argv) > 1 and os.path.isdir(sys.argv[1]):
    ROOT = sys.argv.pop(1)

_spec = importlib.util.spec_from_file_location(
    "suppression_consumer", os.path.join(ROOT, "docs", "examples", "suppression_consumer.py"))
sc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sc)

US = "\x1f"
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def samples(name):
    with open(os.path.join(ROOT, "tests", "schemas", "samples", name), encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip() and not l.lstrip().startswith("#")]


def key_of(d):
    """state/decision.cc RecordKey for a suppression."""
    rcpt = d.get("recipient") or d.get("recipient_hash")
    k = d["tenant"] + US + rcpt
    if d["scope"] == "sender":
        k += US + d["sender"]
    return k


def record(d):
    return key_of(d).encode(), json.dumps(d).encode()


class SuppressionSetTest(unittest.TestCase):
    def setUp(self):
        valid = samples("suppression.valid.jsonl")
        self.hard = next(d for d in valid if d["rule"] == "policy.hard_invalid" and d["kind"] == "suppress"
                         and "recipient" in d and d["tenant"] == "acme" and d["origin"] == "policy")
        self.enduser = next(d for d in valid if d["scope"] == "sender" and d["kind"] == "suppress")
        self.soft = next(d for d in valid if d["rule"] == "policy.soft_streak" and d["kind"] == "suppress")
        self.s = sc.SuppressionSet()

    def lift_of(self, d, decision_id, origin="operator"):
        lift = copy.deepcopy(d)
        lift.update(kind="lift", decision_id=decision_id, origin=origin, expires_at=None)
        return lift

    def test_tenant_scope_blocks_every_sender(self):
        self.assertEqual(self.s.apply(*record(self.hard)), "suppress")
        # Jane.Doe@ in the record; lookups ignore case.
        self.assertFalse(self.s.may_send("acme", "jane.doe@fremantle.example", "news@mail.acme-shop.example", NOW))
        self.assertFalse(self.s.may_send("acme", "JANE.DOE@fremantle.example", "other@acme.example", NOW))
        # Another tenant's suppression is not this tenant's.
        self.assertTrue(self.s.may_send("globex", "jane.doe@fremantle.example", "news@mail.acme-shop.example", NOW))

    def test_sender_scope_blocks_only_that_sender(self):
        self.s.apply(*record(self.enduser))
        self.assertFalse(self.s.may_send("acme", "jane.doe@fremantle.example", "News@Mail.Acme-Shop.example", NOW))
        self.assertTrue(self.s.may_send("acme", "jane.doe@fremantle.example", "billing@acme.example", NOW))

    def test_lift_allows_again(self):
        self.s.apply(*record(self.hard))
        self.assertEqual(self.s.apply(*record(self.lift_of(self.hard, "5b5b5b5b5b5b5b5b"))), "lift")
        self.assertTrue(self.s.may_send("acme", "jane.doe@fremantle.example", "x@acme.example", NOW))
        self.assertEqual(len(self.s.active), 0)

    def test_lift_of_one_scope_keeps_the_other(self):
        self.s.apply(*record(self.hard))
        self.s.apply(*record(self.enduser))
        self.s.apply(*record(self.lift_of(self.hard, "5b5b5b5b5b5b5b5b")))
        self.assertFalse(self.s.may_send("acme", "jane.doe@fremantle.example", "news@mail.acme-shop.example", NOW))
        self.assertTrue(self.s.may_send("acme", "jane.doe@fremantle.example", "billing@acme.example", NOW))

    def test_tombstone_forgets_the_key(self):
        self.s.apply(*record(self.hard))
        self.assertEqual(self.s.apply(key_of(self.hard).encode(), None), "tombstone")
        self.assertTrue(self.s.may_send("acme", "jane.doe@fremantle.example", "x@acme.example", NOW))
        self.assertEqual(self.s.active, {})
        self.assertEqual(dict(self.s._index), {})
        # A tombstone for a key never seen is fine too.
        self.assertEqual(self.s.apply(b"acme" + US.encode() + b"nobody@x.example", None), "tombstone")

    def test_duplicates_are_skipped_by_decision_id(self):
        k, v = record(self.hard)
        lift_k, lift_v = record(self.lift_of(self.hard, "5b5b5b5b5b5b5b5b"))
        # suppress, lift, then the batch re-published after a crash: same ids, same order.
        results = [self.s.apply(k, v), self.s.apply(lift_k, lift_v), self.s.apply(k, v), self.s.apply(lift_k, lift_v)]
        self.assertEqual(results, ["suppress", "lift", "duplicate", "duplicate"])
        self.assertTrue(self.s.may_send("acme", "jane.doe@fremantle.example", "x@acme.example", NOW))
        self.assertEqual(self.s.counts["duplicate"], 2)

    def test_seen_ids_are_bounded(self):
        s = sc.SuppressionSet(max_seen_ids=1)
        a, b = copy.deepcopy(self.hard), copy.deepcopy(self.soft)
        s.apply(*record(a))
        s.apply(*record(b))
        self.assertEqual(list(s._seen), [b["decision_id"]])

    def test_expired_suppression_no_longer_blocks(self):
        self.s.apply(*record(self.soft))  # expires 2026-12-31T08:00:00.999Z
        self.assertFalse(self.s.may_send("acme", "full@inbox.example", "x@acme.example", NOW))
        later = datetime.datetime(2026, 12, 31, 8, 0, 1, tzinfo=datetime.timezone.utc)
        self.assertTrue(self.s.may_send("acme", "full@inbox.example", "x@acme.example", later))

    def test_blocking_explains(self):
        self.s.apply(*record(self.hard))
        self.s.apply(*record(self.enduser))
        found = self.s.blocking("acme", "jane.doe@fremantle.example", "news@mail.acme-shop.example", NOW)
        self.assertEqual(sorted(d["scope"] for d in found), ["sender", "tenant"])

    def test_newer_suppression_replaces_the_older_of_the_same_key(self):
        self.s.apply(*record(self.soft))
        newer = copy.deepcopy(self.soft)
        newer.update(decision_id="00000000000001ff", expires_at=None)
        self.s.apply(*record(newer))
        self.assertEqual(len(self.s.active), 1)
        later = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
        self.assertFalse(self.s.may_send("acme", "full@inbox.example", "x@acme.example", later))

    def test_hashed_recipients(self):
        key = b"secret-hmac-key"
        d = copy.deepcopy(self.hard)
        del d["recipient"]
        d["recipient_hash"] = sc.hash_recipient(key, "Jane.Doe@Fremantle.example")
        self.assertRegex(d["recipient_hash"], r"^h:[0-9a-f]{32}$")
        s = sc.SuppressionSet(hmac_key=key)
        s.apply(*record(d))
        self.assertFalse(s.may_send("acme", "jane.doe@fremantle.example", "x@acme.example", NOW))
        self.assertTrue(s.may_send("acme", "john@fremantle.example", "x@acme.example", NOW))

    def test_garbage_is_ignored_not_guessed(self):
        self.assertEqual(self.s.apply(b"acme" + US.encode() + b"a@b.example", b"{not json"), "ignored")
        self.assertEqual(self.s.apply(b"no-separator", json.dumps(self.hard).encode()), "ignored")
        unknown = copy.deepcopy(self.hard)
        unknown.update(kind="quarantine", decision_id="0000000000000abc")
        self.assertEqual(self.s.apply(*record(unknown)), "ignored")
        self.assertEqual(self.s.active, {})

    def test_every_valid_sample_applies(self):
        for d in samples("suppression.valid.jsonl"):
            self.assertIn(self.s.apply(*record(d)), ("suppress", "lift"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
