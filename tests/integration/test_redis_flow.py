"""How the redis source moves entries, checked in Redis itself (XPENDING, INFO commandstats)
rather than by timing: it reads ahead while a batch is at the function, sizing a read by the
room read_ahead leaves; it stops reading at the mapping's in-flight caps (at most one read
beyond them) and resumes; it acks everything handled in one loop iteration with one XACK per
stream."""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, json_body, main, wait_until  # noqa: E402
from redis_fixture import RedisTest, redis_source  # noqa: E402


def config(test, fn, port, streams, mapping=None, source=None):
    m = {"batch": {"size": 10, "window": "0s"}}
    m.update(mapping or {})
    # A long BLOCK: a read waiting for entries is never repeated while a test looks, so the
    # XREADGROUP calls Redis counts are the reads that brought entries (plus one waiting).
    src = {"block": "60s", "claim_idle": "60s"}
    src.update(source or {})
    return base_config(test.workdir, fn.url, mapping=m, extra={
        "sources": [redis_source(port, streams, **src)],
    })


def pending(client, stream, group="sluice-orders"):
    try:
        return client.cmd("XPENDING", stream, group)[0]
    except Exception:  # NOGROUP until sluice creates it
        return None


def entries_read(client, stream, group="sluice-orders"):
    for g in client.cmd("XINFO", "GROUPS", stream):
        d = dict(zip(g[0::2], g[1::2]))
        if d["name"] == group:
            return d["entries-read"]
    return None


def calls(client, command):
    """How many times Redis ran a command since it started (INFO commandstats)."""
    for line in client.cmd("INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_%s:" % command):
            return int(line.split("calls=", 1)[1].split(",", 1)[0])
    return 0


def add_at_once(client, stream, n, start):
    """XADDs n entries in one transaction: a blocked read is served once, with all of them."""
    replies = client.pipeline([["MULTI"]] +
                              [["XADD", stream, "*", "k", str(start + i)] for i in range(n)] +
                              [["EXEC"]])
    return replies[-1]


class FirstThrough:
    """A KinesisFn gate that answers the first invocation at once and holds the later ones
    until set(): a function still busy with the second batch when the first is done."""

    def __init__(self):
        self.first = True
        self.lock = threading.Lock()
        self.ev = threading.Event()

    def wait(self):
        with self.lock:
            first, self.first = self.first, False
        if not first:
            self.ev.wait()

    def set(self):
        self.ev.set()


class RedisFlow(RedisTest):
    def test_acks_a_finished_batch_while_the_next_is_at_the_function(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        fn.gate = FirstThrough()
        ids = self.produce(c, "orders", 20)
        self.sluice(config(self, fn, r.port, ["orders"]))
        wait_until(lambda: len(fn.arrived) >= 2, what="the second batch at the function")
        # The first batch is done and its entries leave the pending list while the second
        # batch is still at the function (the acks do not wait for the lane to drain).
        wait_until(lambda: pending(c, "orders") == 10, what="the first batch acked")
        self.assertEqual([len(inv["ids"]) for inv in fn.invocations()], [10])
        self.assertEqual(fn.arrived[1], ["orders:" + i for i in ids[10:]])

        fn.release()
        wait_until(lambda: pending(c, "orders") == 0 and entries_read(c, "orders") == 20,
                   what="every entry delivered and acked")
        self.assertEqual(list(dict.fromkeys(fn.delivered())), ["orders:" + i for i in ids])

    def test_reads_ahead_while_a_batch_is_at_the_function(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(hold=True)
        ids = self.produce(c, "orders", 25)
        # count 10 (the batch size), read_ahead 40.
        self.sluice(config(self, fn, r.port, ["orders"]))
        wait_until(lambda: fn.arrived, what="the first batch at the function")
        ids += add_at_once(c, "orders", 20, 25)
        # The first batch is still at the function, and the source has read ahead up to
        # read_ahead: 25 entries in the first read, then the 15 that read_ahead left room for
        # in the read that was waiting. Reads of `count` each would have taken 5 round trips
        # (10, 10, 5, 10, 10) and held 45.
        wait_until(lambda: (pending(c, "orders") or 0) >= 40, what="40 entries read ahead")
        self.assertEqual(pending(c, "orders"), 40)
        self.assertEqual(calls(c, "xreadgroup"), 2)
        self.assertEqual(len(fn.arrived), 1)
        self.assertEqual(fn.invocations(), [])

        fn.release()
        wait_until(lambda: pending(c, "orders") == 0 and entries_read(c, "orders") == 45,
                   what="every entry delivered and acked")
        self.assertEqual(list(dict.fromkeys(fn.delivered())), ["orders:" + i for i in ids])
        # One XACK per finished batch, carrying all of its ids.
        self.assertLessEqual(calls(c, "xack"), len(fn.invocations()))

    def test_stops_reading_at_the_caps_then_resumes(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn(hold=True)
        ids = self.produce(c, "orders", 100)
        s = self.sluice(config(self, fn, r.port, ["orders"],
                               mapping={"max_inflight_records": 15},
                               source={"read_ahead": 1000}))

        def state():
            status, _, data = s.admin("GET", "/v1/mappings/orders-to-fn")
            doc = json_body(data) if status == 200 else None
            return doc.get("mapping", doc) if isinstance(doc, dict) else None

        wait_until(lambda: (state() or {}).get("state") == "paused", what="the source paused")
        # Paused at the caps: the read that reached them is the last one (its COUNT is at most
        # 4 x count = 40), and nothing is read while paused.
        held = pending(c, "orders")
        self.assertGreaterEqual(held, 15)
        self.assertLessEqual(held, 15 + 40, json.dumps(state()))
        self.assertEqual(calls(c, "xreadgroup"), 1)

        fn.release()
        wait_until(lambda: pending(c, "orders") == 0 and entries_read(c, "orders") == 100,
                   what="every entry delivered and acked after resuming")
        self.assertEqual(list(dict.fromkeys(fn.delivered())), ["orders:" + i for i in ids])

    def test_one_xack_per_stream_per_iteration(self):
        r = self.redis()
        c = r.client()
        fn = self.kfn()
        for st in ("a", "b"):
            self.produce(c, st, 100)
        # Every entry is filtered out: each read's entries are handled as they are emitted,
        # in the iteration that read them.
        self.sluice(config(self, fn, r.port, ["a", "b"],
                           mapping={"filters": [{"data": {"type": ["keep"]}}]}))
        wait_until(lambda: all(pending(c, st) == 0 and entries_read(c, st) == 100
                               for st in ("a", "b")),
                   what="both streams read and acked")
        self.assertEqual(fn.invocations(), [])
        reads, acks = calls(c, "xreadgroup"), calls(c, "xack")
        # At most one XACK per stream for each read that brought entries (one per record would
        # be 200).
        self.assertLessEqual(acks, 2 * reads)
        self.assertLessEqual(acks, 20)


if __name__ == "__main__":
    main()
