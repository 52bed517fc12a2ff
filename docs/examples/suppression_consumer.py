#!/usr/bin/python3
"""A minimal subscriber of bouncestream.suppressions that keeps a local suppression set.

Reads the topic from the beginning (it is compacted: the latest record of each key is that key's
state), applies suppress / lift / tombstone records, skips records whose decision_id it has already
applied, and answers "may I send to RECIPIENT from SENDER?" for a tenant.

    suppression_consumer.py --bootstrap host:9092 --check acme jane@example.com news@acme.example
    suppression_consumer.py --bootstrap host:9092            # follow: print every change

Options: --topic (default bouncestream.suppressions), -X key=value (librdkafka properties such as
security.protocol, sasl.*, ssl.*), --hmac-key-file (when bouncestream runs with
[state] hash_recipients = true: the same key, so addresses can be hashed for the lookup).

The state logic (SuppressionSet) has no Kafka dependency and is what a sending system would embed;
only main() needs Debian's python3-confluent-kafka (1.7). See docs/subscribing.md.
"""

import argparse
import collections
import datetime
import hashlib
import hmac
import json
import sys

SEP = "\x1f"  # the unit separator between the parts of a record key


def _text(b):
    if b is None:
        return None
    return b.decode("utf-8", errors="replace") if isinstance(b, (bytes, bytearray)) else str(b)


def _parse_time(s):
    """RFC 3339 UTC with milliseconds ("2026-12-01T10:24:00.123Z") -> aware datetime; None -> None."""
    if s is None:
        return None
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def hash_recipient(hmac_key, address):
    """What bouncestream publishes for an address when recipients are hashed:
    "h:" + the first 16 bytes of HMAC-SHA256(key, lower-cased address), in hex."""
    digest = hmac.new(hmac_key, address.lower().encode("utf-8"), hashlib.sha256).digest()
    return "h:" + digest[:16].hex()


