"""One postgres-cdc source read by two mappings (docs/ARCHITECTURE.md, "Fan-out"), real
PostgreSQL 15: each mapping streams through a replication slot of its own (`reader.group`), so
both get every change; one mapping's failing function dead-letters its copies while the other
delivers, and each slot is confirmed on its own. Counts per mapping: delivered + dead-lettered
= produced."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import main, wait_until  # noqa: E402
from pgcdc_fixture import CdcTest, cdc_config  # noqa: E402


class CdcFanout(CdcTest):
    def test_two_slots_one_failing(self):
        pg = self.pg
        pg.query("CREATE TABLE t (id int PRIMARY KEY, v text)")
        ok, failing = self.ddbfn(), self.ddbfn(fail_rate=1.0)
        cfg = cdc_config(self, ok, pg)
        cfg["functions"].append({"name": "fn2", "type": "http", "url": failing.url,
                                 "timeout": "5s"})
        cfg["mappings"].append(dict(cfg["mappings"][0], name="audit", function="fn2",
                                    reader={"group": "slot_audit"}))
        s = self.sluice(cfg)
        self.wait_streaming("sluice_slot")
        self.wait_streaming("slot_audit")
        n = 50
        conn = pg.connect()
        cur = conn.cursor()
        for i in range(n):
            cur.execute("INSERT INTO t VALUES (%s, 'x')", (i,))
        conn.close()

        def keys(records):
            return {int(r["dynamodb"]["Keys"]["id"]["N"]) for r in records}
        want = set(range(n))
        wait_until(lambda: keys(ok.delivered()) >= want, what="orders-to-fn: every change")
        wait_until(lambda: len(s.dlq_entries(mapping="audit")) >= n,
                   what="audit: every change dead-lettered")
        self.assertEqual(keys(ok.delivered()), want)
        self.assertEqual(s.dlq_entries(mapping="orders-to-fn"), [])
        dead = s.dlq_entries(mapping="audit")
        self.assertEqual(len({e["recordId"] for e in dead}), n)
        self.assertEqual(failing.delivered(), [])
        # Each slot confirmed past the changes on its own.
        end = pg.scalar("SELECT pg_current_wal_lsn()::text")
        hi, lo = end.split("/")
        lsn = (int(hi, 16) << 32 | int(lo, 16)) - 200
        for slot in ("sluice_slot", "slot_audit"):
            wait_until(lambda: (self.confirmed_lsn(slot) or 0) >= lsn,
                       what="slot %s confirmed" % slot)
        mx = s.metrics()
        self.assertEqual(
            mx['sluice_pgcdc_changes_total{source="orders",mapping="audit",slot="slot_audit"}'],
            n)
        s.terminate()


if __name__ == "__main__":
    main()
