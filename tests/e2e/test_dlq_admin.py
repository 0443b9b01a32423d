"""DLQ admin calls at scale: cursor pages, chunked purge with progress, and reads that run off
the loop (a listing stuck on a silent Redis never holds pushes or probes)."""
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, json_body, main, to_yaml, wait_until  # noqa: E402


class SilentServer:
    """Accepts TCP connections, records what arrives, never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.received = b""
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(c)
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.received += data

    def got(self, needle):
        with self.lock:
            return needle in self.received

    def close(self):
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                c.close()


class DlqAdmin(SluiceTest):
    def failing(self, n):
        """n records dead-lettered (one attempt each, the function always fails)."""
        fn = self.fn(script=[{"status": 500, "count": 1000000}])
        s = self.sluice(base_config(self.workdir, fn.url, mapping={
            "batch": {"size": 100, "window": "0s"},
            "retry": {"max_attempts": 1}}))
        ids = self.post_many(s, n)
        wait_until(lambda: s.metrics().get(
            'sluice_records_dead_lettered_total{mapping="orders-to-fn"}') == n,
            timeout=300, what="%d DLQ entries" % n)
        return fn, s, ids

    def page(self, s, limit, after=None):
        path = "/v1/dlq?limit=%d" % limit + ("&after=" + after if after else "")
        st, _, d = s.admin("GET", path)
        self.assertEqual(st, 200, d)
        return json_body(d)

    def test_pages_chunked_purge_and_tasks(self):
        fn, s, ids = self.failing(1150)
        # Pages of 400 cover every entry once, in order, with a cursor between them.
        seen, after, pages = [], None, 0
        while True:
            body = self.page(s, 400, after)
            pages += 1
            seen += [e["recordId"] for e in body["entries"]]
            after = body.get("next")
            if after is None:
                break
            self.assertEqual(len(body["entries"]), 400)
        self.assertEqual(pages, 3)
        self.assertEqual(sorted(seen), sorted(ids))
        self.assertEqual(len(set(seen)), 1150)

        # A cursor survives removals: purge the first entry of page 2, then read on from page 1.
        first = self.page(s, 400)
        second = self.page(s, 400, first["next"])
        st, _, d = s.admin("DELETE", "/v1/dlq/" + second["entries"][0]["id"])
        self.assertEqual(st, 200, d)
        again = self.page(s, 400, first["next"])
        self.assertEqual([e["id"] for e in again["entries"]][:399],
                         [e["id"] for e in second["entries"]][1:])

        # Bad cursors get a 400 naming the parameter.
        for bad in ("nope", "default/not-a-position", "no-such-dlq/1.2"):
            st, _, d = s.admin("GET", "/v1/dlq?after=" + bad)
            self.assertEqual(st, 400, (bad, d))
            self.assertIn("after", json_body(d)["message"])

        # The CLI pages the same way.
        out = s.cli("dlq", "list", "--limit", "2").stdout.decode()
        cursor = [l for l in out.splitlines() if l.startswith("more: --after ")][0].split()[-1]
        out2 = s.cli("dlq", "list", "--limit", "2", "--after", cursor).stdout.decode()
        self.assertNotEqual(out.splitlines()[1], out2.splitlines()[1])

        # Purge works in chunks of 500, reports progress, and leaves nothing.
        st, _, d = s.admin("POST", "/v1/dlq/purge", {"mapping": "orders-to-fn"})
        self.assertEqual(st, 200, d)
        self.assertEqual(json_body(d)["purged"], 1149)
        task = json_body(d)["task"]
        s.out.wait_for(r"purge: 500 entries removed so far")
        s.out.wait_for(r"purge done: 1149 entries removed")
        st, _, d = s.admin("GET", "/v1/dlq/tasks")
        self.assertEqual(st, 200)
        t = [t for t in json_body(d)["tasks"] if t["id"] == task][0]
        self.assertEqual((t["kind"], t["state"], t["purged"], t["matched"]),
                         ("purge", "done", 1149, 1149))
        self.assertEqual(self.page(s, 10)["entries"], [])
        # End to end: every record produced is either delivered or was dead-lettered.
        self.assertEqual(fn.delivered_ids(), [])

    def test_show_by_the_id_a_webhook_returned(self):
        fn, s, ids = self.failing(3)
        listed = {e["recordId"]: e["id"] for e in self.page(s, 10)["entries"]}
        self.assertEqual(sorted(listed), sorted(ids))
        for rid in ids:
            # The id the 202 returned finds the entry, in the CLI and the admin API...
            shown = json_body(s.cli("dlq", "show", rid).stdout)
            self.assertEqual((shown["id"], shown["recordId"]), (listed[rid], rid))
            st, _, d = s.admin("GET", "/v1/dlq/" + rid)
            self.assertEqual(st, 200, d)
            self.assertEqual(json_body(d)["id"], listed[rid])
            # ...and so does the entry's own id.
            st, _, d = s.admin("GET", "/v1/dlq/" + listed[rid])
            self.assertEqual((st, json_body(d)["recordId"]), (200, rid))
        st, _, d = s.admin("GET", "/v1/dlq/no-such-id")
        self.assertEqual(st, 404, d)
        self.assertNotEqual(s.cli("dlq", "show", "no-such-id", check=False).returncode, 0)
        # A record id also selects the entry to purge.
        st, _, d = s.admin("DELETE", "/v1/dlq/" + ids[0])
        self.assertEqual((st, json_body(d)["purged"]), (200, 1), d)
        self.assertEqual(sorted(e["recordId"] for e in self.page(s, 10)["entries"]),
                         sorted(ids[1:]))

    def stuck_listing(self):
        """A sluice with a Redis DLQ sink "stuck" on a server that never answers, and a listing
        of the DLQ waiting there (on a thread). Returns (silent, fn, cfg, s, thread, result)."""
        silent = SilentServer()
        self.addCleanup(silent.close)
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url, extra={"dlqs": [{
            "name": "stuck", "type": "redis", "host": "127.0.0.1", "port": silent.port,
            "stream": "dlq", "command_timeout": "60s"}]})
        s = self.sluice(cfg)
        result = {}

        def listing():
            result["status"], _, result["body"] = s.admin("GET", "/v1/dlq?limit=10000")
        t = threading.Thread(target=listing, daemon=True)
        t.start()
        # The listing reached the silent Redis and waits there for an answer that never comes.
        wait_until(lambda: silent.got(b"XRANGE"), what="the listing's XRANGE")
        return silent, fn, cfg, s, t, result

    def test_listing_runs_off_the_loop(self):
        silent, fn, _, s, t, result = self.stuck_listing()
        # Meanwhile the loop serves probes, pushes and deliveries.
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        ids = self.post_many(s, 20)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="20 deliveries")
        st, _, d = s.admin("GET", "/v1/mappings")
        self.assertEqual(st, 200)
        self.assertTrue(t.is_alive(), "the listing is still waiting for Redis")
        self.assertNotIn("status", result)
        # Redis goes away: the listing ends with an error answer.
        silent.close()
        t.join(120)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["status"], 500, result.get("body"))
        self.assertEqual(json_body(result["body"])["error"], "dlq_error")

    def test_reload_keeps_a_sink_open_under_a_read(self):
        # A reload that takes out the sink a listing is reading keeps it open for the read (it
        # is closed when sluice stops); the listing then ends as before, and nothing is freed
        # under it (ASan would say so).
        silent, fn, cfg, s, t, result = self.stuck_listing()
        del cfg["dlqs"]
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        st, _, d = s.admin("POST", "/v1/reload")
        self.assertEqual(st, 200, d)
        s.out.wait_for(r"dlq stuck: a DLQ read is under way: closed when sluice stops")
        # The mapping goes on delivering meanwhile.
        ids = self.post_many(s, 5)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="5 deliveries")
        silent.close()
        t.join(120)
        self.assertFalse(t.is_alive())
        self.assertEqual(result["status"], 500, result.get("body"))
        self.assertEqual(s.terminate(), 0)


if __name__ == "__main__":
    main()
