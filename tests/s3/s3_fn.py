"""A function for the S3 tests: an HTTP server on loopback that keeps every payload sluice
sends it and answers 200, or with a partial batch response naming the records whose key is in
`fail_keys` (each once: a retry then succeeds), or with 500 to a batch holding a key in
`poison_keys` (until it is taken out)."""
import http.server
import json
import threading


class S3Fn:
    def __init__(self):
        self.lock = threading.Lock()
        self.payloads = []
        self.refused = []
        self.fail_keys = set()
        self.poison_keys = set()
        fn = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                event = json.loads(body)
                failures = []
                with fn.lock:
                    keys = {r["s3"]["object"]["key"] for r in event.get("Records", [])}
                    if keys & fn.poison_keys:
                        fn.refused.append(event)
                        self.send_response(500)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    fn.payloads.append(event)
                    for r in event.get("Records", []):
                        key = r["s3"]["object"]["key"]
                        if key in fn.fail_keys:
                            fn.fail_keys.discard(key)
                            failures.append({"itemIdentifier": r["s3"]["object"]["sequencer"]})
                out = json.dumps({"batchItemFailures": failures}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/invoke" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def records(self):
        """Every record of every invocation, in the order the function saw them."""
        with self.lock:
            return [r for p in self.payloads for r in p.get("Records", [])]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