class SuppressionSet:
    """The active suppressions of bouncestream.suppressions, keyed by the record key.

    Key format (state/decision.cc RecordKey): tenant US recipient for scope tenant, and
    tenant US recipient US sender for scope sender (US = 0x1F). `recipient` is the address as the
    bounce events gave it, or its "h:" hash. Lookups are case-insensitive on the address and the
    sender (an index maps the lower-cased parts to the keys).
    """

    def __init__(self, hmac_key=None, max_seen_ids=1_000_000):
        self.hmac_key = hmac_key
        self.active = {}            # record key -> decision (dict) of an active suppression
        self._index = collections.defaultdict(set)  # (tenant, rcpt, sender|None) -> keys
        self._seen = collections.OrderedDict()      # decision_id -> None, oldest first
        self._max_seen = max_seen_ids
        self.counts = collections.Counter()

    # --- applying records -------------------------------------------------------------------
    @staticmethod
    def _norm(key):
        parts = key.split(SEP)
        if len(parts) == 2:
            return (parts[0], parts[1].lower(), None)
        if len(parts) == 3:
            return (parts[0], parts[1].lower(), parts[2].lower())
        return None

    def _drop(self, key):
        if self.active.pop(key, None) is not None:
            norm = self._norm(key)
            keys = self._index.get(norm)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._index[norm]

    def apply(self, key, value):
        """Applies one record (key and value as bytes or str; value None = tombstone).
        Returns what it did: suppress, lift, tombstone, duplicate or ignored."""
        key = _text(key)
        if key is None or self._norm(key) is None:
            return self._count("ignored")          # not a suppression key
        if value is None:
            # GDPR erasure: the key's address must be forgotten (compaction removes it too).
            self._drop(key)
            return self._count("tombstone")
        try:
            d = json.loads(_text(value))
            decision_id, kind = d["decision_id"], d["kind"]
        except (ValueError, KeyError, TypeError):
            return self._count("ignored")          # not a decision: never guess
        if decision_id in self._seen:
            # At-least-once delivery: a re-published record carries the same id. (Replaying it
            # would also converge, as records of a key stay in order; skipping keeps side
            # effects such as notifications exactly once.)
            self._seen.move_to_end(decision_id)
            return self._count("duplicate")
        self._seen[decision_id] = None
        if len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)
        if kind == "suppress":
            self._drop(key)
            self.active[key] = d
            self._index[self._norm(key)].add(key)
            return self._count("suppress")
        if kind == "lift":
            self._drop(key)
            return self._count("lift")
        return self._count("ignored")              # a kind this version does not know

    def _count(self, what):
        self.counts[what] += 1
        return what

    # --- answering ----------------------------------------------------------------------------
    def _recipient_token(self, recipient):
        if self.hmac_key is not None:
            return hash_recipient(self.hmac_key, recipient)
        return recipient.lower()

    @staticmethod
    def _in_force(d, now):
        expires = _parse_time(d.get("expires_at"))
        # The lift for an expiry follows the events' time; do not wait for it.
        return expires is None or now < expires

    def blocking(self, tenant, recipient, sender, now=None):
        """The active decisions that forbid sending to `recipient` from `sender` for `tenant`:
        scope tenant (every sender) and scope sender (this sender only)."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        rcpt = self._recipient_token(recipient)
        found = []
        for norm in ((tenant, rcpt, None), (tenant, rcpt, sender.lower())):
            for key in sorted(self._index.get(norm, ())):
                d = self.active[key]
                if self._in_force(d, now):
                    found.append(d)
        return found

    def may_send(self, tenant, recipient, sender, now=None):
        return not self.blocking(tenant, recipient, sender, now)


def _main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bootstrap", required=True, help="bootstrap.servers, host:port[,...]")
    p.add_argument("--topic", default="bouncestream.suppressions")
    p.add_argument("-X", action="append", default=[], metavar="KEY=VALUE",
                   help="librdkafka property (repeatable)")
    p.add_argument("--hmac-key-file", help="the [state] hmac_key, when recipients are hashed")
    p.add_argument("--check", nargs=3, metavar=("TENANT", "RECIPIENT", "SENDER"),
                   help="read to the end of the topic, answer, exit (0 may send, 1 may not)")
    args = p.parse_args(argv)

    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError  # python3-confluent-kafka

    hmac_key = None
    if args.hmac_key_file:
        with open(args.hmac_key_file, "rb") as f:
            hmac_key = f.read().strip()
    conf = {"bootstrap.servers": args.bootstrap,
            "group.id": "suppression-mirror",   # required by the client; offsets are never committed
            "enable.auto.commit": False,
            "enable.partition.eof": True}
    for kv in args.X:
        k, _, v = kv.partition("=")
        conf[k] = v
    consumer = Consumer(conf)
    state = SuppressionSet(hmac_key=hmac_key)
    pending = set()  # partitions not yet read to their end

    def on_assign(c, partitions):
        for tp in partitions:
            tp.offset = OFFSET_BEGINNING        # the whole compacted log, every time
            pending.add(tp.partition)
        c.assign(partitions)

    consumer.subscribe([args.topic], on_assign=on_assign)
    caught_up = False
    try:
        while True:
            m = consumer.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                    if not pending and not caught_up:
                        caught_up = True
                        print(f"caught up: {len(state.active)} active suppressions "
                              f"({dict(state.counts)})", file=sys.stderr)
                        if args.check:
                            tenant, rcpt, sender = args.check
                            found = state.blocking(tenant, rcpt, sender)
                            for d in found:
                                print(f"suppressed: scope={d['scope']} reason={d['reason']} "
                                      f"rule={d['rule']} since={d['decided_at']} "
                                      f"expires={d['expires_at']} id={d['decision_id']}")
                            print("may send" if not found else "may NOT send")
                            return 0 if not found else 1
                    continue
                print(f"kafka: {m.error()}", file=sys.stderr)
                continue
            what = state.apply(m.key(), m.value())
            if caught_up:
                print(f"{what}\t{_text(m.key()).replace(SEP, ' | ')}")
    except KeyboardInterrupt:
        return 0
    finally:
        consumer.close()


if __name__ == "__main__":
    sys.exit(_main())
