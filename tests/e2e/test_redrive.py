"""DLQ round trip: failure, list, show, redrive (CLI and admin API), then gone."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, json_body, main, wait_until  # noqa: E402


class Redrive(SluiceTest):
    def make(self, fail_count):
        fn = self.fn(script=[{"status": 500, "count": fail_count}])
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 1}}))
        return fn, s

    def test_cli_redrive_delivers_then_removes(self):
        fn, s = self.make(2)
        ids = self.post_many(s, 2)
        wait_until(lambda: len(s.dlq_entries()) == 2, what="2 DLQ entries")
        out = s.cli("dlq", "redrive", "--mapping", "orders-to-fn", "--dry-run").stdout.decode()
        self.assertIn("would redrive", out)
        self.assertEqual(len(s.dlq_entries()), 2, "a dry run changes nothing")
        self.assertEqual(fn.delivered_ids(), [])
        out = s.cli("dlq", "redrive", "--mapping", "orders-to-fn", "--rate", "50/s").stdout.decode()
        self.assertIn("redriven 2", out)
        self.assertEqual(sorted(fn.delivered_ids()), sorted(ids))
        self.assertEqual(s.dlq_entries(), [])

    def test_every_dlq_command_prints_json(self):
        fn, s = self.make(4)  # the redrive of one entry fails too
        self.post_many(s, 3)
        wait_until(lambda: len(s.dlq_entries()) == 3, what="3 DLQ entries")
        entries = s.dlq_entries()
        shown = json.loads(s.cli("dlq", "show", entries[0]["id"], "--json").stdout)
        self.assertEqual(shown["id"], entries[0]["id"])
        out = json.loads(s.cli("dlq", "redrive", "--id", entries[0]["id"], "--json",
                               check=False).stdout)
        self.assertEqual((out["matched"], out["failed"]), (1, 1))
        self.assertEqual([e["id"] for e in out["entries"]], [entries[0]["id"]])
        out = json.loads(s.cli("dlq", "redrive", "--all", "--dry-run", "--json").stdout)
        self.assertEqual((out["matched"], out["skipped"]), (3, 3))
        out = json.loads(s.cli("dlq", "purge", "--id", entries[1]["id"], "--json").stdout)
        self.assertEqual(out, {"purged": 1})

    def test_failed_redrive_keeps_the_entry(self):
        fn, s = self.make(3)
        self.post_many(s, 1)
        wait_until(lambda: len(s.dlq_entries()) == 1, what="1 DLQ entry")
        p = s.cli("dlq", "redrive", "--mapping", "orders-to-fn", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("failed 1", p.stdout.decode())
        self.assertEqual(len(s.dlq_entries()), 1)

    def test_admin_api_list_show_redrive_purge(self):
        fn, s = self.make(3)
        ids = self.post_many(s, 3)
        wait_until(lambda: len(s.dlq_entries()) == 3, what="3 DLQ entries")
        st, _, d = s.admin("GET", "/v1/dlq?mapping=orders-to-fn&limit=10")
        self.assertEqual(st, 200)
        entries = json_body(d)["entries"]
        self.assertEqual(sorted(e["recordId"] for e in entries), sorted(ids))
        st, _, d = s.admin("GET", "/v1/dlq/" + entries[0]["id"])
        self.assertEqual(st, 200)
        self.assertEqual(json_body(d)["id"], entries[0]["id"])
        st, _, d = s.admin("GET", "/v1/dlq/does-not-exist")
        self.assertEqual(st, 404)
        st, _, d = s.admin("POST", "/v1/dlq/redrive", {"id": entries[0]["id"]})
        self.assertEqual(st, 200, d)
        self.assertEqual(json_body(d)["redriven"], 1)
        st, _, d = s.admin("POST", "/v1/dlq/purge", {"id": entries[1]["id"]})
        self.assertEqual((st, json_body(d)["purged"]), (200, 1))
        st, _, d = s.admin("POST", "/v1/dlq/purge", {})
        self.assertEqual(st, 400)
        # Every entry is redriven only when asked for by name, as the CLI's --all.
        st, _, d = s.admin("POST", "/v1/dlq/redrive", {"dryRun": True})
        self.assertEqual(st, 400, d)
        self.assertIn("all", json_body(d)["message"])
        st, _, d = s.admin("POST", "/v1/dlq/redrive", {"all": True, "dryRun": True})
        self.assertEqual(st, 200, d)
        remaining = [e["id"] for e in s.dlq_entries()]
        self.assertEqual(remaining, [entries[2]["id"]])
        self.assertEqual(fn.delivered_ids(), [entries[0]["recordId"]])

    def test_admin_redrive_is_counted(self):
        fn, s = self.make(3)  # 2 records fail, then the redrive's first call fails
        self.post_many(s, 2)
        wait_until(lambda: len(s.dlq_entries()) == 2, what="2 DLQ entries")
        redriven = 'sluice_dlq_redrive_entries_total{mapping="orders-to-fn",result="redriven"}'
        failed = 'sluice_dlq_redrive_entries_total{mapping="orders-to-fn",result="failed"}'
        self.assertNotIn(redriven, s.metrics())
        st, _, d = s.admin("POST", "/v1/dlq/redrive", {"mapping": "orders-to-fn", "dryRun": True})
        self.assertEqual(st, 200, d)
        self.assertNotIn(redriven, s.metrics(), "a dry run is not counted")
        st, _, d = s.admin("POST", "/v1/dlq/redrive", {"mapping": "orders-to-fn", "rate": 100})
        self.assertEqual(st, 200, d)
        self.assertEqual((json_body(d)["redriven"], json_body(d)["failed"]), (1, 1))
        m = s.metrics()
        self.assertEqual((m.get(redriven), m.get(failed)), (1, 1))
        self.assertIn("# TYPE sluice_dlq_redrive_entries_total counter",
                      s.admin("GET", "/metrics")[2].decode())

    def test_redrive_to_another_function_and_list_since(self):
        bad = self.fn(script=[{"status": 500, "count": 100}])
        good = self.fn()
        cfg = base_config(self.workdir, bad.url,
                          source={"token": "hook-token-value", "keep_headers": ["authorization", "content-type"]},
                          mapping={"batch": {"size": 1, "window": "0s"}, "retry": {"max_attempts": 1}})
        cfg["functions"].append({"name": "fixed", "type": "http", "url": good.url})
        s = self.sluice(cfg)
        auth = {"Authorization": "Bearer hook-token-value"}
        ids = [json_body(s.post("orders", {"n": i}, auth)[2])["id"] for i in range(2)]
        wait_until(lambda: len(s.dlq_entries()) == 2, what="2 DLQ entries")
        # Credentials never reach a DLQ entry, even when keep_headers names them.
        for e in s.dlq_entries():
            text = s.cli("dlq", "show", e["id"]).stdout.decode()
            self.assertNotIn("hook-token-value", text)
            self.assertNotIn("authorization", text.lower())
        since = s.cli("dlq", "list", "--json", "--since", "-1h").stdout.decode()
        self.assertEqual(len(json.loads(since)["entries"]), 2)
        future = s.cli("dlq", "list", "--json", "--since", "2999-01-01T00:00:00Z").stdout.decode()
        self.assertEqual(json.loads(future)["entries"], [])
        bad_since = s.cli("dlq", "list", "--since", "soon", check=False)
        self.assertEqual(bad_since.returncode, 2)
        self.assertIn(b"--since", bad_since.stderr)
        bare = s.cli("dlq", "redrive", "--to", "fixed", check=False)
        self.assertEqual(bare.returncode, 2)  # like purge: no filter needs --all
        self.assertIn(b"--all", bare.stderr)
        out = s.cli("dlq", "redrive", "--all", "--to", "fixed").stdout.decode()
        self.assertIn("redriven 2", out)
        self.assertEqual(sorted(good.delivered_ids()), sorted(ids))
        self.assertEqual(s.dlq_entries(), [])
        p = s.cli("dlq", "redrive", "--all", "--to", "nope", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"no function named", p.stderr)
        # An id that names no entry is a failure, as it is for purge.
        for cmd in ("redrive", "purge"):
            p = s.cli("dlq", cmd, "--id", "no-such-entry", check=False)
            self.assertEqual(p.returncode, 1, (cmd, p.stdout, p.stderr))


if __name__ == "__main__":
    main()
