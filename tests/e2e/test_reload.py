"""Reloading the configuration of a running sluice (SIGHUP, POST /v1/reload, `sluice reload`):
a bad file changes nothing; an unchanged mapping runs on untouched; a changed one drains and
starts again under load without losing a record; added ones start; removed ones drain and keep
their spool rows; one reload at a time."""
import copy
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (SluiceTest, base_config, free_port, json_body, main, to_yaml,  # noqa: E402
                     wait_until)

MAPPING = "orders-to-fn"


def rewrite(s, cfg):
    with open(s.config_path, "w") as f:
        f.write(to_yaml(cfg) + "\n")


def reload_api(s):
    status, _, data = s.admin("POST", "/v1/reload")
    return status, json.loads(data)


def second_mapping(cfg, fn_name="fn", batch=5):
    cfg = copy.deepcopy(cfg)
    cfg["sources"].append({"name": "events", "type": "http"})
    cfg["mappings"].append({"name": "events-to-fn", "source": "events", "function": fn_name,
                            "batch": {"size": batch, "window": "0s"}})
    return cfg


class Pusher(threading.Thread):
    """Posts records to a hook until stopped; keeps the id of every one answered 202 (a 503
    while the hook's mapping restarts is retried, as a pusher does)."""

    def __init__(self, s, hook):
        super().__init__(daemon=True)
        self.s, self.hook = s, hook
        self.ids, self.refused = [], 0
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        n = 0
        try:
            while not self.stopping.is_set():
                status, _, data = self.s.post(self.hook, {"n": n})
                if status == 202:
                    self.ids.append(json_body(data)["id"])
                    n += 1
                elif status == 503:
                    self.refused += 1
                else:
                    raise AssertionError("push answered %d: %r" % (status, data))
        except Exception as e:  # reported by the test
            self.error = e

    def stop(self):
        self.stopping.set()
        self.join(30)
        if self.error:
            raise self.error
        return self.ids


