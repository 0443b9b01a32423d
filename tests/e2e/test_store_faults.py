"""Faults the store must notice, with the real sluice binary: the store directory deleted while
sluice runs (pushes get 503, /readyz fails, what was accepted before is still delivered), and a
full disk, made without root by a file size limit (RLIMIT_FSIZE) on the sluice process (pushes
get 503, and every 202 was durable: it is delivered after a kill -9 and a restart)."""
import os
import re
import resource
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, json_body, main, wait_until  # noqa: E402


class StoreFaults(SluiceTest):
    def assert_unavailable(self, status, headers, data):
        self.assertEqual(status, 503, data)
        self.assertEqual(json_body(data)["error"], "spool_unavailable", data)
        self.assertIn("retry-after", headers)
        self.assertGreater(int(headers["retry-after"]), 0)

    def test_deleted_store_dir_stops_202_and_readiness(self):
        # The function fails until told otherwise: accepted records stay in flight in memory.
        fn = self.fn(script=[{"status": 500, "count": 1000000}])
        cfg = base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 5, "window": "0s"},
            "retry": {"max_attempts": 10000, "backoff": {"min": "20ms", "max": "100ms"}},
        })
        data_dir = cfg["store"]["dir"]
        s = self.sluice(cfg)
        accepted = self.post_many(s, 30)
        wait_until(lambda: fn.invocations(), what="a first (failing) invocation")
        self.assertEqual(fn.delivered_ids(), [])
        self.assertEqual(s.admin("GET", "/readyz")[0], 200)
        m = s.metrics()
        self.assertEqual(m.get("sluice_store_ok"), 1)
        # Every accepted push was a committed write; group commits hold one or more writes.
        self.assertGreaterEqual(m.get("sluice_store_writes_committed_total"), len(accepted))
        self.assertGreaterEqual(m.get("sluice_store_commits_total"), 1)
        self.assertLessEqual(m.get("sluice_store_commits_total"),
                             m.get("sluice_store_writes_committed_total"))

        shutil.rmtree(data_dir)
        # Nothing is written meanwhile (the failing calls only retry): an idle sluice notices
        # by itself.
        wait_until(lambda: s.admin("GET", "/readyz")[0] == 503, what="/readyz answering 503")
        status, _, data = s.admin("GET", "/readyz")
        self.assertEqual(json_body(data), {"status": "not_ready", "reason": "store_lost"})
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        s.out.wait_for(r"error .*\[store\] store directory %s lost: the directory was deleted\. "
                       r".*restore or recreate the directory and restart" % re.escape(data_dir))
        self.assertEqual(s.metrics().get("sluice_store_ok"), 0)
        # A lost store never shows up as a made-up -1 in a gauge.
        self.assertEqual([k for k, v in s.metrics().items() if v < 0], [])

        # No push is answered 202 any more.
        for i in range(5):
            self.assert_unavailable(*s.post("orders", {"late": i}))

        # What was accepted before is delivered, from memory and the open database, once each.
        fn.set_script([])
        wait_until(lambda: len(fn.delivered_ids()) >= len(accepted), what="30 deliveries")
        self.assertEqual(fn.delivered_ids(), accepted)
        # Handled rows are deleted from the open database: the operator can see it is empty.
        wait_until(lambda: s.metrics().get("sluice_spool_depth") == 0, what="an empty spool")
        self.assertEqual(s.terminate(), 0)
        self.assertFalse(os.path.exists(data_dir))

    def test_full_disk_answers_503_and_never_202s_unstored(self):
        fn = self.fn()
        # The window holds every accepted record in memory: nothing is delivered (nor deleted)
        # before the kill, so a delivery after the restart proves the record was stored.
        cfg = base_config(self.workdir, fn.url,
                          mapping={"batch": {"size": 10000, "window": "300s"}})
        limit = 1024 * 1024

        def limit_file_size():
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        s = self.sluice(cfg, start=False)
        s.start(preexec_fn=limit_file_size)
        accepted, refused = [], 0
        pad = "x" * 16000
        for i in range(400):
            status, headers, data = s.post("orders", {"n": i, "pad": pad})
            if status == 202:
                accepted.append(json_body(data)["id"])
                continue
            self.assert_unavailable(status, headers, data)
            refused += 1
            if refused == 5:
                break
        self.assertEqual(refused, 5, "no 503 within 400 pushes of 16 kB under a 1 MiB limit")
        self.assertGreater(len(accepted), 0)
        s.out.wait_for(r"\[store\] .*failed.*file size limit")
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        self.assertEqual(fn.delivered_ids(), [])

        s.kill9()
        cfg["mappings"][0]["batch"] = {"size": 50, "window": "0s"}
        again = self.sluice(cfg, name="sluice-again")
        wait_until(lambda: set(fn.delivered_ids()) >= set(accepted), timeout=120,
                   what="every 202'd record delivered after the restart")
        # Nothing else was stored: once the spool is empty, every record delivered had its 202.
        wait_until(lambda: again.metrics().get("sluice_spool_depth") == 0, what="an empty spool")
        self.assertEqual(set(fn.delivered_ids()), set(accepted))


if __name__ == "__main__":
    main()
