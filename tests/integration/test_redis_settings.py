"""Connection settings of the redis source and the redis DLQ sink against a real redis-server
started with --requirepass and --unixsocket, and the real sluice binary: `password` (AUTH) and
`db` (SELECT) deliver from the right database; a wrong or missing password is a clear log line
naming the source, never shows the password, and sluice keeps retrying (with a growing backoff)
until the server takes it; `unix_socket` with TCP switched off; `starting_position: at` (the
boundary to the millisecond, and an existing group's position winning over a new `at`); the
DLQ sink in another database of the protected server, read back with `sluice dlq list/show`.
Every test counts records end to end: delivered + dead-lettered (+ before the start) = produced.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import base_config, main, wait_until  # noqa: E402
from redis_fixture import (REDIS_SERVER, RedisError, RedisServer, RedisTest, Resp,  # noqa: E402
                           dlq_stream_entries, fields_of, free_port, redis_dlq, redis_source)

PASSWORD = "pw-Quokka-7f1d9a"  # distinctive: searched for in every output
WRONG = "pw-Wombat-22c4e0"


class AuthResp(Resp):
    """Resp over TCP or a Unix socket, with AUTH and SELECT done at connect."""

    def __init__(self, port=None, path=None, password=None, db=0, timeout=30):
        if path:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(path)
            except OSError:
                self.sock.close()
                raise
            self.f = self.sock.makefile("rb")
        else:
            super().__init__(port, timeout=timeout)
        try:
            if password:
                self.cmd("AUTH", password)
            if db:
                self.cmd("SELECT", db)
        except Exception:
            self.close()
            raise


class SecureRedis(RedisServer):
    """redis-server with --requirepass and a Unix socket; tcp=False switches TCP off (port 0)
    so that only the socket can be used. Stopped by pid like RedisServer."""

    def __init__(self, workdir, password, tcp=True):
        super().__init__(workdir)
        self.password = password
        self.tcp = tcp
        if not tcp:
            self.port = 0
        self.socket_path = os.path.join(self.dir, "redis.sock")
        self.clients = []

    def start(self):
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.dir, "--save", "", "--daemonize", "no", "--appendonly", "no",
                "--logfile", os.path.join(self.dir, "redis.log"),
                "--requirepass", self.password,
                "--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("redis-server exited with %d; log:\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                clients = [AuthResp(path=self.socket_path, password=self.password, timeout=2)]
                if self.tcp:
                    clients.append(AuthResp(self.port, password=self.password, timeout=2))
                try:
                    return all(c.cmd("PING") == "PONG" for c in clients)
                finally:
                    for c in clients:
                        c.close()
            except (OSError, RedisError, ConnectionError):
                return False

        wait_until(ready, timeout=30, what="redis-server to answer PING")
        return self

    def client(self, db=0, password=None):
        c = AuthResp(path=self.socket_path, password=password or self.password, db=db)
        self.clients.append(c)
        return c

    def stop(self):
        for c in self.clients:
            c.close()
        self.clients = []
        super().stop()


def pending(client, stream="orders", group="sluice-orders"):
    """Entries read and not acked; None while the group does not exist."""
    try:
        return client.cmd("XPENDING", stream, group)[0]
    except RedisError:
        return None


def xlen(client, stream="sluice-dlq"):
    return client.cmd("XLEN", stream)


def rfc3339_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def config(test, fn, source, dlq=None, mapping=None):
    # Batches of one: a poison entry fails alone (KinesisFn fails a whole invocation).
    m = {"dlq": "rdlq", "batch": {"size": 1, "window": "0s"},
         "retry": {"max_attempts": 1, "backoff": {"min": "5ms", "max": "20ms"}}}
    m.update(mapping or {})
    return base_config(test.workdir, fn.url, mapping=m, extra={
        "sources": [source], "dlqs": [dlq]})


class RedisSettings(RedisTest):
    def secure_redis(self, tcp=True):
        r = SecureRedis(self.workdir, PASSWORD, tcp=tcp)
        self._procs.append(r)
        return r.start()

    def assert_no_secret(self, s, *more):
        """Neither password in sluice's log, its metrics, its admin API answers, or the other
        texts given (CLI outputs, DLQ documents)."""
        texts = {"log": s.out.text()}
        if s.proc.poll() is None:
            for path in ("/metrics", "/v1/mappings", "/v1/dlq"):
                status, _, data = s.admin("GET", path)
                texts[path] = data.decode("utf-8", "replace")
        for i, t in enumerate(more):
            texts["text %d" % i] = t if isinstance(t, str) else json.dumps(t)
        for name, t in texts.items():
            for pw in (PASSWORD, WRONG):
                self.assertNotIn(pw, t, "a password in %s" % name)

    def retry_delays(self, s, scope="source:redis:orders"):
        rx = re.compile(r"\[%s\] cannot connect to .*\(retrying in (\d+) ms\)" % re.escape(scope))
        return [int(m.group(1)) for m in map(rx.search, s.out.text().splitlines()) if m]

    # 1. password + db

    def test_password_and_db(self):
        r = self.secure_redis()
        c0, c3 = r.client(db=0), r.client(db=3)
        decoy = self.produce(c0, "orders", 5, start=1000)  # same key, db 0: never read
        ids = self.produce(c3, "orders", 30)
        fn = self.kfn()
        s = self.sluice(config(self, fn,
                               redis_source(r.port, ["orders"], password=PASSWORD, db=3),
                               redis_dlq(r.port, password=PASSWORD, db=3)))
        s.out.wait_for(r"\[source:redis:orders\] connected to 127\.0\.0\.1:%d" % r.port)
        wait_until(lambda: len(fn.delivered()) >= 30 and pending(c3) == 0,
                   what="30 entries of db 3 delivered and acked")
        # Delivered once each, in order; all from db 3 (their ARN says so).
        self.assertEqual(fn.delivered(), ["orders:" + i for i in ids])
        self.assertEqual({e["eventSourceARN"] for e in fn.events},
                         {"redis://127.0.0.1:%d/3/orders" % r.port})
        self.assertEqual(fn.delivered_keys(), [str(i) for i in range(30)])
        # db 0 untouched: no group, no DLQ stream, its entries still there.
        self.assertEqual(c0.cmd("XINFO", "GROUPS", "orders"), [])
        self.assertEqual(xlen(c0, "orders"), len(decoy))
        self.assertEqual(c0.cmd("EXISTS", "sluice-dlq"), 0)
        # End to end: delivered + dead-lettered = produced.
        self.assertEqual(len(set(fn.delivered())) + xlen(c3), len(ids))
        mx = s.metrics()
        self.assertEqual(mx['sluice_redis_connected{source="orders"}'], 1)
        self.assertEqual(mx['sluice_redis_reconnects_total{source="orders"}'], 0)
        listed = s.cli("dlq", "list", "--json")
        self.assertEqual(json.loads(listed.stdout.decode())["entries"], [])
        self.assert_no_secret(s, listed.stdout.decode(), listed.stderr.decode())

    def test_wrong_password_is_clear_and_retried(self):
        r = self.secure_redis()
        c = r.client(db=3)
        ids = self.produce(c, "orders", 10, extra=lambda i: {"fail": "true"} if i == 4 else {})
        fn = self.kfn()
        s = self.sluice(config(self, fn,
                               redis_source(r.port, ["orders"], password=WRONG, db=3),
                               redis_dlq(r.port, password=WRONG, db=3)))
        s.out.wait_for(r"\[source:redis:orders\] cannot connect to 127\.0\.0\.1:%d: AUTH failed: "
                       r"WRONGPASS" % r.port)
        s.out.wait_for(r"\[dlq:redis:rdlq\] cannot reach 127\.0\.0\.1:%d: AUTH failed: WRONGPASS"
                       % r.port)
        # It keeps trying, backing off further each time (not a tight loop), and stays up.
        wait_until(lambda: len(self.retry_delays(s)) >= 3 and max(self.retry_delays(s)) > 100,
                   what="three more attempts with a growing backoff")
        self.assertIsNone(s.proc.poll())
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        self.assertEqual(s.metrics()['sluice_redis_connected{source="orders"}'], 0)
        self.assertEqual(fn.invocations(), [])
        self.assertEqual(pending(c), None)  # never got as far as creating the group
        # `sluice dlq list` fails clearly, without the password.
        p = s.cli("dlq", "list", "--json", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("AUTH failed", p.stderr.decode())
        self.assert_no_secret(s, p.stdout.decode(), p.stderr.decode())

        # The server now takes sluice's password: sluice gets in by itself and delivers.
        c.cmd("CONFIG", "SET", "requirepass", WRONG)
        s.out.wait_for(r"\[source:redis:orders\] connected to 127\.0\.0\.1:%d again" % r.port)
        wait_until(lambda: len(fn.delivered()) >= 9 and xlen(c) == 1 and pending(c) == 0,
                   what="9 delivered, the poison entry dead-lettered, all acked")
        self.assertEqual(fn.delivered(), ["orders:" + i for n, i in enumerate(ids) if n != 4])
        self.assertEqual([e["recordId"] for e in dlq_stream_entries(c)], [ids[4]])
        self.assertEqual(len(set(fn.delivered())) + xlen(c), len(ids))
        listed = s.cli("dlq", "list", "--json")
        self.assertEqual([e["recordId"] for e in json.loads(listed.stdout.decode())["entries"]],
                         [ids[4]])
        self.assert_no_secret(s, listed.stdout.decode(), listed.stderr.decode(),
                              dlq_stream_entries(c))

    def test_missing_password_is_clear_and_backs_off(self):
        r = self.secure_redis()
        c = r.client()
        ids = self.produce(c, "orders", 5)
        fn = self.kfn()
        s = self.sluice(config(self, fn, redis_source(r.port, ["orders"]),
                               redis_dlq(r.port, password=PASSWORD)))
        s.out.wait_for(r"\[source:redis:orders\] cannot connect to 127\.0\.0\.1:%d: .*NOAUTH"
                       % r.port)
        # Connecting works, the first command does not: still a connect failure with a growing
        # backoff, not a reconnect every 100 ms.
        wait_until(lambda: len(self.retry_delays(s)) >= 3 and max(self.retry_delays(s)) > 100,
                   what="three more attempts with a growing backoff")
        self.assertEqual(s.metrics()['sluice_redis_connected{source="orders"}'], 0)
        self.assertNotRegex(s.out.text(), r"\[source:redis:orders\] connected to")
        self.assertEqual(fn.invocations(), [])
        # The server drops its password: sluice gets in and delivers everything.
        c.cmd("CONFIG", "SET", "requirepass", "")
        wait_until(lambda: len(fn.delivered()) >= 5 and pending(c) == 0,
                   what="5 delivered and acked")
        self.assertEqual(fn.delivered(), ["orders:" + i for i in ids])
        self.assertEqual(len(set(fn.delivered())) + xlen(c), len(ids))
        self.assert_no_secret(s)

    # 2. unix_socket

    def test_unix_socket(self):
        r = self.secure_redis(tcp=False)  # no TCP at all: only the socket works
        c = r.client(db=2)
        ids = self.produce(c, "orders", 12, extra=lambda i: {"fail": "true"} if i == 7 else {})
        fn = self.kfn()
        trap = free_port()  # host:port are set but must not be used
        s = self.sluice(config(self, fn,
                               redis_source(trap, ["orders"], unix_socket=r.socket_path,
                                            password=PASSWORD, db=2),
                               redis_dlq(trap, unix_socket=r.socket_path, password=PASSWORD,
                                         db=2)))
        s.out.wait_for(r"\[source:redis:orders\] connected to %s " % re.escape(r.socket_path))
        wait_until(lambda: len(fn.delivered()) >= 11 and xlen(c) == 1 and pending(c) == 0,
                   what="11 delivered, 1 dead-lettered, all acked over the socket")
        self.assertEqual(fn.delivered(), ["orders:" + i for n, i in enumerate(ids) if n != 7])
        self.assertEqual({e["eventSourceARN"] for e in fn.events},
                         {"redis+unix://%s/2/orders" % r.socket_path})
        self.assertEqual(len(set(fn.delivered())) + xlen(c), len(ids))
        # The CLI reads the DLQ over the socket too.
        entries = s.dlq_entries()
        self.assertEqual([e["recordId"] for e in entries], [ids[7]])
        self.assertEqual(s.metrics()['sluice_redis_connected{source="orders"}'], 1)
        self.assert_no_secret(s)

    # 3. starting_position: at

    def test_starting_position_at(self):
        r = self.secure_redis()
        c = r.client(db=1)
        now = int(time.time() * 1000)
        t = now - 450000  # the `at` time: between batch A (10 min ago) and batch B (5 min ago)
        # Explicit ids put the entries at known times, with the boundary to the millisecond.
        a_ids = ["%d-0" % (now - 600000 + i) for i in range(10)] + ["%d-0" % (t - 1),
                                                                    "%d-7" % (t - 1)]
        b_ids = ["%d-0" % t, "%d-3" % t] + ["%d-0" % (now - 300000 + i) for i in range(10)]
        for n, eid in enumerate(a_ids + b_ids):
            self.assertEqual(c.cmd("XADD", "orders", eid, "k", str(n)), eid)
        fn = self.kfn()

        def cfg(at):
            return config(self, fn, redis_source(r.port, ["orders"], password=PASSWORD, db=1,
                                                 starting_position="at",
                                                 starting_timestamp=at),
                          redis_dlq(r.port, password=PASSWORD, db=1))

        s = self.sluice(cfg(rfc3339_ms(t)), name="first")
        wait_until(lambda: len(fn.delivered()) >= len(b_ids) and pending(c) == 0,
                   what="batch B delivered and acked")
        # Only the entries at or after the timestamp; the group starts just before it.
        self.assertEqual(fn.delivered(), ["orders:" + i for i in b_ids])
        self.assertEqual(s.terminate(), 0)
        self.assertEqual(fields_of(c.cmd("XINFO", "GROUPS", "orders")[0])["last-delivered-id"],
                         b_ids[-1])

        # Batch C arrives while sluice is down; the restart asks for `at` an hour ago (before
        # batch A) in the relative form: the existing group's position wins.
        c_ids = self.produce(c, "orders", 8, start=100)
        s2 = self.sluice(cfg("-1h"), name="second")
        wait_until(lambda: len(fn.delivered()) >= len(b_ids) + len(c_ids) and pending(c) == 0,
                   what="batch C delivered and acked")
        # Stream order: had the group been moved back, batch A would have come before C.
        self.assertEqual(fn.delivered(), ["orders:" + i for i in b_ids + c_ids])
        # End to end: delivered + dead-lettered + before the start = produced.
        produced = len(a_ids) + len(b_ids) + len(c_ids)
        self.assertEqual(len(set(fn.delivered())) + xlen(c) + len(a_ids), produced)
        self.assert_no_secret(s2)

    # 4. the DLQ sink on a protected server, in another database

    def test_dlq_sink_with_password_and_db(self):
        r = self.secure_redis()
        c0, c3, c5 = r.client(db=0), r.client(db=3), r.client(db=5)
        poison = {2, 5}
        ids = self.produce(c3, "orders", 8, extra=lambda i: {"fail": "true"} if i in poison
                           else {})
        fn = self.kfn()
        s = self.sluice(config(self, fn,
                               redis_source(r.port, ["orders"], password=PASSWORD, db=3),
                               redis_dlq(r.port, stream="dead", password=PASSWORD, db=5)))
        wait_until(lambda: xlen(c5, "dead") == 2 and pending(c3) == 0 and
                   len(fn.delivered()) >= 6,
                   what="6 delivered, 2 dead-lettered into db 5, all acked")
        self.assertEqual(fn.delivered(), ["orders:" + i for n, i in enumerate(ids)
                                          if n not in poison])
        for cl in (c0, c3):
            self.assertEqual(cl.cmd("EXISTS", "dead"), 0)
        self.assertEqual(len(set(fn.delivered())) + xlen(c5, "dead"), len(ids))
        # `sluice dlq list/show` read them back (their own blocking connection: AUTH, SELECT).
        listed = s.cli("dlq", "list", "--json")
        entries = json.loads(listed.stdout.decode())["entries"]
        self.assertEqual(sorted(e["recordId"] for e in entries),
                         sorted(ids[n] for n in poison))
        self.assertTrue(all(e["dlq"] == "rdlq" and e["mapping"] == "orders-to-fn"
                            for e in entries))
        first = [e for e in entries if e["recordId"] == ids[2]][0]
        shown_p = s.cli("dlq", "show", first["id"])
        shown = json.loads(shown_p.stdout.decode())
        self.assertEqual(shown["sourceType"], "redis")
        self.assertEqual(shown["coordinates"]["stream"], "orders")
        self.assertEqual(shown["coordinates"]["id"], ids[2])
        self.assertEqual(json.loads(shown["payload"]), {"k": "2", "fail": "true"})
        self.assertEqual(shown["condition"], "RetryAttemptsExhausted")
        table = s.cli("dlq", "list")
        self.assertIn(first["id"], table.stdout.decode())
        self.assert_no_secret(s, listed.stdout.decode(), listed.stderr.decode(),
                              shown_p.stdout.decode(), table.stdout.decode(),
                              dlq_stream_entries(c5, "dead"))
        # Removing goes over the authenticated connection too (EVAL in db 5).
        out = s.cli("dlq", "purge", "--all").stdout.decode()
        self.assertIn("purged 2", out)
        self.assertEqual(xlen(c5, "dead"), 0)
        self.assertEqual(s.dlq_entries(), [])


if __name__ == "__main__":
    main()
