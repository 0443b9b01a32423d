"""The postgres-queue source against a real PostgreSQL 15 and the real sluice binary: the SQS
event shape field for field, rows deleted once handled (or archived), no loss with a function
failing at random (delivered + dead-lettered = produced), partial batch responses retrying only
the items named, filtered rows deleted, three sluice processes sharing one table without
delivering a row twice, the NOTIFY wake-up, max_inflight and a disabled mapping holding claims.

Also the helpers test_pg_queue_recovery.py and test_pg_queue_config.py use (they import this
module): SqsFn, an HTTP function for SQS-shaped events, and PgQueueTest."""
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
from harness import SluiceTest, base_config, main, wait_until  # noqa: E402
from pg_fixture import PgServer  # noqa: E402


class SqsFn:
    """An HTTP function for SQS-shaped events. Each invocation is logged with the path it came
    to (one sluice process per path), its messageIds, bodies and receive counts, and the
    outcome. A record whose JSON body has "fail": true fails the invocation (function error, or
    a partial batch response naming it when partial=True); fail_rate answers 500 at random;
    delay_ms sleeps before answering; hold=True keeps every invocation waiting until release()
    (its ids are in `arrived` as it comes)."""

    def __init__(self, fail_rate=0.0, seed=1, partial=False, delay_ms=0, hold=False):
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.partial = partial
        self.delay_ms = delay_ms
        self.fixed = False
        self.gate = threading.Event()
        if not hold:
            self.gate.set()
        self.lock = threading.Lock()
        self.arrived = []
        self.log = []
        self.events = []
        fn = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                status, headers, out = fn._handle(self.path, body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self._headers_buffer.append(b"\r\n")
                self._headers_buffer.append(out)
                self.flush_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/invoke" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url_for(self, name):
        return "http://127.0.0.1:%d/%s" % (self.port, name)

    def _handle(self, path, body):
        now = time.time()
        doc = json.loads(body)
        records = doc["Records"] if isinstance(doc, dict) else doc
        ids, bodies, counts, failed = [], [], [], []
        for r in records:
            ids.append(r["messageId"])
            counts.append(int(r["attributes"]["ApproximateReceiveCount"]))
            try:
                data = json.loads(r["body"])
            except ValueError:
                data = r["body"]
            bodies.append(data)
            if isinstance(data, dict) and data.get("fail") is True and not self.fixed:
                failed.append(r["messageId"])
        with self.lock:
            self.arrived.append(ids)
        self.gate.wait()
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)
        with self.lock:
            entry = {"time": now, "path": path, "ids": ids, "bodies": bodies, "counts": counts,
                     "failed": failed}
            self.events.extend(records)
            if self.fail_rate > 0 and self.rng.random() < self.fail_rate:
                entry["outcome"] = "error"
                self.log.append(entry)
                return 500, {}, b'{"errorMessage":"random failure"}'
            if failed and self.partial:
                entry["outcome"] = "partial"
                self.log.append(entry)
                out = {"batchItemFailures": [{"itemIdentifier": i} for i in failed]}
                return 200, {}, json.dumps(out).encode()
            if failed:
                entry["outcome"] = "error"
                self.log.append(entry)
                return 200, {"X-Amz-Function-Error": "Unhandled"}, \
                    b'{"errorMessage":"a record asked to fail","errorType":"Poison"}'
            entry["outcome"] = "ok"
            self.log.append(entry)
            return 200, {}, b"{}"

    def invocations(self):
        with self.lock:
            return list(self.log)

    def delivered(self, by_path=False):
        """messageIds handled successfully, duplicates included (SQS's partial rule: all but
        the items named); with by_path, (path, id) pairs."""
        out = []
        for inv in self.invocations():
            if inv["outcome"] == "ok":
                ok = inv["ids"]
            elif inv["outcome"] == "partial":
                ok = [i for i in inv["ids"] if i not in inv["failed"]]
            else:
                continue
            out.extend((inv["path"], i) if by_path else i for i in ok)
        return out

    def release(self):
        self.gate.set()

    def stop(self):
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()

    def problems(self):
        return None


def sqs_attrs_md5(attrs):
    """SQS's md5OfMessageAttributes of {name: (dataType, value)} (strings; Binary: bytes)."""
    out = b""
    for name in sorted(attrs, key=lambda n: n.encode()):
        dt, val = attrs[name]
        out += struct.pack(">I", len(name.encode())) + name.encode()
        out += struct.pack(">I", len(dt.encode())) + dt.encode()
        raw = val if isinstance(val, bytes) else val.encode()
        out += (b"\x02" if dt.startswith("Binary") else b"\x01") + struct.pack(">I", len(raw)) + raw
    return hashlib.md5(out).hexdigest()


