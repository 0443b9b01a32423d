"""The event-source-mapping API with a shared PostgreSQL store (admin.esm_store type postgres):
two `sluice run` processes see and run the same API mappings. A change made on one is applied by
the other through NOTIFY (the fallback poll is set to its longest, so a test that passes did not
wait for it); Lambda's duplicate rule holds across processes through the table's unique
constraint; a store unreachable at start stops sluice with a clear error. Real PostgreSQL, real
binary, a PostgreSQL queue as the source both processes read (docs/ESM_API.md)."""
import copy
import os
import socket
import subprocess
import sys
import threading
import uuid as uuidlib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
import test_pg_queue as common  # noqa: E402
from harness import json_body, main, wait_until  # noqa: E402

PATH = "/2015-03-31/event-source-mappings"
TABLE = "sluice_esm_mappings"


def esm_store(pg, **kw):
    return dict({"type": "postgres", "poll": "1h",
                 "postgres": {"conninfo": pg.dsn(), "connect_timeout": "2s"}}, **kw)


class EsmCalls:
    """The API calls and checks the shared-store tests make (PostgreSQL and Redis)."""

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

    def create_seen(self, a, b, **fields):
        """Creates a mapping of orders to fn on a; returns its UUID once b runs it."""
        status, _, data = a.admin("POST", PATH, dict({"EventSourceArn": "orders",
                                                      "FunctionName": "fn"}, **fields))
        self.assertEqual(status, 202, data)
        uuid = json_body(data)["UUID"]
        wait_until(lambda: self.state_is(b, uuid, "Enabled"), what="B runs A's mapping")
        wait_until(lambda: self.state_is(a, uuid, "Enabled"), what="A runs its mapping")
        return uuid

    def duplicate_refused(self, s, other):
        status, hdrs, data = s.admin("POST", PATH, {"EventSourceArn": "orders",
                                                    "FunctionName": "fn"})
        self.assertEqual((status, hdrs.get("x-amzn-errortype")),
                         (409, "ResourceConflictException"), data)
        self.assertIn(other, json_body(data)["message"])

    def deleted_everywhere(self, a, b, uuid):
        """Deletes on a; returns once b stopped the mapping."""
        status, _, data = a.admin("DELETE", PATH + "/" + uuid)
        self.assertEqual(status, 202, data)
        wait_until(lambda: self.get(b, uuid)[0] == 404, what="B dropped the mapping")
        wait_until(lambda: b.admin("GET", "/v1/mappings/esm-" + uuid)[0] == 404,
                   what="B stopped the mapping")
        self.assertEqual(self.listed(b), [])

    def down_at_start(self, cfg, where):
        """sluice run with cfg (its shared store unreachable) exits with a clear error."""
        s = harness.Sluice(self.workdir, cfg, name="down")
        p = subprocess.run([harness.SLUICE, "run", "-c", s.config_path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode()
        self.assertNotEqual(p.returncode, 0, out)
        self.assertIn("admin.esm_store", out)
        self.assertIn(where, out)
        self.assertIn("sluice does not start without it", out)


class EsmSharedPg(EsmCalls, common.PgQueueTest):
    def configs(self, pg, fn):
        """Configs of processes "a" and "b": own store dirs, the same shared ESM store, no
        mappings of the file; each invokes the function on its own path (/a, /b)."""
        out = {}
        for name in ("a", "b"):
            cfg = self.config(pg, fn, name=name)
            cfg["mappings"] = []
            cfg["admin"]["esm_store"] = esm_store(pg)
            out[name] = cfg
        return out

    def paths(self, fn, ids):
        """The paths (processes) that delivered each of ids."""
        got = {}
        for path, i in fn.delivered(by_path=True):
            if i in ids:
                got.setdefault(i, set()).add(path)
        return got

    def two_processes(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.configs(pg, fn)
        self.init(cfg["a"])
        return pg, fn, cfg, self.sluice(cfg["a"], name="a"), self.sluice(cfg["b"], name="b")

    def test_two_processes_share_create_update_delete(self):
        pg, fn, cfg, a, b = self.two_processes()

        # Create on A: B starts it (its running mapping's state) and answers Get and List alike.
        uuid = self.create_seen(a, b, BatchSize=10)
        self.assertEqual(b.admin("GET", "/v1/mappings/esm-" + uuid)[0], 200)
        self.assertEqual([m["UUID"] for m in self.listed(b)], [uuid])
        self.assertEqual(self.listed(a), self.listed(b))
        self.assertEqual(self.get(a, uuid), self.get(b, uuid))

        # A duplicate on B: Lambda's 409, naming A's mapping.
        self.duplicate_refused(b, uuid)
        self.assertEqual(pg.scalar("SELECT count(*) FROM " + TABLE), 1)

        # Events flow through B: with A stopped, B alone reads the queue.
        self.assertEqual(a.terminate(), 0)
        ids = self.produce(pg, 6)
        self.wait_empty(pg, what="B delivered the rows")
        self.assertEqual(self.paths(fn, ids), {i: {"/b"} for i in ids})

        # Update on B: A (started again) applies it live; with B stopped, A's batches are of 5.
        a = self.sluice(cfg["a"], name="a2")
        wait_until(lambda: self.state_is(a, uuid, "Enabled"), what="A runs the mapping again")
        status, _, data = b.admin("PUT", PATH + "/" + uuid, {"BatchSize": 5})
        self.assertEqual(status, 202, data)
        wait_until(lambda: self.state_is(a, uuid, "Enabled", BatchSize=5),
                   what="A applied B's update")
        self.assertEqual(b.terminate(), 0)
        seen = len(fn.invocations())
        ids = self.produce(pg, 12)
        self.wait_empty(pg, what="A delivered the rows")
        self.assertEqual(self.paths(fn, ids), {i: {"/a"} for i in ids})
        batches = [len(inv["ids"]) for inv in fn.invocations()[seen:]]
        self.assertLessEqual(max(batches), 5, batches)
        self.assertEqual(sum(batches), 12)

        # Delete on A: B (started again) stops it.
        b = self.sluice(cfg["b"], name="b2")
        wait_until(lambda: self.state_is(b, uuid, "Enabled", BatchSize=5),
                   what="B runs the updated mapping after its restart")
        self.deleted_everywhere(a, b, uuid)
        self.assertEqual(pg.scalar("SELECT count(*) FROM " + TABLE), 0)

    def test_concurrent_creates_of_one_pair(self):
        """The same create sent to A and B at once: one mapping, the other call a 409 naming
        it, whichever process answers which."""
        pg, fn, cfg, a, b = self.two_processes()
        out = {}
        go = threading.Barrier(2)

        def create(s):
            go.wait()
            out[s] = s.admin("POST", PATH, {"EventSourceArn": "orders", "FunctionName": "fn"})

        threads = [threading.Thread(target=create, args=(s,)) for s in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        statuses = sorted(out[s][0] for s in (a, b))
        self.assertEqual(statuses, [202, 409], out)
        made = next(json_body(d)["UUID"] for st, _, d in out.values() if st == 202)
        refused = next(json_body(d) for st, _, d in out.values() if st == 409)
        self.assertIn(made, refused["message"])
        self.assertEqual(pg.scalar("SELECT count(*) FROM " + TABLE), 1)
        for s in (a, b):
            wait_until(lambda: self.state_is(s, made, "Enabled"), what="both run the one made")
            self.assertEqual([m["UUID"] for m in self.listed(s)], [made])

    def test_duplicate_caught_by_the_table(self):
        """A row this process has not seen yet (written without a notification, the poll an
        hour away) still makes a duplicate create a 409: the table's unique constraint."""
        pg = self.pg()
        fn = self.sfn()
        cfg = self.configs(pg, fn)["a"]
        self.init(cfg)
        s = self.sluice(cfg, name="a")
        s.out.wait_for(r"read 0 rows of the shared store")  # its first read is done: it knows of none
        other = str(uuidlib.uuid4())
        pg.query("INSERT INTO " + TABLE + " (uuid, source, function, doc, created_ms, "
                 "modified_ms, version) VALUES (%s, 'orders', 'fn', "
                 "'{\"EventSourceArn\":\"orders\",\"FunctionName\":\"fn\"}', 1, 1, "
                 "nextval('" + TABLE + "_version'))", (other,))
        self.duplicate_refused(s, other)
        self.assertEqual(self.listed(s), [])  # nothing half made
        self.assertEqual(pg.scalar("SELECT count(*) FROM " + TABLE), 1)

    def test_store_lost_while_running(self):
        """PostgreSQL goes away: changes answer 500 and change nothing, the mapping known runs
        on; once it is back both processes reconnect and a change reaches the other again."""
        pg, fn, cfg, a, b = self.two_processes()
        uuid = self.create_seen(a, b, BatchSize=10)

        pg.stop()
        a.out.wait_for(r"shared ESM store at .* is unreachable")
        status, hdrs, data = a.admin("PUT", PATH + "/" + uuid, {"BatchSize": 7})
        self.assertEqual((status, hdrs.get("x-amzn-errortype")), (500, "ServiceException"), data)
        for s in (a, b):
            self.assertEqual(self.get(s, uuid)[1]["BatchSize"], 10)
            self.assertEqual(s.admin("GET", "/v1/mappings/esm-" + uuid)[0], 200)

        pg.start()
        for s in (a, b):
            s.out.wait_for(r"shared ESM store at .* is reachable again")
        wait_until(lambda: a.admin("PUT", PATH + "/" + uuid, {"BatchSize": 7})[0] == 202,
                   what="A writes again")
        wait_until(lambda: self.state_is(b, uuid, "Enabled", BatchSize=7),
                   what="B applied A's update after the outage")
        ids = self.produce(pg, 4)
        self.wait_empty(pg, what="the mapping delivers after the outage")
        self.assertEqual(sorted(set(fn.delivered())), sorted(ids))

    def test_store_down_at_start_is_a_clear_error(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.configs(pg, fn)["a"]
        self.init(cfg)
        with socket.socket() as sk:
            sk.bind(("127.0.0.1", 0))
            port = sk.getsockname()[1]  # closed again: nothing listens there
        down = copy.deepcopy(cfg)
        down["admin"]["esm_store"]["postgres"]["conninfo"] = "host=127.0.0.1 port=%d " \
            "dbname=postgres user=postgres" % port
        self.down_at_start(down, "127.0.0.1:%d" % port)

    def test_config_errors_name_the_key(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.configs(pg, fn)["a"]
        cases = [({"type": "postgres"}, "admin.esm_store.postgres: missing"),
                 ({"type": "postgres", "postgres": {}}, "admin.esm_store.postgres.conninfo"),
                 (dict(esm_store(pg), postgres={"conninfo": pg.dsn() + " password=x"}),
                  "admin.esm_store.postgres.conninfo"),
                 ({"type": "redis-cluster"}, "admin.esm_store.type"),
                 (dict(esm_store(pg), poll="10ms"), "admin.esm_store.poll")]
        for store, key in cases:
            bad = copy.deepcopy(cfg)
            bad["admin"]["esm_store"] = store
            s = harness.Sluice(self.workdir, bad, name="bad")
            p = s.cli("validate", check=False)
            out = p.stdout.decode() + p.stderr.decode()
            self.assertNotEqual(p.returncode, 0, out)
            self.assertIn(key, out)


if __name__ == "__main__":
    main()
