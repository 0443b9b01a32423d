"""The event-source-mapping API with a shared Redis store (admin.esm_store type redis): two
`sluice run` processes see and run the same API mappings, a change on one reaching the other
through PUBLISH/SUBSCRIBE (the fallback poll at its longest); Lambda's duplicate rule holds
across processes through the Lua script's check; Redis unreachable at start stops sluice with a
clear error. Real redis-server, real binary; webhook sources (each process its own listener)
(docs/ESM_API.md)."""
import os
import sys
import uuid as uuidlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
from harness import SluiceTest, base_config, free_port, main, wait_until  # noqa: E402
from redis_fixture import RedisServer  # noqa: E402
from test_esm_shared_pg import EsmCalls  # noqa: E402

PATH = "/2015-03-31/event-source-mappings"


class EsmSharedRedis(EsmCalls, SluiceTest):
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

    def test_two_processes_share_create_update_delete(self):
        r = self.redis()
        fn = self.fn()
        a = self.sluice(self.config(fn, r.port, "a"), name="a")
        b = self.sluice(self.config(fn, r.port, "b"), name="b")

        uuid = self.create_seen(a, b, BatchSize=10)
        self.assertEqual([m["UUID"] for m in self.listed(b)], [uuid])
        self.assertEqual(self.listed(a), self.listed(b))

        # Events flow through B: pushed to B's own listener, delivered by B's mapping.
        ids = self.post_many(b, 3)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="B delivered")

        self.duplicate_refused(b, uuid)

        status, _, data = b.admin("PUT", PATH + "/" + uuid, {"BatchSize": 5})
        self.assertEqual(status, 202, data)
        wait_until(lambda: self.state_is(a, uuid, "Enabled", BatchSize=5),
                   what="A applied B's update")

        self.deleted_everywhere(a, b, uuid)
        c = r.client()
        try:
            self.assertEqual(c.cmd("HLEN", "esm:test:docs"), 0)
            self.assertEqual(c.cmd("HLEN", "esm:test:pairs"), 0)
        finally:
            c.close()

    def test_store_lost_while_running(self):
        """Redis goes away: changes answer 500, the mapping known runs on; once it is back
        (empty: no persistence here) both processes reconnect and resubscribe, see the mapping
        gone, and a mapping made again reaches the other."""
        r = self.redis()
        fn = self.fn()
        a = self.sluice(self.config(fn, r.port, "a"), name="a")
        b = self.sluice(self.config(fn, r.port, "b"), name="b")
        uuid = self.create_seen(a, b, BatchSize=10)

        r.stop()
        a.out.wait_for(r"shared ESM store at .* is unreachable")
        status, hdrs, data = a.admin("PUT", PATH + "/" + uuid, {"BatchSize": 7})
        self.assertEqual((status, hdrs.get("x-amzn-errortype")), (500, "ServiceException"), data)
        ids = self.post_many(b, 2)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids),
                   what="B delivers while Redis is down")

        r.start()
        for s in (a, b):
            s.out.wait_for(r"shared ESM store at .* is reachable again")
            wait_until(lambda: self.get(s, uuid)[0] == 404, what="the lost mapping dropped")
        again = self.create_seen(b, a)
        self.assertNotEqual(again, uuid)
        self.assertEqual([m["UUID"] for m in self.listed(a)], [again])

    def test_duplicate_caught_by_the_script(self):
        """A mapping this process has not seen (written without a PUBLISH, the poll an hour
        away) still makes a duplicate create a 409: the script checks the pair."""
        r = self.redis()
        fn = self.fn()
        s = self.sluice(self.config(fn, r.port, "a"), name="a")
        s.out.wait_for(r"read 0 rows of the shared store")
        other = str(uuidlib.uuid4())
        c = r.client()
        try:
            c.cmd("HSET", "esm:test:pairs", "orders\nfn", other)
        finally:
            c.close()
        self.duplicate_refused(s, other)
        self.assertEqual(self.listed(s), [])

    def test_store_down_at_start_is_a_clear_error(self):
        fn = self.fn()
        port = free_port()
        self.down_at_start(self.config(fn, port, "down"), "127.0.0.1:%d" % port)


if __name__ == "__main__":
    main()
