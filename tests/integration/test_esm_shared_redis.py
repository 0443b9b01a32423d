"""The event-source-mapping API with a shared Redis store (admin.esm_store type redis): two
`sluice run` processes see and run the same API mappings, a change on one reaching the other
through PUBLISH/SUBSCRIBE (the fallback poll at its longest); Lambda's duplicate rule holds
across processes through the Lua script's check; Redis unreachable at start stops sluice with a
clear error. Real redis-server, real binary; webhook sources (each process its own listener)
(docs/ESM_API.md)."""
import os
import subprocess
import sys
import uuid as uuidlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402
from harness import SluiceTest, base_config, json_body, main, wait_until  # noqa: E402
from redis_fixture import RedisServer, free_port  # noqa: E402

PATH = "/2015-03-31/event-source-mappings"


class EsmSharedRedis(SluiceTest):
    def redis(self):
        r = RedisServer(self.workdir).start()
        self._procs.append(r)
        return r

    def config(self, fn, port, name):
        cfg = base_config(self.workdir, fn.url)
        cfg["mappings"] = []
        cfg["store"]["dir"] = os.path.join(self.workdir, "data-" + name)
        cfg["admin"]["esm_store"] = {"type": "redis", "poll": "1h", "key": "esm:test",
                                     "redis": {"host": "127.0.0.1", "port": port,
                                               "connect_timeout": "2s"}}
        return cfg

    def get(self, s, uuid):
        status, _, data = s.admin("GET", PATH + "/" + uuid)
        return status, json_body(data) if data else None

    def listed(self, s):
        status, _, data = s.admin("GET", PATH)
        self.assertEqual(status, 200, data)
        return json_body(data)["EventSourceMappings"]

    def state_is(self, s, uuid, state, **fields):
        status, doc = self.get(s, uuid)
        return status == 200 and doc["State"] == state and all(
            doc.get(k) == v for k, v in fields.items())

    def test_two_processes_share_create_update_delete(self):
        r = self.redis()
        fn = self.fn()
        a = self.sluice(self.config(fn, r.port, "a"), name="a")
        b = self.sluice(self.config(fn, r.port, "b"), name="b")

        status, _, data = a.admin("POST", PATH, {"EventSourceArn": "orders",
                                                 "FunctionName": "fn", "BatchSize": 10})
        self.assertEqual(status, 202, data)
        uuid = json_body(data)["UUID"]
        wait_until(lambda: self.state_is(b, uuid, "Enabled"), what="B runs A's mapping")
        wait_until(lambda: self.state_is(a, uuid, "Enabled"), what="A runs its mapping")
        self.assertEqual([m["UUID"] for m in self.listed(b)], [uuid])
        self.assertEqual(self.listed(a), self.listed(b))

        # Events flow through B: pushed to B's own listener, delivered by B's mapping.
        ids = self.post_many(b, 3)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="B delivered")

        status, hdrs, data = b.admin("POST", PATH, {"EventSourceArn": "orders",
                                                    "FunctionName": "fn"})
        self.assertEqual((status, hdrs.get("x-amzn-errortype")),
                         (409, "ResourceConflictException"), data)
        self.assertIn(uuid, json_body(data)["message"])

        status, _, data = b.admin("PUT", PATH + "/" + uuid, {"BatchSize": 5})
        self.assertEqual(status, 202, data)
        wait_until(lambda: self.state_is(a, uuid, "Enabled", BatchSize=5),
                   what="A applied B's update")

        status, _, data = a.admin("DELETE", PATH + "/" + uuid)
        self.assertEqual(status, 202, data)
        wait_until(lambda: self.get(b, uuid)[0] == 404, what="B dropped the mapping")
        wait_until(lambda: b.admin("GET", "/v1/mappings/esm-" + uuid)[0] == 404,
                   what="B stopped the mapping")
        self.assertEqual(self.listed(b), [])
        c = r.client()
        try:
            self.assertEqual(c.cmd("HLEN", "esm:test:docs"), 0)
            self.assertEqual(c.cmd("HLEN", "esm:test:pairs"), 0)
        finally:
            c.close()

    def test_duplicate_caught_by_the_script(self):
        """A mapping this process has not seen (written without a PUBLISH, the poll an hour
        away) still makes a duplicate create a 409: the script checks the pair."""
        r = self.redis()
        fn = self.fn()
        s = self.sluice(self.config(fn, r.port, "a"), name="a")
        s.out.wait_for(r"read 0 rows of esm:test:docs")
        other = str(uuidlib.uuid4())
        c = r.client()
        try:
            c.cmd("HSET", "esm:test:pairs", "orders\nfn", other)
        finally:
            c.close()
        status, hdrs, data = s.admin("POST", PATH, {"EventSourceArn": "orders",
                                                    "FunctionName": "fn"})
        self.assertEqual((status, hdrs.get("x-amzn-errortype")),
                         (409, "ResourceConflictException"), data)
        self.assertIn(other, json_body(data)["message"])
        self.assertEqual(self.listed(s), [])

    def test_store_down_at_start_is_a_clear_error(self):
        fn = self.fn()
        port = free_port()
        s = harness.Sluice(self.workdir, self.config(fn, port, "down"), name="down")
        p = subprocess.run([harness.SLUICE, "run", "-c", s.config_path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("admin.esm_store", out)
        self.assertIn("127.0.0.1:%d" % port, out)
        self.assertIn("sluice does not start without it", out)


if __name__ == "__main__":
    main()