def queue_source(pg, **kw):
    src = {"name": "orders", "type": "postgres-queue", "conninfo": pg.dsn(), "table": "jobs",
           "connect_timeout": "2s", "metrics_interval": "300ms"}
    src.update(kw)
    return src


class PgQueueTest(SluiceTest):
    """SluiceTest with PostgreSQL servers (removed at the end) and SQS functions."""

    def pg(self, **kw):
        p = PgServer(**kw).start()
        self.addCleanup(p.destroy)
        return p

    def sfn(self, **kw):
        f = SqsFn(**kw)
        self._procs.append(f)
        return f

    def config(self, pg, fn, source=None, mapping=None, function=None, name=None, extra=None):
        m = {"batch": {"size": 10, "window": "0s"},
             "retry": {"max_attempts": 3, "backoff": {"min": "5ms", "max": "20ms"}}}
        m.update(mapping or {})
        cfg = base_config(self.workdir, fn.url_for(name) if name else fn.url, mapping=m,
                          function=function, extra={"sources": [queue_source(pg, **(source or {}))]})
        if name:
            cfg["store"]["dir"] = os.path.join(self.workdir, "data-" + name)
        cfg.update(extra or {})
        return cfg

    def init(self, cfg, name="init"):
        s = harness.Sluice(self.workdir, cfg, name=name)
        return s.cli("init")

    def produce(self, pg, n, start=0, fail=(), table="jobs"):
        """Inserts rows {"k": i} (with "fail": true for i in fail) in one statement per 1000;
        returns their ids, in order."""
        ids = []
        c = pg.connect()
        try:
            with c.cursor() as cur:
                for base in range(start, start + n, 1000):
                    rows = [json.dumps(dict({"k": i}, **({"fail": True} if i in fail else {})))
                            for i in range(base, min(start + n, base + 1000))]
                    cur.execute("INSERT INTO %s (payload) SELECT unnest(%%s::text[]) RETURNING id"
                                % table, (rows,))
                    ids.extend(str(r[0]) for r in cur.fetchall())
        finally:
            c.close()
        return ids

    def rows(self, pg, table="jobs"):
        return pg.scalar("SELECT count(*) FROM %s" % table)

    def wait_empty(self, pg, timeout=120, what=None, table="jobs"):
        wait_until(lambda: self.rows(pg, table) == 0, timeout=timeout,
                   what=what or "every row handled and deleted")


