"""Admin API: probes, metrics, mapping status, token guard."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (SLUICE, SluiceTest, base_config, json_body, main, to_yaml,  # noqa: E402
                     wait_until)


class Admin(SluiceTest):
    def test_probes_metrics_and_mappings(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url))
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        self.assertEqual(s.admin("GET", "/readyz")[0], 200)
        self.post_many(s, 3)
        wait_until(lambda: len(fn.delivered_ids()) == 3, what="3 deliveries")
        st, hdrs, data = s.admin("GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain"))
        text = data.decode()
        for name in ("sluice_records_received_total", "sluice_records_filtered_total",
                     "sluice_records_dispatched_total", "sluice_records_failed_total",
                     "sluice_records_dead_lettered_total", "sluice_invocations_total",
                     "sluice_invocation_duration_seconds_bucket", "sluice_inflight_records",
                     "sluice_inflight_bytes", "sluice_oldest_unacked_record_age_seconds",
                     "sluice_source_backlog", "sluice_dlq_depth", "sluice_spool_depth"):
            self.assertIn(name, text)
        wait_until(lambda: s.metrics().get('sluice_records_received_total{mapping="orders-to-fn"}') == 3,
                   what="received counter")
        st, _, data = s.admin("GET", "/v1/mappings")
        self.assertEqual(st, 200)
        m = json_body(data)["mappings"][0]
        self.assertEqual(m["name"], "orders-to-fn")
        self.assertEqual(m["state"], "running")
        self.assertEqual(m["source"]["type"], "http")
        self.assertEqual(s.admin("GET", "/v1/mappings/orders-to-fn")[0], 200)
        self.assertEqual(s.admin("GET", "/v1/mappings/nope")[0], 404)
        self.assertEqual(s.admin("GET", "/nope")[0], 404)

    def test_build_info_and_process_metrics(self):
        fn = self.fn()
        before = time.time()
        s = self.sluice(base_config(self.workdir, fn.url))
        after = time.time()
        version = subprocess.run([SLUICE, "version"], stdout=subprocess.PIPE,
                                 check=True).stdout.decode().split()[1]
        text = s.admin("GET", "/metrics")[2].decode()
        self.assertIn("# TYPE sluice_build_info gauge\n", text)
        self.assertRegex(text, r'\nsluice_build_info\{version="%s",librdkafka="[^"]+",'
                               r'libcurl="[^"]+",sqlite="[^"]+",jansson="[^"]+"\} 1\n'
                               % re.escape(version))
        self.assertIn("# TYPE process_cpu_seconds_total counter\n", text)
        m = s.metrics()
        # Prometheus' process metrics of the sluice process itself (read from its /proc).
        with open("/proc/%d/status" % s.proc.pid) as f:
            rss_kb = int([ln for ln in f if ln.startswith("VmRSS:")][0].split()[1])
        self.assertLess(abs(m["process_resident_memory_bytes"] - rss_kb * 1024), 32 << 20)
        # The scrape's own connection is open while it counts, closed when the test looks.
        fds = len(os.listdir("/proc/%d/fd" % s.proc.pid))
        self.assertTrue(fds <= m["process_open_fds"] <= fds + 2, (fds, m["process_open_fds"]))
        self.assertGreater(m["process_max_fds"], 0)
        self.assertGreaterEqual(m["process_cpu_seconds_total"], 0)
        # Boot time has whole seconds and start ticks hundredths: within 2 s of the launch.
        self.assertGreater(m["process_start_time_seconds"], before - 2)
        self.assertLess(m["process_start_time_seconds"], after + 2)
        # No gauge stands in -1 for "unknown": such a series is left out.
        self.assertEqual([k for k, v in m.items() if v < 0], [])
        self.assertIn('sluice_dlq_depth{mapping="orders-to-fn"}', m)

    def test_token_guard(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        cfg["admin"]["token"] = "adm1n-t0ken-value"
        s = self.sluice(cfg)
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        self.assertEqual(s.admin("GET", "/metrics")[0], 401)
        self.assertEqual(s.admin("GET", "/v1/dlq", headers={"Authorization": "Bearer nope"})[0], 401)
        st, _, _ = s.admin("GET", "/v1/dlq", headers={"Authorization": "Bearer adm1n-t0ken-value"})
        self.assertEqual(st, 200)
        self.assertNotIn("adm1n-t0ken-value", s.out.text(), "the token never reaches the log")

    def test_mappings_command(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        cfg["admin"]["token"] = "mappings-cmd-token"
        s = self.sluice(cfg)
        self.post_many(s, 2)
        # The function logs a call before it answers: wait for sluice to have counted both.
        auth = {"Authorization": "Bearer mappings-cmd-token"}
        wait_until(lambda: s.metrics(auth).get(
            'sluice_records_delivered_total{mapping="orders-to-fn"}') == 2,
            what="2 deliveries counted")
        self.assertEqual(len(fn.delivered_ids()), 2)
        # The admin listener is on port 0: point the CLI's config at the bound port.
        cfg["admin"]["listen"] = "127.0.0.1:%d" % s.admin_port
        cli_cfg = os.path.join(self.workdir, "cli.yaml")
        with open(cli_cfg, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        p = subprocess.run([SLUICE, "mappings", "-c", cli_cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout.decode()
        self.assertIn("MAPPING", out)
        row = [l for l in out.splitlines() if l.startswith("orders-to-fn")][0].split()
        self.assertEqual(row[1], "Enabled")
        self.assertEqual(row[3], "yes")  # the source is reachable
        self.assertEqual(row[7:9], ["2", "2"])  # received, delivered
        p = subprocess.run([SLUICE, "mappings", "show", "orders-to-fn", "-c", cli_cfg],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["records"]["delivered"], 2)
        p = subprocess.run([SLUICE, "mappings", "show", "nope", "-c", cli_cfg],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"404", p.stderr)
        s.stop()
        p = subprocess.run([SLUICE, "mappings", "-c", cli_cfg], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"cannot reach the admin API", p.stderr)
        self.assertNotIn(b"mappings-cmd-token", p.stderr + p.stdout)

    def test_json_logs(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        cfg["log"] = {"level": "info", "format": "json", "instance": "edge-1"}
        s = self.sluice(cfg)
        self.post_many(s, 1)
        wait_until(lambda: len(fn.delivered_ids()) == 1, what="a delivery")
        s.stop()
        lines = [l for l in s.out.text().splitlines() if l.startswith("{")]
        self.assertGreater(len(lines), 3)
        for line in lines:
            doc = json.loads(line)
            self.assertEqual(doc["instance"], "edge-1")
            self.assertIn(doc["level"], ("debug", "info", "warn", "error"))
            self.assertIn("msg", doc)


if __name__ == "__main__":
    main()
