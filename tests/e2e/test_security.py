"""Security hardening against the real binary: secrets in a function URL's query string never
reach the log, the admin API or the CLI; health probes answer while the admin listener is full;
a hook without a token on a non-loopback push listener is warned about at start."""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (SLUICE, SluiceTest, base_config, json_body, main, to_yaml,  # noqa: E402
                     wait_until)

SECRET = "s3cret"


class Security(SluiceTest):
    def test_function_url_query_is_redacted(self):
        fn = self.fn()
        url = fn.url + "?code=" + SECRET + "&x=" + SECRET + "2"
        s = self.sluice(base_config(self.workdir, url))  # log.level: debug
        self.post_many(s, 2)
        wait_until(lambda: len(fn.delivered_ids()) == 2, what="2 deliveries")
        st, _, data = s.admin("GET", "/v1/mappings")
        self.assertEqual(st, 200)
        self.assertNotIn(SECRET, data.decode())
        self.assertEqual(json_body(data)["mappings"][0]["function"], "fn")
        st, _, data = s.admin("GET", "/v1/mappings/orders-to-fn")
        self.assertEqual(st, 200)
        self.assertNotIn(SECRET, data.decode())

        cfg = base_config(self.workdir, url)
        cfg["admin"]["listen"] = "127.0.0.1:%d" % s.admin_port
        cli_cfg = os.path.join(self.workdir, "cli.yaml")
        with open(cli_cfg, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        for args in (["mappings"], ["mappings", "show", "orders-to-fn"]):
            p = subprocess.run([SLUICE] + args + ["-c", cli_cfg], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertNotIn(SECRET.encode(), p.stdout + p.stderr)
        s.stop()
        text = s.out.text()
        self.assertIn("?code=(redacted)&x=(redacted)", text, "the debug log shows the URL redacted")
        self.assertNotIn(SECRET, text)

    def test_probes_answer_when_admin_is_full(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        cfg["admin"]["max_connections"] = 4
        s = self.sluice(cfg)
        idle = [socket.create_connection(("127.0.0.1", s.admin_port), timeout=30)
                for _ in range(4)]
        try:
            # Full once sluice has accepted the four: a request beyond the cap that is not a
            # probe gets 503, with a JSON error.
            def full():
                st, _, data = s.admin("GET", "/metrics")
                return (st, data) if st == 503 else None
            st, data = wait_until(full, what="the admin listener full (503 for /metrics)")
            self.assertEqual(json_body(data)["error"], "too_many_connections")
            # Probes are still served beyond the cap.
            st, _, data = s.admin("GET", "/healthz")
            self.assertEqual(st, 200, data)
            st, _, data = s.admin("GET", "/readyz")
            self.assertEqual(st, 200, data)
            st, _, data = s.admin("GET", "/metrics")
            self.assertEqual(st, 503, data)
            # Connections that never send a request are closed after the header timeout.
            idle[0].settimeout(15)
            t0 = time.monotonic()
            self.assertEqual(idle[0].recv(1), b"")
            self.assertLess(time.monotonic() - t0, 12)
            st, _, _ = s.admin("GET", "/metrics")
            self.assertEqual(st, 200)
        finally:
            for c in idle:
                c.close()

    def test_open_hook_on_public_listener_warns(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        cfg["server"]["listen"] = "0.0.0.0:0"
        s = self.sluice(cfg)
        s.out.wait_for(r'warn .*hook "orders" has no token')
        # The listener works; the test connects through loopback only.
        self.post_many(s, 1)

        # Each its own store: a store has one owner.
        cfg = base_config(self.workdir, fn.url, source={"token": "hook-t0ken"})
        cfg["server"]["listen"] = "0.0.0.0:0"
        cfg["store"]["dir"] += "-with-token"
        s2 = self.sluice(cfg, name="with-token")
        self.assertNotIn("has no token", s2.out.text())

        cfg = base_config(self.workdir, fn.url)  # loopback: no warning
        cfg["store"]["dir"] += "-loopback"
        s3 = self.sluice(cfg, name="loopback")
        self.assertNotIn("has no token", s3.out.text())


if __name__ == "__main__":
    main()