class PgQueueDelivery(PgQueueTest):
    def test_event_shape_and_deletes(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source={"columns": {"attributes": "attrs", "group": "grp"}})
        self.init(cfg)
        s = self.sluice(cfg)
        pg.query("INSERT INTO jobs (payload, attrs, grp) VALUES "
                 "('{\"order\": \"o-1\", \"total\": 42.5}', "
                 "'{\"Author\": \"John Grisham\", \"WeeksOn\": 6}', 'g1'), "
                 "('plain text, h\u00e9', NULL, NULL)")
        wait_until(lambda: len(fn.events) == 2, what="both rows delivered")
        self.wait_empty(pg, what="both rows deleted once delivered")
        a, b = sorted(fn.events, key=lambda r: int(r["messageId"]))
        self.assertEqual(list(a), ["messageId", "receiptHandle", "body", "attributes",
                                   "messageAttributes", "md5OfMessageAttributes", "md5OfBody",
                                   "eventSource", "eventSourceARN", "awsRegion"])
        self.assertEqual(a["receiptHandle"], a["messageId"] + ":1")
        self.assertEqual(int(b["messageId"]), int(a["messageId"]) + 1)
        self.assertEqual(a["body"], '{"order": "o-1", "total": 42.5}')
        self.assertEqual(b["body"], "plain text, h\u00e9")
        for r in (a, b):
            self.assertEqual(r["md5OfBody"], hashlib.md5(r["body"].encode()).hexdigest())
            self.assertEqual(r["eventSource"], "sluice:postgres")
            self.assertEqual(r["eventSourceARN"], "postgres://127.0.0.1:%d/postgres/jobs" % pg.port)
            self.assertEqual(r["awsRegion"], "")
            at = r["attributes"]
            self.assertEqual(at["ApproximateReceiveCount"], "1")
            sent, first = int(at["SentTimestamp"]), int(at["ApproximateFirstReceiveTimestamp"])
            self.assertLessEqual(sent, first)
            self.assertLess(abs(first - time.time() * 1000), 60000)
        self.assertEqual(a["attributes"]["MessageGroupId"], "g1")
        self.assertEqual(a["attributes"]["SequenceNumber"], a["messageId"])
        self.assertNotIn("MessageGroupId", b["attributes"])
        self.assertEqual(a["messageAttributes"], {
            "Author": {"stringValue": "John Grisham", "stringListValues": [],
                       "binaryListValues": [], "dataType": "String"},
            "WeeksOn": {"stringValue": "6", "stringListValues": [], "binaryListValues": [],
                        "dataType": "Number"}})
        self.assertEqual(a["md5OfMessageAttributes"],
                         sqs_attrs_md5({"Author": ("String", "John Grisham"),
                                        "WeeksOn": ("Number", "6")}))
        self.assertEqual(b["messageAttributes"], {})
        self.assertIsNone(b["md5OfMessageAttributes"])

        def metrics():
            mx = s.metrics()
            return mx if mx.get('sluice_pgqueue_acked_total{source="orders"}') == 2 else None
        mx = wait_until(metrics, what="the deletes counted")
        self.assertEqual(mx['sluice_pgqueue_claimed_total{source="orders"}'], 2)
        self.assertEqual(mx['sluice_pgqueue_connected{source="orders"}'], 1)
        self.assertEqual(mx['sluice_pgqueue_held{source="orders"}'], 0)
        wait_until(lambda: s.metrics().get('sluice_pgqueue_lag{source="orders"}') == 0,
                   what="the lag gauge at 0")
        status, _, body = s.admin("GET", "/v1/mappings/orders-to-fn")
        self.assertEqual(status, 200, body)
        src = json.loads(body)["source"]
        self.assertEqual((src["type"], src["table"], src["state"]),
                         ("postgres-queue", "jobs", "live"))

    def test_no_loss_with_random_failures(self):
        pg = self.pg()
        fn = self.sfn(fail_rate=0.3, seed=7)
        # Unordered with 4 batches at once (a queue has no order); one row always fails, so it
        # surely runs out of attempts.
        cfg = self.config(pg, fn, mapping={"batch": {"size": 25, "window": "0s"},
                                           "ordering": "none", "max_concurrency": 4})
        self.init(cfg)
        n = 1000
        ids = self.produce(pg, n, fail={123})
        s = self.sluice(cfg)
        self.wait_empty(pg, timeout=240)
        dead = s.dlq_entries()
        delivered = set(fn.delivered())
        dead_ids = {e["recordId"] for e in dead}
        self.assertEqual(delivered | dead_ids, set(ids))
        self.assertFalse(delivered & dead_ids)
        self.assertIn(ids[123], dead_ids)
        for e in dead:
            self.assertEqual(e["condition"], "RetryAttemptsExhausted")
        # Nothing was claimed twice: the mapping retried, the rows stayed claimed meanwhile.
        self.assertEqual(s.metrics()['sluice_pgqueue_claimed_total{source="orders"}'], n)

    def test_partial_batch_response_retries_only_the_items_named(self):
        pg = self.pg()
        fn = self.sfn(partial=True)
        cfg = self.config(pg, fn, mapping={"ordering": "none",
                                           "retry": {"max_attempts": 3,
                                                     "report_batch_item_failures": True,
                                                     "backoff": {"min": "5ms", "max": "20ms"}}})
        self.init(cfg)
        ids = self.produce(pg, 100, fail={5, 48})
        s = self.sluice(cfg)
        self.wait_empty(pg)
        poison = {ids[5], ids[48]}
        delivered = fn.delivered()
        # SQS's rule: every message but the ones named is done, once.
        self.assertEqual(sorted(delivered, key=int), sorted(set(ids) - poison, key=int))
        for p in poison:
            self.assertEqual(sum(p in inv["ids"] for inv in fn.invocations()), 3)
        self.assertEqual({e["recordId"] for e in s.dlq_entries()}, poison)

    def test_filtered_rows_are_deleted(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, mapping={"filters": [{"body": {"type": ["keep"]}}]})
        self.init(cfg)
        c = pg.connect()
        with c.cursor() as cur:
            cur.execute("INSERT INTO jobs (payload) SELECT json_build_object('k', g, 'type', "
                        "CASE WHEN g % 3 = 0 THEN 'keep' ELSE 'drop' END)::text "
                        "FROM generate_series(0, 59) g")
        c.close()
        s = self.sluice(cfg)
        self.wait_empty(pg)
        wait_until(lambda: len(fn.delivered()) == 20, what="the kept rows delivered")
        self.assertEqual(sorted(b["k"] for inv in fn.invocations() for b in inv["bodies"]),
                         list(range(0, 60, 3)))
        mx = s.metrics()
        self.assertEqual(mx['sluice_records_filtered_total{mapping="orders-to-fn"}'], 40)

    def test_archive_table(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source={"archive_table": "jobs_done"})
        self.init(cfg)
        ids = self.produce(pg, 50)
        self.sluice(cfg)
        self.wait_empty(pg)
        rows = pg.query("SELECT id, payload, receive_count, first_received_at IS NOT NULL, "
                        "archived_at IS NOT NULL FROM jobs_done ORDER BY id")
        self.assertEqual([str(r[0]) for r in rows], ids)
        self.assertEqual([json.loads(r[1])["k"] for r in rows], list(range(50)))
        self.assertTrue(all(r[2] == 1 and r[3] and r[4] for r in rows))

    def test_three_processes_share_one_table(self):
        pg = self.pg()
        fn = self.sfn(delay_ms=2)
        names = ["p1", "p2", "p3"]
        cfgs = [self.config(pg, fn, name=n, mapping={"ordering": "none", "max_concurrency": 2})
                for n in names]
        self.init(cfgs[0])
        n = 3000
        ids = self.produce(pg, n)
        for i, name in enumerate(names):
            self.sluice(cfgs[i], name=name)
        self.wait_empty(pg, timeout=240)
        got = fn.delivered(by_path=True)
        per_id = {}
        for path, i in got:
            per_id.setdefault(i, []).append(path)
        self.assertEqual(set(per_id), set(ids))
        twice = {i: p for i, p in per_id.items() if len(p) > 1}
        self.assertEqual(twice, {}, "rows delivered more than once")
        by_proc = {p: sum(1 for q, _ in got if q == p) for p in ("/" + x for x in names)}
        for p, k in by_proc.items():
            self.assertGreater(k, 0, "process %s got no rows: %s" % (p, by_proc))
        # Every delivery was the row's first receive.
        self.assertEqual({c for inv in fn.invocations() for c in inv["counts"]}, {1})

    def test_notify_wakes_a_claim_at_once(self):
        pg = self.pg()
        fn = self.sfn()
        # Polling every hour: only the NOTIFY of the insert can wake the source.
        cfg = self.config(pg, fn, source={"poll_interval": "1h"})
        self.init(cfg)
        s = self.sluice(cfg)
        s.out.wait_for(r"connected to .* notify channel sluice_jobs")
        for k in range(5):
            t0 = time.time()
            self.produce(pg, 1, start=k)
            wait_until(lambda: len(fn.events) == k + 1, timeout=10, what="the row delivered")
            self.assertLess(time.time() - t0, 5)
        # Without notify, polling finds rows.
        s.terminate()
        fn2 = self.sfn()
        cfg = self.config(pg, fn2, source={"notify": False, "poll_interval": "200ms"})
        self.sluice(cfg, name="polling")
        self.produce(pg, 3, start=100)
        wait_until(lambda: len(fn2.events) == 3, what="rows found by polling")

    def test_max_inflight_and_a_disabled_mapping_hold_claims(self):
        pg = self.pg()
        fn = self.sfn(hold=True)
        cfg = self.config(pg, fn, source={"claim_size": 10, "max_inflight": 20},
                          mapping={"ordering": "none", "max_concurrency": 8})
        self.init(cfg)
        ids = self.produce(pg, 200)
        s = self.sluice(cfg)
        wait_until(lambda: len(fn.arrived) == 2, what="two batches at the function")
        time.sleep(1.0)  # time for more claims, were they to go out
        claimed = pg.scalar("SELECT count(*) FROM jobs WHERE receive_count > 0")
        self.assertEqual(claimed, 20)
        self.assertEqual(s.metrics()['sluice_pgqueue_held{source="orders"}'], 20)
        fn.release()
        self.wait_empty(pg)
        self.assertEqual(sorted(fn.delivered(), key=int), ids)
        # Disabled: no claims at all; enabled: the rows come.
        self.assertEqual(s.admin("POST", "/v1/mappings/orders-to-fn/disable")[0], 200)
        more = self.produce(pg, 30, start=1000)
        time.sleep(1.5)
        self.assertEqual(pg.scalar("SELECT count(*) FROM jobs WHERE receive_count > 0"), 0)
        self.assertEqual(s.admin("POST", "/v1/mappings/orders-to-fn/enable")[0], 200)
        self.wait_empty(pg)
        self.assertEqual(sorted(fn.delivered(), key=int), ids + more)


if __name__ == "__main__":
    main()