class Reload(SluiceTest):
    def start(self, cfg, fixed_admin=False):
        if fixed_admin:
            cfg["admin"]["listen"] = "127.0.0.1:%d" % free_port()
        return self.sluice(cfg)

    def test_bad_file_changes_nothing(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        s = self.start(cfg, fixed_admin=True)
        ids = self.post_many(s, 5)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="first records")

        # A value out of range: 400 naming the key, a log line naming it, nothing changed.
        bad = copy.deepcopy(cfg)
        bad["mappings"][0]["batch"]["size"] = 0
        bad = second_mapping(bad)
        rewrite(s, bad)
        mark = len(s.out.lines)
        status, body = reload_api(s)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "invalid_config")
        self.assertEqual(body["key"], "mappings[0].batch.size")
        self.assertIn("mappings[0].batch.size", body["message"])
        s.out.wait_for(r"refused, nothing changed: .*mappings\[0\]\.batch\.size", start=mark)
        # `sluice reload` (through SIGHUP's path in the process) reports it and fails.
        p = s.cli("reload", check=False)
        self.assertEqual(p.returncode, 78)
        self.assertIn("mappings[0].batch.size", p.stderr.decode())

        # An error only the running process finds (a type no module has): reported by it.
        bad2 = copy.deepcopy(cfg)
        bad2["sources"][0]["type"] = "carrier-pigeon"
        rewrite(s, bad2)
        p = s.cli("reload", check=False)
        self.assertEqual(p.returncode, 78, p.stdout.decode())
        self.assertIn("sources[0].type", p.stderr.decode())
        self.assertIn("carrier-pigeon", p.stderr.decode())

        # A key that cannot change while running.
        moved = copy.deepcopy(cfg)
        moved["server"]["listen"] = "127.0.0.1:%d" % free_port()
        moved = second_mapping(moved)
        rewrite(s, moved)
        status, body = reload_api(s)
        self.assertEqual(status, 400, body)
        self.assertEqual(body["error"], "restart_required")
        self.assertEqual(body["key"], "server.listen")
        self.assertEqual(body["message"],
                         "server.listen cannot change while running: restart to apply")
        p = s.cli("reload", check=False)
        self.assertEqual(p.returncode, 1, p.stdout.decode())
        self.assertIn("server.listen cannot change while running", p.stderr.decode())
        mark = len(s.out.lines)
        s.proc.send_signal(signal.SIGHUP)
        s.out.wait_for(r"refused, nothing changed: server\.listen cannot change while running",
                       start=mark)

        # Nothing changed: the one mapping runs as before, and records still flow.
        _, _, data = s.admin("GET", "/v1/mappings")
        self.assertEqual([m["name"] for m in json.loads(data)["mappings"]], [MAPPING])
        self.assertEqual(s.post("events", {"x": 1})[0], 404)
        more = self.post_many(s, 5)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids + more), what="records after")
        self.assertNotIn("[reload] applied", s.out.text())

    def test_unchanged_untouched_added_starts_sighup(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        s = self.start(cfg)
        ids = self.post_many(s, 20)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="first records")
        received = s.metrics()['sluice_records_received_total{mapping="%s"}' % MAPPING]
        self.assertEqual(received, 20)

        rewrite(s, second_mapping(cfg))
        mark = len(s.out.lines)
        s.proc.send_signal(signal.SIGHUP)
        s.out.wait_for(r"\[reload\] applied \(2 changes\); 2 mappings running", start=mark)
        after = "\n".join(s.out.lines[mark:])
        self.assertIn("[reload] source events added", after)
        self.assertIn("[reload] mapping events-to-fn added", after)
        # The unchanged mapping was not drained nor started again.
        self.assertNotIn(MAPPING, after)

        events = self.post_many(s, 10, hook="events")
        more = self.post_many(s, 10)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids + more + events),
                   what="records of both mappings")
        m = s.metrics()
        # Its counters kept going: 20 before, 10 after, no reset.
        self.assertEqual(m['sluice_records_received_total{mapping="%s"}' % MAPPING], 30)
        self.assertEqual(m['sluice_records_received_total{mapping="events-to-fn"}'], 10)
        self.assertEqual(sorted(fn.delivered_ids()), sorted(ids + more + events))

        # The same file again: nothing to do.
        status, body = reload_api(s)
        self.assertEqual((status, body["status"], body["changes"]), (200, "unchanged", []))

    def test_changed_batch_size_under_load(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url,
                          mapping={"batch": {"size": 10, "window": "20ms"}})
        s = self.start(cfg, fixed_admin=True)
        pusher = Pusher(s, "orders")
        pusher.start()
        wait_until(lambda: len(pusher.ids) >= 200, what="load before the reload")

        new = second_mapping(cfg)
        new["mappings"][0]["batch"] = {"size": 3, "window": "20ms"}
        rewrite(s, new)
        mark = len(s.out.lines)
        p = s.cli("reload")
        out = p.stdout.decode()
        self.assertIn("mapping %s changed (mappings[0].batch.size)" % MAPPING, out)
        self.assertIn("mapping events-to-fn added", out)
        self.assertIn("reloaded", out)
        s.out.wait_for(r"\[mapping:%s\] started: orders -> fn \(batch 3," % MAPPING, start=mark)
        s.out.wait_for(r"\[reload\] mapping %s drained" % MAPPING, start=mark)

        count = len(pusher.ids)
        wait_until(lambda: len(pusher.ids) >= count + 200, what="load after the reload")
        events = self.post_many(s, 7, hook="events")
        ids = pusher.stop()
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids + events), timeout=120,
                   what="every accepted record delivered")
        delivered = fn.delivered_ids()
        self.assertEqual(set(delivered), set(ids + events))
        dups = len(delivered) - len(set(delivered))
        self.assertLessEqual(dups, 10, "more duplicates than one in-flight batch")
        # The new size applies: batches of the mapping after the reload hold at most 3.
        invs = [i for i in fn.invocations() if i["outcome"] == "ok"]
        tail = [len(i["ids"]) for i in invs[-20:] if set(i["ids"]) <= set(ids)]
        self.assertTrue(tail and max(tail) <= 3, tail)
        # One series per name, not two.
        text = s.admin("GET", "/metrics")[2].decode()
        self.assertEqual(
            text.count('sluice_records_received_total{mapping="%s"}' % MAPPING), 1)

    def test_removed_mapping_keeps_spool_rows_until_added_back(self):
        fn = self.fn()
        cfg = second_mapping(base_config(self.workdir, fn.url))
        s = self.start(cfg)
        first = self.post_many(s, 5, hook="events")
        wait_until(lambda: set(fn.delivered_ids()) >= set(first), what="events delivered")

        # The mapping goes; its hook stays (a source with no mapping stores what it gets).
        removed = copy.deepcopy(cfg)
        del removed["mappings"][1]
        rewrite(s, removed)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        self.assertIn({"kind": "mapping", "name": "events-to-fn", "change": "removed"},
                      body["changes"])
        s.out.wait_for(r"\[reload\] mapping events-to-fn drained")
        kept = self.post_many(s, 12, hook="events")
        m = s.metrics()
        self.assertNotIn('sluice_records_received_total{mapping="events-to-fn"}', m)
        self.assertEqual(m['sluice_records_received_total{mapping="%s"}' % MAPPING], 0)
        self.assertFalse(set(kept) & set(fn.delivered_ids()))
        _, _, data = s.admin("GET", "/v1/mappings")
        self.assertEqual([x["name"] for x in json.loads(data)["mappings"]], [MAPPING])

        # Added back: the spool rows kept for its hook are delivered.
        rewrite(s, cfg)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        self.assertIn({"kind": "mapping", "name": "events-to-fn", "change": "added"},
                      body["changes"])
        wait_until(lambda: set(fn.delivered_ids()) >= set(first + kept),
                   what="spooled records delivered after the mapping is back")
        self.assertEqual(sorted(fn.delivered_ids()), sorted(first + kept))

        # Source and mapping both removed: the hook's route is gone.
        gone = copy.deepcopy(cfg)
        del gone["mappings"][1]
        del gone["sources"][1]
        rewrite(s, gone)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        self.assertIn({"kind": "source", "name": "events", "change": "removed"}, body["changes"])
        self.assertEqual(s.post("events", {"x": 1})[0], 404)
        self.assertEqual(s.post("orders", {"x": 1})[0], 202)

    def test_changed_function_and_dlq_restart_their_mappings(self):
        fn, fn2 = self.fn(), self.fn()
        cfg = second_mapping(base_config(self.workdir, fn.url))
        s = self.start(cfg)
        ids = self.post_many(s, 4)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="first records")

        # Its function's url changes: both mappings that call it start again and call fn2.
        new = copy.deepcopy(cfg)
        new["functions"][0]["url"] = fn2.url
        rewrite(s, new)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        self.assertEqual(sorted((c["kind"], c["name"], c["change"]) for c in body["changes"]),
                         [("function", "fn", "changed"), ("mapping", "events-to-fn", "restarted"),
                          ("mapping", MAPPING, "restarted")])
        self.assertIn({"kind": "function", "name": "fn", "change": "changed",
                       "key": "functions[0].url"}, body["changes"])
        more = self.post_many(s, 4) + self.post_many(s, 4, hook="events")
        wait_until(lambda: set(fn2.delivered_ids()) >= set(more), what="records at the new url")
        self.assertFalse(set(more) & set(fn.delivered_ids()))

        # A DLQ added and used by one mapping: only that one starts again.
        dlq = copy.deepcopy(new)
        dlq["dlqs"] = [{"name": "side", "type": "sqlite"}]
        dlq["mappings"][1]["dlq"] = "side"
        rewrite(s, dlq)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        self.assertEqual(sorted((c["kind"], c["name"], c["change"]) for c in body["changes"]),
                         [("dlq", "side", "added"), ("mapping", "events-to-fn", "changed")])
        _, _, data = s.admin("GET", "/v1/mappings/events-to-fn")
        self.assertEqual(json.loads(data)["dlq"], "side")
        # The function is removed with the mappings that call it.
        gone = copy.deepcopy(dlq)
        gone["functions"].append({"name": "other", "type": "http", "url": fn.url})
        for m in gone["mappings"]:
            m["function"] = "other"
        del gone["functions"][0]
        rewrite(s, gone)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        self.assertIn({"kind": "function", "name": "fn", "change": "removed"}, body["changes"])
        self.assertIn({"kind": "function", "name": "other", "change": "added"}, body["changes"])
        last = self.post_many(s, 3)
        wait_until(lambda: set(fn.delivered_ids()) >= set(last), what="records at 'other'")

    def test_one_reload_at_a_time_and_disabled_state_kept(self):
        # Every call takes 1.5 s: the changed mapping's drain waits for its batch.
        fn = self.fn(script=[{"delayMs": 1500, "count": 1}])
        cfg = second_mapping(base_config(self.workdir, fn.url))
        s = self.start(cfg)
        status, _, data = s.admin("POST", "/v1/mappings/events-to-fn/disable")
        self.assertEqual(status, 200, data)
        ids = self.post_many(s, 3)
        new = copy.deepcopy(cfg)
        new["mappings"][0]["batch"]["size"] = 4
        rewrite(s, new)
        first = {}
        t = threading.Thread(target=lambda: first.update(r=reload_api(s)))
        t.start()
        s.out.wait_for(r"\[reload\] mapping %s changed" % MAPPING)
        status, body = reload_api(s)
        self.assertEqual(status, 409, body)
        self.assertEqual(body["error"], "reload_in_progress")
        t.join(60)
        self.assertEqual(first["r"][0], 200, first)
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids), what="records delivered")
        # The untouched mapping keeps the state an operator gave it.
        _, _, data = s.admin("GET", "/v1/mappings/events-to-fn")
        self.assertEqual(json.loads(data)["State"], "Disabled")

        # A mapping built again follows the rules of a start: the state an operator kept for
        # it holds while the config's `enabled` is what it was.
        status, _, data = s.admin("POST", "/v1/mappings/%s/disable" % MAPPING)
        self.assertEqual(status, 200, data)
        new["mappings"][0]["batch"]["size"] = 6
        rewrite(s, new)
        status, body = reload_api(s)
        self.assertEqual(status, 200, body)
        _, _, data = s.admin("GET", "/v1/mappings/" + MAPPING)
        self.assertEqual(json.loads(data)["State"], "Disabled")
        held = self.post_many(s, 2)
        # The config's `enabled` changes: the config wins again, as at a start.
        new["mappings"][0]["enabled"] = False
        rewrite(s, new)
        self.assertEqual(reload_api(s)[0], 200)
        new["mappings"][0]["enabled"] = True
        rewrite(s, new)
        self.assertEqual(reload_api(s)[0], 200)
        _, _, data = s.admin("GET", "/v1/mappings/" + MAPPING)
        self.assertEqual(json.loads(data)["State"], "Enabled")
        wait_until(lambda: set(fn.delivered_ids()) >= set(ids + held), what="held delivered")


if __name__ == "__main__":
    main()
