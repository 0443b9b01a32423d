"""Hardening of the push listener and of events, against the real binary: bytes that are not
UTF-8 in a header or the query string do not poison a batch, transfer codings sluice cannot
decode get 501, a wrong token gets 401 before the body is read, and the memory held in bodies
is bounded (503 beyond server.max_buffered_bytes). The demo function refuses payloads that are
not events, so the tests that drive sluice through it would see such bugs."""
import http.server
import json
import os
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, http_request, json_body, main, wait_until  # noqa: E402

M = "orders-to-fn"
BAD_QUERY = b"source=\xff\xfe&x=1"
BAD_HEADER = b"id-\xff\xfe"


def read_response(sock):
    """Reads one response (status, lower-cased headers, body) from a socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed before a response: %r" % data)
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0"))
    while len(rest) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return status, headers, rest[:want]


def raw_post(port, target, headers, body=b""):
    """A POST whose request line and header values are raw bytes (http.client refuses them)."""
    req = b"POST " + target + b" HTTP/1.1\r\nHost: x\r\n"
    for k, v in headers:
        req += k + b": " + v + b"\r\n"
    req += b"Content-Length: %d\r\n\r\n" % len(body) + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as c:
        c.sendall(req)
        return read_response(c)


def closed_by_server(sock):
    """True once the server closed the connection (EOF or reset), waiting up to the timeout."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True


class Capture:
    """A function that keeps every payload as raw bytes and answers 200."""

    def __init__(self):
        self.payloads = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                owner.payloads.append(self.rfile.read(n))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/invoke" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def records(self):
        out = []
        for p in list(self.payloads):
            # Strict: a payload that is not UTF-8 or not JSON fails the test here.
            out.extend(json.loads(p.decode("utf-8", "strict"))["Records"])
        return out

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class InvalidUtf8(SluiceTest):
    def post_batch(self, s):
        """One record with bad bytes in the query and a kept header between two clean ones."""
        ids = []
        for i, (target, rid) in enumerate([(b"/hooks/orders?ok=1", b"clean-1"),
                                           (b"/hooks/orders?" + BAD_QUERY, BAD_HEADER),
                                           (b"/hooks/orders", b"clean-2")]):
            st, _, data = raw_post(s.push_port, target,
                                   [(b"Content-Type", b"application/json"), (b"X-Request-Id", rid)],
                                   b'{"n": %d}' % i)
            self.assertEqual(st, 202, data)
            ids.append(json_body(data)["id"])
        return ids

    def test_batch_is_delivered_and_nothing_dead_lettered(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url,
                                    mapping={"batch": {"size": 3, "window": "60s"}}))
        ids = self.post_batch(s)
        wait_until(lambda: fn.invocations(), what="the batch's invocation")
        invs = fn.invocations()
        self.assertEqual(len(invs), 1, invs)
        # sluice-fn answers 400 to a payload that is not JSON: "ok" means it parsed.
        self.assertEqual(invs[0]["outcome"], "ok", invs)
        self.assertEqual(invs[0]["ids"], ids)
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="the batch acknowledged")
        self.assertEqual(s.dlq_entries(), [])
        self.assertEqual(s.metrics().get('sluice_records_delivered_total{mapping="%s"}' % M), 3)

    def test_function_sees_valid_json_and_the_mark(self):
        cap = Capture()
        self.addCleanup(cap.stop)
        s = self.sluice(base_config(self.workdir, cap.url,
                                    mapping={"batch": {"size": 3, "window": "60s"}}))
        ids = self.post_batch(s)
        wait_until(lambda: len(cap.payloads) >= 1, what="the batch's payload")
        recs = cap.records()
        self.assertEqual([r["id"] for r in recs], ids)
        bad = recs[1]
        self.assertIs(bad["invalidUtf8Replaced"], True)
        self.assertEqual(bad["query"], "source=\ufffd\ufffd&x=1")
        self.assertEqual(bad["headers"]["x-request-id"], "id-\ufffd\ufffd")
        self.assertEqual(bad["body"], '{"n": 1}')
        for clean in (recs[0], recs[2]):
            self.assertNotIn("invalidUtf8Replaced", clean)
        self.assertEqual(recs[0]["headers"]["x-request-id"], "clean-1")
        self.assertEqual(recs[0]["query"], "ok=1")


