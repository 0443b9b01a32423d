"""An AWS Lambda Invoke API server for tests (standard library only).

Implements POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=...] the way the
Invoke API documents it (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html): it
checks each request's Signature Version 4 by recomputing it independently (tests/lib/sigv4.py)
and answers 403 InvalidSignatureException when it does not match; then runs the function:
  - a record whose body is JSON with "fail": true makes the invocation a function error
    (200, X-Amz-Function-Error: Unhandled, {"errorType": "PoisonError", ...});
  - "fail": "partial" reports that record in batchItemFailures;
  - else 200 with a null body.
A script of steps answers first (like sluice-fn's): {"status": 429, "retryAfter": 0,
"count": 3} gives a TooManyRequestsException with Retry-After; {"status": 500, ...} a
ServiceException. Every invocation is logged (invocations()), with the raw request for
cross-checks.
"""
import hashlib
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import sigv4  # noqa: E402

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"

ERROR_TYPES = {
    400: "InvalidRequestContentException",
    404: "ResourceNotFoundException",
    409: "ResourceConflictException",
    429: "TooManyRequestsException",
    500: "ServiceException",
    502: "EC2ThrottledException",
    503: "ServiceException",
}


class LambdaServer:
    """functions: {name: {qualifier: executed version}}; the name may also be given as an ARN
    arn:aws:lambda:<region>:<account>:function:<name> in requests."""

    def __init__(self, secrets, region="us-east-1", functions=None, script=None,
                 broken_versions=()):
        """broken_versions: versions whose every invocation is a function error (a bad
        deploy)."""
        self.secrets = dict(secrets)
        self.broken_versions = set(broken_versions)
        self.region = region
        self.functions = functions or {"fn": {"$LATEST": "$LATEST"}}
        self.lock = threading.Lock()
        self.script = list(script or [])
        self.log = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                status, headers, out = owner._handle(self.path, list(self.headers.items()), body)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.endpoint = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    # ---- control -------------------------------------------------------------------------

    def set_script(self, steps):
        with self.lock:
            self.script = list(steps)

    def invocations(self):
        with self.lock:
            return list(self.log)

    def delivered_ids(self):
        out = []
        for inv in self.invocations():
            if inv["outcome"] == "ok":
                out.extend(inv["ids"])
            elif inv["outcome"] == "partial":
                out.extend(i for i in inv["ids"] if i not in inv["failed"])
        return out

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    # ---- the API ---------------------------------------------------------------------------

    def _error(self, status, etype, message, extra=None):
        headers = {"Content-Type": "application/json", "X-Amzn-ErrorType": etype,
                   "X-Amzn-RequestId": "req-%d" % time.monotonic_ns()}
        headers.update(extra or {})
        return status, headers, json.dumps({"Type": "User", "message": message}).encode()

    def _function(self, name):
        """The function a path segment names (a name or an ARN), or None."""
        if name.startswith("arn:"):
            parts = name.split(":")
            if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
                return None
            name = parts[6]
        return name if name in self.functions else None

    def _handle(self, raw_path, headers, body):
        entry = {"time": int(time.time() * 1000), "path": raw_path, "status": 0,
                 "outcome": "", "ids": [], "failed": [], "version": None,
                 "raw": {"method": "POST", "path": raw_path, "headers": headers,
                         "body": body.decode("utf-8", "replace")}}
        status, hdrs, out = self._respond(raw_path, headers, body, entry)
        entry["status"] = status
        with self.lock:
            self.log.append(entry)
        return status, hdrs, out

    def _respond(self, raw_path, headers, body, entry):
        path, _, query = raw_path.partition("?")
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            entry["outcome"] = "unknown-operation"
            return self._error(404, "UnknownOperationException", "Unknown operation " + path)
        ok, why = sigv4.verify("POST", raw_path, headers, body, self.secrets)
        entry["signature_ok"] = ok
        if not ok:
            entry["outcome"] = "bad-signature"
            return self._error(403, why.split(":")[0], why.split(": ", 1)[1])
        if why != self.region:
            entry["outcome"] = "bad-region"
            return self._error(403, "InvalidSignatureException",
                               "Credential should be scoped to a valid region.")
        h = {k.lower(): v for k, v in headers}
        if h.get("x-amz-invocation-type", "RequestResponse") != "RequestResponse":
            entry["outcome"] = "bad-invocation-type"
            return self._error(400, "InvalidParameterValueException", "unexpected invocation type")
        name = urllib.parse.unquote(path[len(PREFIX):-len(SUFFIX)])
        entry["function"] = name
        fn = self._function(name)
        if fn is None:
            entry["outcome"] = "not-found"
            return self._error(404, "ResourceNotFoundException", "Function not found: " + name)
        qualifier = urllib.parse.parse_qs(query).get("Qualifier", ["$LATEST"])[0]
        entry["qualifier"] = qualifier
        version = self.functions[fn].get(qualifier)
        if version is None:
            entry["outcome"] = "not-found"
            return self._error(404, "ResourceNotFoundException",
                               "Function not found: %s:%s" % (name, qualifier))
        entry["version"] = version
        try:
            doc = json.loads(body)
            records = doc["Records"] if isinstance(doc, dict) else doc
        except (ValueError, KeyError, TypeError):
            entry["outcome"] = "bad-payload"
            return self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
        for r in records:
            entry["ids"].append(r.get("id"))
        with self.lock:
            step = None
            if self.script:
                step = self.script[0]
                step["count"] = step.get("count", 1) - 1
                if step["count"] <= 0:
                    self.script.pop(0)
        if step and step.get("status", 200) != 200:
            st = step["status"]
            entry["outcome"] = "throttled" if st == 429 else "error"
            extra = {}
            if "retryAfter" in step:
                extra["Retry-After"] = str(step["retryAfter"])
            return self._error(st, ERROR_TYPES.get(st, "ServiceException"),
                               "Rate Exceeded." if st == 429 else "scripted error", extra)
        base = {"Content-Type": "application/json", "X-Amz-Executed-Version": version}
        poison, partial = [], []
        for r in records:
            try:
                inner = json.loads(r.get("body", "null"))
            except ValueError:
                inner = None
            fail = inner.get("fail") if isinstance(inner, dict) else None
            if fail is True:
                poison.append(r.get("id"))
            elif fail == "partial":
                partial.append(r.get("id"))
        if version in self.broken_versions:
            poison = [r.get("id") for r in records]
        if poison:
            entry["outcome"] = "function-error"
            entry["failed"] = poison
            out = {"errorMessage": "a record asked to fail", "errorType": "PoisonError",
                   "stackTrace": ["  File \"/var/task/app.py\", line 1, in handler"],
                   "requestId": "req-%d" % time.monotonic_ns()}
            return 200, dict(base, **{"X-Amz-Function-Error": "Unhandled"}), json.dumps(out).encode()
        if partial:
            entry["outcome"] = "partial"
            entry["failed"] = partial
            out = {"batchItemFailures": [{"itemIdentifier": i} for i in partial]}
            return 200, base, json.dumps(out).encode()
        entry["outcome"] = "ok"
        return 200, base, b"null"
