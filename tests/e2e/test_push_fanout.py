"""Fan-out of a push source: one webhook feeds two mappings. A row leaves the spool only once
both have handled it; the working mapping is not held back by the failing one; kill -9 loses
nothing and does not deliver again to the mapping that already handled a record; a reload that
removes a mapping releases the rows that waited only for it (docs/WEBHOOKS.md, Fan-out)."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "s3"))
from harness import (SluiceTest, base_config, http_request, main, to_yaml,  # noqa: E402
                     wait_until)
from s3_fn import S3Fn  # noqa: E402

FAIL_FOREVER = [{"status": 500, "count": 1000000}]


def config(workdir, fn_a, fn_b, b_retry=None, mappings=("a", "b"), b_enabled=True):
    cfg = base_config(workdir, fn_a.url)
    cfg["functions"] = [
        {"name": "fa", "type": "http", "url": fn_a.url, "timeout": "5s"},
        {"name": "fb", "type": "http", "url": fn_b.url, "timeout": "5s"},
    ]
    common = {"source": "orders", "batch": {"size": 5, "window": "0s"},
              # A small in-flight cap: the failing mapping falls behind and reads back.
              "max_inflight_records": 8}
    retry = {"a": {"max_attempts": 3, "backoff": {"min": "10ms", "max": "50ms"}},
             "b": b_retry or {"max_attempts": 10000, "backoff": {"min": "20ms", "max": "100ms"}}}
    cfg["mappings"] = [dict(common, name=n, function="f" + n, retry=retry[n]) for n in mappings]
    if not b_enabled:
        cfg["mappings"][1]["enabled"] = False
    return cfg


class PushFanout(SluiceTest):
    def db(self):
        return sqlite3.connect(os.path.join(self.workdir, "data", "sluice.db"), timeout=10)

    def scalar(self, sql, *args):
        db = self.db()
        try:
            return db.execute(sql, args).fetchone()[0]
        finally:
            db.close()

    def spooled(self):
        return self.scalar("SELECT count(*) FROM spool WHERE source = 'orders'")

    def marked(self, reader):
        return self.scalar("SELECT count(*) FROM spool_done WHERE reader = ?", reader)

    def backlog(self, s, mapping):
        return s.metrics()['sluice_source_backlog{mapping="%s"}' % mapping]

    def test_failing_mapping_holds_rows_kill9_loses_nothing_and_does_not_redeliver(self):
        fa = self.fn()
        fb = self.fn(script=FAIL_FOREVER)
        cfg = config(self.workdir, fa, fb)
        s = self.sluice(cfg)
        first = self.post_many(s, 30)  # every 202: committed to the spool

        # a is not held back by b: it delivers everything while b fails every call.
        wait_until(lambda: set(fa.delivered_ids()) == set(first), what="a delivered all 30")
        self.assertEqual(fb.delivered_ids(), [])
        self.assertGreater(len(fb.invocations()), 0)
        # a's marks are committed; every row stays for b.
        wait_until(lambda: self.marked("a") == 30, what="a's 30 marks committed")
        self.assertEqual(self.marked("b"), 0)
        self.assertEqual(self.spooled(), 30)
        wait_until(lambda: self.backlog(s, "a") == 0, what="a's backlog 0")
        self.assertEqual(self.backlog(s, "b"), 30)
        status, _, data = s.admin("GET", "/v1/mappings/b")
        self.assertEqual(status, 200, data)
        src = json.loads(data)["source"]
        self.assertEqual((src["name"], src["reader"], src["readers"], src["spooled"]),
                         ("orders", "b", 2, 30))
        self.assertEqual(src["source"]["path"], "/hooks/orders")

        s.kill9()
        s2 = self.sluice(cfg, name="again")
        more = self.post_many(s2, 10)
        produced = first + more
        wait_until(lambda: set(fa.delivered_ids()) == set(produced), what="a delivered all 40")
        self.assertEqual(self.spooled(), 40)
        # Once b handles them, the rows leave the spool with their marks.
        fb.set_script([])
        wait_until(lambda: set(fb.delivered_ids()) == set(produced), what="b delivered all 40")
        wait_until(lambda: self.spooled() == 0, what="the spool empty")
        wait_until(lambda: self.scalar("SELECT count(*) FROM spool_done") == 0,
                   what="no marks left")
        self.assertEqual(s2.terminate(), 0)
        # End to end: a got each record exactly once (nothing again after the kill), b each
        # record at least once, nothing dead-lettered.
        self.assertEqual(sorted(fa.delivered_ids()), sorted(produced))
        self.assertEqual(set(fb.delivered_ids()), set(produced))
        self.assertEqual(s2.dlq_entries(), [])

    def test_dead_lettered_by_one_delivered_by_the_other(self):
        fa = self.fn()
        fb = self.fn(script=FAIL_FOREVER)
        cfg = config(self.workdir, fa, fb,
                     b_retry={"max_attempts": 2, "backoff": {"min": "10ms", "max": "20ms"}})
        s = self.sluice(cfg)
        produced = self.post_many(s, 20)
        wait_until(lambda: self.spooled() == 0, what="the spool empty")
        self.assertEqual(sorted(fa.delivered_ids()), sorted(produced))
        self.assertEqual(fb.delivered_ids(), [])
        dead = s.dlq_entries(mapping="b")
        self.assertEqual(len(dead), len(produced))
        self.assertEqual(s.dlq_entries(mapping="a"), [])
        self.assertEqual(s.metrics().get('sluice_source_backlog{mapping="b"}'), 0)

    def test_reload_removing_a_mapping_releases_the_rows_only_it_held(self):
        fa = self.fn()
        fb = self.fn()
        # b is disabled: it reads nothing, and the rows wait for it (its position is kept).
        cfg = config(self.workdir, fa, fb, b_enabled=False)
        s = self.sluice(cfg)
        produced = self.post_many(s, 12)
        wait_until(lambda: self.marked("a") == 12, what="a's 12 marks committed")
        self.assertEqual(self.spooled(), 12)
        self.assertEqual(fb.invocations(), [])
        # b goes: the rows waited only for b, so they leave the spool.
        with open(s.config_path, "w") as f:
            f.write(to_yaml(config(self.workdir, fa, fb, mappings=("a",))) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        wait_until(lambda: self.spooled() == 0, what="the rows released")
        wait_until(lambda: self.scalar("SELECT count(*) FROM spool_done") == 0,
                   what="no marks left")
        # a goes on alone (the one-mapping path): new rows are delivered and deleted.
        more = self.post_many(s, 5)
        wait_until(lambda: set(fa.delivered_ids()) == set(produced + more), what="a got all")
        wait_until(lambda: self.spooled() == 0, what="the spool empty again")
        self.assertEqual(sorted(fa.delivered_ids()), sorted(produced + more))
        # b comes back: it reads only what arrives from now on (its rows were released).
        with open(s.config_path, "w") as f:
            f.write(to_yaml(config(self.workdir, fa, fb)) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        last = self.post_many(s, 4)
        wait_until(lambda: set(fb.delivered_ids()) == set(last), what="b got the new ones")
        wait_until(lambda: set(fa.delivered_ids()) == set(produced + more + last),
                   what="a got the new ones")
        wait_until(lambda: self.spooled() == 0, what="the spool empty at the end")

    def test_reload_moving_a_mapping_onto_a_hook_that_has_one(self):
        fa, fb = self.fn(), self.fn()
        cfg = config(self.workdir, fa, fb)
        cfg["sources"].append({"name": "other", "type": "http"})
        cfg["mappings"][1]["source"] = "other"
        s = self.sluice(cfg)
        before = self.post_many(s, 3)
        wait_until(lambda: set(fa.delivered_ids()) == set(before), what="a got the first 3")
        # b now reads orders too: orders is built again with a handle for each mapping.
        cfg["mappings"][1]["source"] = "orders"
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        after = self.post_many(s, 4)
        wait_until(lambda: set(fb.delivered_ids()) == set(after), what="b got the next 4")
        wait_until(lambda: set(fa.delivered_ids()) == set(before + after), what="a got all 7")
        wait_until(lambda: self.spooled() == 0, what="the spool empty")
        self.assertEqual(sorted(fa.delivered_ids()), sorted(before + after))
        self.assertEqual(s.terminate(), 0)

    def test_an_s3_source_feeds_two_mappings(self):
        fx, fy = S3Fn(), S3Fn()
        self.addCleanup(fx.stop)
        self.addCleanup(fy.stop)
        fy.poison_keys.add("k3")  # y's function refuses it (500) until it is taken out
        cfg = base_config(self.workdir, fx.url)
        cfg["functions"] = [{"name": "fx", "type": "http", "url": fx.url, "timeout": "5s"},
                            {"name": "fy", "type": "http", "url": fy.url, "timeout": "5s"}]
        cfg["sources"] = [{"name": "objects", "type": "s3"}]
        cfg["mappings"] = [{"name": n, "source": "objects", "function": "f" + n,
                            "batch": {"size": 10, "window": "0s"},
                            "retry": {"max_attempts": 10000,
                                      "backoff": {"min": "20ms", "max": "100ms"}}}
                           for n in ("x", "y")]
        s = self.sluice(cfg)
        for i in range(5):
            records = [{"eventVersion": "2.0", "eventSource": "minio:s3",
                        "eventTime": "2026-11-30T09:00:00.000Z",
                        "eventName": "s3:ObjectCreated:Put",
                        "s3": {"bucket": {"name": "b"},
                               "object": {"key": "k%d" % i, "size": 1,
                                          "sequencer": "%016X" % (i * 2 + r)}}}
                       for r in range(2)]  # two records per notification: one spool job
            status, _, data = http_request(s.push_port, "POST", "/s3/objects",
                                           {"EventName": "s3:ObjectCreated:Put",
                                            "Key": "b/k%d" % i, "Records": records})
            self.assertEqual(status, 200, data)
        produced = {("k%d" % i, "%016X" % (i * 2 + r)) for i in range(5) for r in range(2)}

        def seen(fn):
            return [(r["s3"]["object"]["key"], r["s3"]["object"]["sequencer"])
                    for r in fn.records()]

        # x is not held back by y: it gets every record while y refuses k3.
        wait_until(lambda: set(seen(fx)) == produced, what="x got all 10 records")
        wait_until(lambda: len(fy.refused) > 0, what="y refused k3")
        self.assertGreater(self.scalar("SELECT count(*) FROM spool WHERE source = 'objects'"), 0)
        fy.poison_keys.clear()
        wait_until(lambda: set(seen(fy)) == produced, what="y got all 10 records")
        wait_until(lambda: self.scalar("SELECT count(*) FROM spool") == 0, what="spool empty")
        self.assertEqual(sorted(seen(fx)), sorted(produced))  # once each
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    main()