class DemoFunction(SluiceTest):
    def test_refuses_payloads_that_are_not_events(self):
        fn = self.fn()
        for body in ("{not json", '{"records": []}', '"Records"', b"[\xff]"):
            st, h, data = http_request(fn.port, "POST", "/invoke", body,
                                       {"Content-Type": "application/json"})
            self.assertEqual(st, 400, (body, data))
            self.assertTrue(h.get("content-type", "").startswith("application/json"))
            self.assertEqual(json_body(data)["error"], "invalid_payload")
        for body in ('{"Records": []}', "[]", '{"Records": [{"id": "a", "body": "x"}]}'):
            st, _, data = http_request(fn.port, "POST", "/invoke", body)
            self.assertEqual(st, 200, (body, data))
        outcomes = [i["outcome"] for i in fn.invocations()]
        self.assertEqual(outcomes, ["invalid"] * 4 + ["ok"] * 3)


class PushListener(SluiceTest):
    def start(self, source=None, server=None):
        self.fn_ = self.fn()
        cfg = base_config(self.workdir, self.fn_.url, source=source)
        cfg["server"].update(server or {})
        return self.sluice(cfg)

    def assertJsonError(self, status, hdrs, body, want, code):
        self.assertEqual(status, want, body)
        self.assertTrue(hdrs.get("content-type", "").startswith("application/json"), hdrs)
        self.assertEqual(json.loads(body)["error"], code)

    def test_transfer_codings_other_than_chunked_get_501(self):
        s = self.start()
        for te in (b"gzip", b"gzip, chunked"):
            with socket.create_connection(("127.0.0.1", s.push_port), timeout=30) as c:
                c.sendall(b"POST /hooks/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                          b"\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                st, h, body = read_response(c)
                self.assertJsonError(st, h, body, 501, "unsupported_transfer_encoding")
                self.assertEqual(h.get("connection"), "close")
        # Plain chunked is still taken.
        with socket.create_connection(("127.0.0.1", s.push_port), timeout=30) as c:
            c.sendall(b"POST /hooks/orders HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                      b"\r\n5\r\nhello\r\n0\r\n\r\n")
            st, _, body = read_response(c)
            self.assertEqual(st, 202, body)
        self.assertEqual(s.metrics().get('sluice_records_received_total{mapping="%s"}' % M), 1)

    def test_wrong_token_gets_401_before_the_body(self):
        s = self.start(source={"token": "s3cret-token"})
        for auth in (b"Authorization: Bearer wrong\r\n", b""):
            with socket.create_connection(("127.0.0.1", s.push_port), timeout=30) as c:
                # Headers of a 1 MiB body, and not a byte of the body.
                c.sendall(b"POST /hooks/orders HTTP/1.1\r\nHost: x\r\n" + auth +
                          b"Content-Length: 1048576\r\n\r\n")
                st, h, body = read_response(c)
                self.assertJsonError(st, h, body, 401, "unauthorized")
                self.assertEqual(h.get("www-authenticate"), "Bearer")
                self.assertEqual(h.get("connection"), "close")
                self.assertTrue(closed_by_server(c))
        # The right token: the server waits for the body, then stores it.
        with socket.create_connection(("127.0.0.1", s.push_port), timeout=30) as c:
            c.sendall(b"POST /hooks/orders HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Authorization: Bearer s3cret-token\r\nContent-Length: 2\r\n\r\n")
            st, _, _ = read_response(c)
            self.assertEqual(st, 100)
            c.sendall(b"{}")
            st, _, body = read_response(c)
            self.assertEqual(st, 202, body)

    def test_503_beyond_max_buffered_bytes(self):
        s = self.start(server={"max_body_bytes": "32KiB", "max_buffered_bytes": "64KiB"})
        size = 32 * 1024

        def start_upload():
            """Sends the headers of a 32 KiB body; returns the socket and the server's answer to
            them: 100 once the body is counted, or a final refusal."""
            c = socket.create_connection(("127.0.0.1", s.push_port), timeout=30)
            c.sendall(b"POST /hooks/orders HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % size)
            return c, read_response(c)

        # Two slow uploads hold the whole budget: each got its 100 Continue, so it is counted.
        slow = []
        for _ in range(2):
            c, (st, _, _) = start_upload()
            self.addCleanup(c.close)
            self.assertEqual(st, 100)
            c.sendall(b"x" * 10)
            slow.append(c)
        c, (st, h, body) = start_upload()
        with c:
            self.assertJsonError(st, h, body, 503, "server_busy")
            self.assertEqual(h.get("retry-after"), "1")
            self.assertTrue(closed_by_server(c))
        # One upload finishes: its bytes are given back, and a new upload fits.
        slow[0].sendall(b"y" * (size - 10))
        st, _, body = read_response(slow[0])
        self.assertEqual(st, 202, body)
        c, (st, _, _) = start_upload()
        with c:
            self.assertEqual(st, 100)
            c.sendall(b"z" * size)
            st, _, body = read_response(c)
            self.assertEqual(st, 202, body)
        wait_until(lambda: len(self.fn_.delivered_ids()) == 2, what="both stored uploads delivered")


if __name__ == "__main__":
    main()
