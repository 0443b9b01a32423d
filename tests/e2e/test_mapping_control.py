"""Mapping control, like Lambda's Enabled flag: `sluice mappings disable|enable NAME` and
POST /v1/mappings/{name}/disable|enable stop and resume reading a source, let the records in
flight finish, keep the source's position (here: the webhook spool), and keep the state in the
store across restarts. Lambda-style State, StateTransitionReason and LastProcessingResult on
/v1/mappings. Real binary, a real function."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (SluiceTest, base_config, free_port, json_body, main,  # noqa: E402
                     wait_until)

MAPPING = "orders-to-fn"


class MappingControl(SluiceTest):
    def mapping(self, s):
        status, _, data = s.admin("GET", "/v1/mappings/" + MAPPING)
        self.assertEqual(status, 200, data)
        return json_body(data)

    def received(self, s):
        return self.mapping(s)["records"]["received"]

    def config(self, fn, **mapping):
        cfg = base_config(self.workdir, fn.url, mapping=mapping or None)
        # A fixed admin port: the CLI finds the running sluice through the config.
        cfg["admin"]["listen"] = "127.0.0.1:%d" % free_port()
        return cfg

    def test_disable_keeps_the_position_across_a_restart_then_enable_delivers(self):
        fn = self.fn()
        cfg = self.config(fn)
        s = self.sluice(cfg)
        m = self.mapping(s)
        self.assertEqual((m["State"], m["LastProcessingResult"]), ("Enabled", "No records processed"))
        first = self.post_many(s, 5)
        wait_until(lambda: len(fn.delivered_ids()) == 5, what="5 deliveries")
        wait_until(lambda: self.mapping(s)["LastProcessingResult"] == "OK", what="result OK")

        out = s.cli("mappings", "disable", MAPPING).stdout.decode()
        self.assertRegex(out, r"^%s: (Disabling|Disabled) \(User action\)" % MAPPING)
        wait_until(lambda: self.mapping(s)["State"] == "Disabled", what="Disabled")
        self.assertEqual(self.mapping(s)["StateTransitionReason"], "User action")
        s.out.wait_for(r"mapping:%s\] disabled \(User action\)" % MAPPING)
        # Pushes are still taken durably; the disabled mapping does not read them. The 202 is
        # sent once the spool row is committed, which is when an enabled mapping receives it.
        held = self.post_many(s, 4)
        self.assertEqual(self.received(s), 5)
        wait_until(lambda: s.metrics().get("sluice_spool_depth") == 4, what="4 rows spooled")
        self.assertEqual(len(fn.delivered_ids()), 5)
        table = s.cli("mappings").stdout.decode()
        self.assertRegex(table, r"%s\s+Disabled\s" % MAPPING)

        # The state survives a restart (kept in the store).
        self.assertEqual(s.terminate(), 0)
        s = self.sluice(cfg)
        s.out.wait_for(r"disabled by an operator \(kept in the store\)")
        self.assertEqual(self.mapping(s)["State"], "Disabled")
        held += self.post_many(s, 3)
        self.assertEqual(self.received(s), 0)
        self.assertEqual(len(fn.delivered_ids()), 5)

        status, _, data = s.admin("POST", "/v1/mappings/%s/enable" % MAPPING)
        self.assertEqual(status, 200, data)
        self.assertEqual(json_body(data)["State"], "Enabled")
        wait_until(lambda: set(fn.delivered_ids()) == set(first + held),
                   what="every record held while disabled delivered")
        self.assertEqual(len(fn.delivered_ids()), len(first) + len(held))  # none twice
        # Delivered rows leave the spool (a cleanup write after the acks).
        wait_until(lambda: s.metrics().get("sluice_spool_depth", 0) == 0, what="spool empty")

    def test_a_mapping_disabled_in_the_config_is_enabled_at_run_time(self):
        fn = self.fn()
        cfg = self.config(fn, enabled=False)
        s = self.sluice(cfg)
        self.assertEqual(self.mapping(s)["State"], "Disabled")
        ids = self.post_many(s, 3)
        self.assertEqual(self.received(s), 0)
        out = s.cli("mappings", "enable", MAPPING).stdout.decode()
        self.assertRegex(out, r"^%s: Enabled" % MAPPING)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="3 deliveries")
        # Kept: after a restart the operator's choice still holds over the config's false.
        self.assertEqual(s.terminate(), 0)
        s = self.sluice(cfg)
        self.assertEqual(self.mapping(s)["State"], "Enabled")
        # Once the config's own value changes, the config holds again.
        self.assertEqual(s.terminate(), 0)
        cfg["mappings"][0]["enabled"] = True
        s = self.sluice(cfg)
        s.out.wait_for(r"changed since an operator enabled this mapping")
        self.assertEqual(self.mapping(s)["State"], "Enabled")

    def test_bad_requests(self):
        fn = self.fn()
        s = self.sluice(self.config(fn))
        for path, want in (("/v1/mappings/nope/disable", 404),
                           ("/v1/mappings/%s/pause" % MAPPING, 404),
                           ("/v1/mappings/%s" % MAPPING, 404)):
            status, hdrs, data = s.admin("POST", path)
            self.assertEqual(status, want, (path, data))
            self.assertTrue(hdrs["content-type"].startswith("application/json"))
            self.assertIn("error", json_body(data))
        p = s.cli("mappings", "disable", "nope", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("404", p.stderr.decode())
        p = s.cli("mappings", "disable", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(self.mapping(s)["State"], "Enabled")


if __name__ == "__main__":
    main()
