"""The alias function type: two real http functions (sluice-fn) behind an alias, with the real
sluice binary. The split stays within 5 sigma of the weights; every retry is routed again;
counts per version show in /metrics; records are counted end to end (delivered +
dead-lettered = produced); config errors name the key path; a reload that changes a version
restarts the alias's mapping, one that removes a version still routed to is refused."""
import copy
import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, main, to_yaml, wait_until  # noqa: E402

M = "orders-to-fn"
PERIOD = 'sluice_alias_invocations_total{function="live",version="%s",outcome="%s"}'


def alias_config(workdir, v1, v2, weights=(0.9, 0.1), mapping=None):
    cfg = base_config(workdir, v1.url, mapping=dict({"function": "live"}, **(mapping or {})))
    cfg["functions"] = [
        {"name": "v1", "type": "http", "url": v1.url, "timeout": "5s"},
        {"name": "v2", "type": "http", "url": v2.url, "timeout": "5s"},
        {"name": "live", "type": "alias",
         "routing": [{"function": "v1", "weight": weights[0]},
                     {"function": "v2", "weight": weights[1]}]},
    ]
    return cfg


def within_5_sigma(k, n, p):
    sd = math.sqrt(n * p * (1 - p))
    return abs(k - n * p) <= 5 * sd


class Alias(SluiceTest):
    def dlq_ids(self, s):
        return sorted(e["recordId"] for e in s.dlq_entries())

    def settle(self, s, fns, produced):
        """Every produced record delivered or dead-lettered, none both, nothing in flight.
        Returns (delivered by each function, dead-lettered)."""
        def delivered():
            return [set(f.delivered_ids()) for f in fns]

        def done():
            return set().union(*delivered(), set(self.dlq_ids(s))) >= set(produced)
        wait_until(done, what="every record delivered or dead-lettered")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        each, dead = delivered(), set(self.dlq_ids(s))
        self.assertEqual(sum(len(d) for d in each) + len(dead), len(produced))
        self.assertEqual(set().union(*each, dead), set(produced))
        return each, dead

    def test_split_within_bound_and_metrics_per_version(self):
        v1, v2 = self.fn(), self.fn()
        n = 1000
        s = self.sluice(alias_config(self.workdir, v1, v2,
                                     mapping={"batch": {"size": 1, "window": "0s"}}))
        ids = self.post_many(s, n)
        (d1, d2), dead = self.settle(s, (v1, v2), ids)
        self.assertEqual(dead, set())
        k1, k2 = len(v1.invocations()), len(v2.invocations())
        self.assertEqual(k1 + k2, n)  # one batch of one record each, none retried
        self.assertTrue(within_5_sigma(k2, n, 0.1), (k1, k2))
        m = s.metrics()
        self.assertEqual(m[PERIOD % ("v1", "ok")], k1)
        self.assertEqual(m[PERIOD % ("v2", "ok")], k2)
        self.assertEqual(m[PERIOD % ("v2", "retry")], 0)
        self.assertEqual(m['sluice_alias_duration_seconds_count{function="live",version="v1"}'],
                         k1)
        # The mapping's own counters stay per mapping.
        self.assertEqual(m['sluice_records_delivered_total{mapping="%s"}' % M], n)

    def test_each_retry_is_routed_again(self):
        # v2 is a bad deploy: it answers 500 to everything. A record is dead-lettered only when
        # every one of its attempts drew v2; all others end up delivered by v1.
        v1, v2 = self.fn(), self.fn(fail_rate=1.0)
        n, attempts = 200, 3
        s = self.sluice(alias_config(
            self.workdir, v1, v2, weights=(1, 1),
            mapping={"batch": {"size": 1, "window": "0s"},
                     "retry": {"max_attempts": attempts,
                               "backoff": {"min": "2ms", "max": "4ms"}}}))
        ids = self.post_many(s, n)
        (d1, d2), dead = self.settle(s, (v1, v2), ids)
        self.assertEqual(d2, set())
        self.assertTrue(all(i["outcome"] != "ok" for i in v2.invocations()))
        inv1, inv2 = v1.invocations(), v2.invocations()
        tries = {rid: [] for rid in ids}
        # Attempts of one record follow each other (backoff >= 2 ms): ordered by time.
        tagged = [(i["time"], "v1", i) for i in inv1] + [(i["time"], "v2", i) for i in inv2]
        for _, version, inv in sorted(tagged, key=lambda t: t[0]):
            for rid in inv["ids"]:
                tries[rid].append(version)
        rerouted = 0
        for rid in ids:
            t = tries[rid]
            if rid in dead:
                self.assertEqual(t, ["v2"] * attempts, rid)
            else:
                # Failed attempts on v2, then one delivery by v1.
                self.assertEqual(t, ["v2"] * (len(t) - 1) + ["v1"], rid)
                rerouted += len(t) > 1
        self.assertTrue(rerouted > 0, "some record was retried on v1 after failing on v2")
        # Each attempt is a fresh draw at 1:1: v2 takes half of all attempts (5 sigma).
        total = len(inv1) + len(inv2)
        self.assertTrue(within_5_sigma(len(inv2), total, 0.5), (len(inv1), len(inv2)))
        # Dead-lettered: all attempts drew v2, p = 1/8 per record (5 sigma).
        self.assertTrue(within_5_sigma(len(dead), n, 0.125), len(dead))
        m = s.metrics()
        self.assertEqual(m[PERIOD % ("v2", "retry")], len(inv2))
        self.assertEqual(m[PERIOD % ("v1", "ok")], len(inv1))
        self.assertEqual(m['sluice_records_dead_lettered_total{mapping="%s"}' % M], len(dead))
        # The DLQ attempt history names the version of each failed attempt.
        if dead:
            entry = json.loads(s.cli("dlq", "show", s.dlq_entries()[0]["id"]).stdout.decode())
            errors = [a["error"] for a in entry["attempts"]]
            self.assertEqual(len(errors), attempts, entry)
            self.assertTrue(all(e.startswith("v2: ") for e in errors), errors)

    def validate(self, routing, extra_functions=()):
        v1, v2 = self.fn(), self.fn()
        cfg = alias_config(self.workdir, v1, v2)
        cfg["functions"][2]["routing"] = routing
        cfg["functions"].extend(extra_functions)
        s = self.sluice(cfg, start=False)
        p = s.cli("validate", check=False)
        text = (p.stdout + p.stderr).decode()
        self.assertNotEqual(p.returncode, 0, text)
        return text

    def test_config_errors_name_the_key(self):
        text = self.validate([{"function": "v1", "weight": 1}, {"function": "v3", "weight": 1}])
        self.assertIn('functions[2].routing[1].function: "v3" is not a function section', text)
        self.assertIn("allowed: v1, v2", text)
        self.assertRegex(text, r"sluice\.yaml:\d+: functions\[2\]")  # file:line
        text = self.validate([{"function": "live", "weight": 1}])
        self.assertIn('routing[0].function: "live" is the alias itself', text)
        text = self.validate([{"function": "other", "weight": 1}],
                             [{"name": "other", "type": "alias",
                               "routing": [{"function": "v1", "weight": 1}]}])
        self.assertIn('functions[2].routing[0].function: "other" is an alias', text)
        text = self.validate([{"function": "v1", "weight": 1}, {"function": "v1", "weight": 2}])
        self.assertIn('routing[1].function: "v1" is listed twice', text)
        text = self.validate([{"function": "v1", "weight": 0}])
        self.assertIn("routing[0].weight: 0 (allowed: a number above 0", text)
        text = self.validate([{"function": "v1", "weight": "heavy"}])
        self.assertIn("routing[0].weight", text)
        text = self.validate([])
        self.assertIn("functions[2].routing", text)
        text = self.validate([{"function": "v%d" % (i % 2 + 1), "weight": 1} for i in range(9)])
        self.assertIn("routing: 9 entries (allowed: 1..8 versions)", text)

    def test_reload_relinks_a_changed_version_and_refuses_a_vanished_one(self):
        v1, v2, v3 = self.fn(), self.fn(), self.fn()
        cfg = alias_config(self.workdir, v1, v2, weights=(1, 1),
                           mapping={"batch": {"size": 1, "window": "0s"}})
        s = self.sluice(cfg)
        first = self.post_many(s, 20)
        wait_until(lambda: set(v1.delivered_ids()) | set(v2.delivered_ids()) >= set(first),
                   what="first records")

        # v2 now points at another function: the alias and its mapping are rebuilt.
        changed = copy.deepcopy(cfg)
        changed["functions"][1]["url"] = v3.url
        with open(s.config_path, "w") as f:
            f.write(to_yaml(changed) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        body = json.loads(data)
        self.assertEqual((status, body["status"]), (200, "reloaded"), body)
        kinds = {(c["kind"], c["name"], c["change"]) for c in body["changes"]}
        self.assertIn(("function", "v2", "changed"), kinds)
        self.assertIn(("function", "live", "restarted"), kinds)
        self.assertIn(("mapping", M, "restarted"), kinds)
        more = self.post_many(s, 40)
        wait_until(lambda: set(v1.delivered_ids()) | set(v3.delivered_ids()) >= set(more),
                   what="records after the reload")
        self.assertTrue(v3.delivered_ids(), "the rebuilt version got invocations")
        self.assertFalse(set(v2.delivered_ids()) & set(more))

        # v2 removed while the alias still routes to it: refused, nothing changes.
        gone = copy.deepcopy(changed)
        del gone["functions"][1]
        with open(s.config_path, "w") as f:
            f.write(to_yaml(gone) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        body = json.loads(data)
        self.assertEqual(status, 400, body)
        self.assertIn('routing[1].function: "v2" is not a function section', body["message"])
        last = self.post_many(s, 10)
        wait_until(lambda: set(v1.delivered_ids()) | set(v3.delivered_ids()) >= set(last),
                   what="records after the refused reload")


if __name__ == "__main__":
    main()
