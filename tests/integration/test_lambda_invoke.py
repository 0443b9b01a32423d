"""The lambda function type against an Invoke API server that checks every SigV4 signature
independently (tests/lib/lambda_fixture.py), with the real sluice binary. Failure paths count
records end to end: delivered + dead-lettered = produced."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, main, wait_until  # noqa: E402
from lambda_fixture import LambdaServer  # noqa: E402

M = "orders-to-fn"
KEY_ID = "AKIDSLUICETEST"
SECRET = "sluice/Test+Secret0123456789abcdefEXAMPLE"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE/session+token=="
ARN = "arn:aws:lambda:eu-west-1:123456789012:function:orders"


class LambdaInvoke(SluiceTest):
    def setUp(self):
        super().setUp()
        self._env = dict(os.environ)
        # Nothing from the machine: credentials come from what each test gives.
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                  "AWS_REGION", "AWS_DEFAULT_REGION"):
            os.environ.pop(k, None)
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(self.workdir, "no-such-file")

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self._env)
        super().tearDown()

    def lam(self, **kw):
        kw.setdefault("region", "eu-west-1")
        kw.setdefault("functions", {"orders": {"$LATEST": "$LATEST", "live": "3", "1": "1",
                                               "2": "2"}})
        srv = LambdaServer({KEY_ID: SECRET}, **kw)
        self.addCleanup(srv.stop)
        return srv

    def config(self, srv, function=None, mapping=None):
        cfg = base_config(self.workdir, "http://unused", mapping=mapping)
        fn = {"name": "fn", "type": "lambda", "function_name": ARN, "qualifier": "live",
              "region": "eu-west-1", "endpoint": srv.endpoint, "access_key_id": KEY_ID,
              "secret_access_key": SECRET, "session_token": TOKEN, "timeout": "5s"}
        fn.update(function or {})
        cfg["functions"] = [{k: v for k, v in fn.items() if v is not None}]
        return cfg

    def dlq_ids(self, s):
        return sorted(e["recordId"] for e in s.dlq_entries())

    def settle(self, s, srv, produced, dead_expected):
        """Every produced record delivered or dead-lettered, none both, nothing in flight."""
        def done():
            return (set(srv.delivered_ids()) | set(self.dlq_ids(s))) >= set(produced)
        wait_until(done, what="every record delivered or dead-lettered")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="%s"}' % M) == 0,
                   what="nothing in flight")
        delivered, dead = set(srv.delivered_ids()), set(self.dlq_ids(s))
        self.assertEqual(len(delivered) + len(dead), len(produced))
        self.assertEqual(delivered | dead, set(produced))
        self.assertEqual(dead, set(dead_expected))
        return delivered, dead

    def test_signed_invocations_reach_the_qualifier(self):
        srv = self.lam()
        s = self.sluice(self.config(srv, mapping={"batch": {"size": 5, "window": "50ms"}}))
        ids = self.post_many(s, 20)
        self.settle(s, srv, ids, dead_expected=[])
        invs = srv.invocations()
        self.assertTrue(invs)
        for inv in invs:
            self.assertTrue(inv["signature_ok"], inv)
            # The ARN's ':' travel percent-encoded, the qualifier in the query.
            self.assertTrue(inv["path"].startswith(
                "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction"
                "%3Aorders/invocations?Qualifier=live"), inv["path"])
            h = {k.lower(): v for k, v in inv["raw"]["headers"]}
            self.assertEqual(h["x-amz-invocation-type"], "RequestResponse")
            self.assertEqual(h["x-amz-security-token"], TOKEN)
            self.assertEqual(inv["version"], "3")
        # X-Amz-Executed-Version is in the log and the per-qualifier metrics count every call.
        self.assertTrue(s.out.wait_for(r"orders:live \(version 3\): ok"))
        m = s.metrics()
        key = 'sluice_lambda_invocations_total{function="fn",qualifier="live",outcome="ok"}'
        self.assertEqual(m[key], len(invs))
        self.assertNotIn(SECRET, s.out.text())
        self.assertNotIn(TOKEN, s.out.text())

    def test_function_errors_and_throttles_counted_end_to_end(self):
        # Three throttles first (429 + Retry-After: 0), then poison records fail as function
        # errors until their attempts are used; throttles use none.
        srv = self.lam(script=[{"status": 429, "retryAfter": 0, "count": 3}])
        s = self.sluice(self.config(srv, mapping={
            "batch": {"size": 1, "window": "0s"},
            "retry": {"max_attempts": 2, "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 12, make=lambda i: {"n": i, "fail": i % 4 == 1})
        poison = [rid for i, rid in enumerate(ids) if i % 4 == 1]
        self.settle(s, srv, ids, dead_expected=poison)
        invs = srv.invocations()
        self.assertEqual(sum(1 for i in invs if i["status"] == 429), 3)
        for rid in poison:
            fe = [i for i in invs if rid in i["ids"] and i["outcome"] == "function-error"]
            self.assertEqual(len(fe), 2, "max_attempts function errors per poison record")
        counted = 0
        for e in s.dlq_entries():
            entry = json.loads(s.cli("dlq", "show", e["id"]).stdout.decode())
            self.assertEqual(entry["condition"], "RetryAttemptsExhausted")
            self.assertEqual(entry["countedAttempts"], 2)
            counted += entry["uncountedAttempts"]
            last = entry["attempts"][-1]
            self.assertEqual(last["functionError"], "PoisonError", last)
            self.assertIn("Unhandled", last["error"])
        m = s.metrics()
        self.assertEqual(m['sluice_records_dead_lettered_total{mapping="%s"}' % M], len(poison))
        prefix = 'sluice_lambda_invocations_total{function="fn",qualifier="live",outcome='
        self.assertEqual(m[prefix + '"throttled"}'], 3)
        self.assertEqual(m[prefix + '"function_error"}'], 2 * len(poison))

    def test_partial_batch_response(self):
        srv = self.lam()
        s = self.sluice(self.config(srv, mapping={
            "batch": {"size": 6, "window": "60s"},
            "retry": {"max_attempts": 2, "report_batch_item_failures": True,
                      "backoff": {"min": "10ms", "max": "20ms"}}}))
        ids = self.post_many(s, 6, make=lambda i: {"n": i, "fail": "partial" if i == 2 else False})
        self.settle(s, srv, ids, dead_expected=[ids[2]])
        invs = srv.invocations()
        self.assertEqual(invs[0]["outcome"], "partial")
        self.assertEqual(len(invs[0]["ids"]), 6)

    def test_wrong_secret_is_a_clear_403(self):
        srv = self.lam()
        wrong = "wrong/Secret0123456789abcdefEXAMPLE"
        s = self.sluice(self.config(srv, function={"secret_access_key": wrong},
                                    mapping={"batch": {"size": 1, "window": "0s"}}))
        ids = self.post_many(s, 2)
        self.settle(s, srv, ids, dead_expected=ids)
        self.assertTrue(all(i["outcome"] == "bad-signature" for i in srv.invocations()))
        self.assertEqual(len(srv.invocations()), 2, "a 403 is terminal: no retries")
        entry = json.loads(s.cli("dlq", "show", s.dlq_entries()[0]["id"]).stdout.decode())
        self.assertEqual(entry["condition"], "TerminalError")
        err = entry["attempts"][-1]["error"]
        self.assertIn("HTTP 403 InvalidSignatureException: The request signature we calculated",
                      err)
        self.assertTrue(s.out.wait_for(r"HTTP 403 InvalidSignatureException"))
        text = s.out.text() + json.dumps(entry)
        self.assertNotIn(wrong, text)
        self.assertNotIn(TOKEN, text)

    def test_credentials_from_a_profile_and_region_from_the_environment(self):
        srv = self.lam()
        path = os.path.join(self.workdir, "credentials")
        with open(path, "w") as f:
            f.write("[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = x\n\n"
                    "# the one used\n[ci]\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n" % (KEY_ID, SECRET))
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = path
        os.environ["AWS_PROFILE"] = "ci"
        os.environ["AWS_REGION"] = "eu-west-1"
        # Environment keys are ignored when a profile is configured.
        os.environ["AWS_ACCESS_KEY_ID"] = "AKIDENV"
        os.environ["AWS_SECRET_ACCESS_KEY"] = "env-secret"
        s = self.sluice(self.config(srv, function={
            "access_key_id": None, "secret_access_key": None, "session_token": None,
            "region": None, "profile": "ci", "function_name": "orders", "qualifier": None}))
        self.assertTrue(s.out.wait_for(r"credentials from profile ci of "))
        ids = self.post_many(s, 3)
        self.settle(s, srv, ids, dead_expected=[])
        inv = srv.invocations()[0]
        self.assertTrue(inv["signature_ok"])
        self.assertEqual(inv["path"], "/2015-03-31/functions/orders/invocations")
        self.assertEqual(inv["version"], "$LATEST")

    def test_weighted_routing_splits_and_reroutes(self):
        srv = self.lam()
        s = self.sluice(self.config(srv, function={
            "qualifier": None,
            "routing": [{"qualifier": "1", "weight": 0.75}, {"qualifier": "2", "weight": 0.25}]},
            mapping={"batch": {"size": 1, "window": "0s"}}))
        ids = self.post_many(s, 200)
        self.settle(s, srv, ids, dead_expected=[])
        versions = [i["version"] for i in srv.invocations()]
        n2 = versions.count("2")
        self.assertEqual(versions.count("1") + n2, 200)
        # Binomial(200, 0.25): mean 50, sd 6.1; 6 sd either way.
        self.assertTrue(13 <= n2 <= 87, n2)
        m = s.metrics()
        for q, n in (("1", 200 - n2), ("2", n2)):
            key = 'sluice_lambda_invocations_total{function="fn",qualifier="%s",outcome="ok"}' % q
            self.assertEqual(m[key], n)

    def test_each_retry_is_routed_again(self):
        # Version 2 is a bad deploy: every call to it fails. Retries choose again by weight, so
        # every record ends up delivered by version 1 (20 attempts: a record would have to draw
        # version 2 twenty times in a row to be dead-lettered, p = 2^-20).
        srv = self.lam(broken_versions={"2"})
        s = self.sluice(self.config(srv, function={
            "qualifier": None,
            "routing": [{"qualifier": "1", "weight": 0.5}, {"qualifier": "2", "weight": 0.5}]},
            mapping={"batch": {"size": 1, "window": "0s"},
                     "retry": {"max_attempts": 20, "backoff": {"min": "1ms", "max": "2ms"}}}))
        ids = self.post_many(s, 30)
        self.settle(s, srv, ids, dead_expected=[])
        invs = srv.invocations()
        self.assertTrue(all(i["version"] == "1" for i in invs if i["outcome"] == "ok"))
        rerouted = [rid for rid in ids
                    if [i["version"] for i in invs if rid in i["ids"]][:1] == ["2"]]
        self.assertTrue(rerouted, "some record was first sent to version 2")
        for rid in rerouted:
            self.assertEqual([i["version"] for i in invs if rid in i["ids"]][-1], "1")
        m = s.metrics()
        key = 'sluice_lambda_invocations_total{function="fn",qualifier="2",outcome="function_error"}'
        self.assertEqual(m[key], sum(1 for i in invs if i["version"] == "2"))

    def test_unknown_function_is_terminal(self):
        srv = self.lam()
        s = self.sluice(self.config(srv, function={"function_name": "nope", "qualifier": None},
                                    mapping={"batch": {"size": 1, "window": "0s"}}))
        ids = self.post_many(s, 1)
        self.settle(s, srv, ids, dead_expected=ids)
        entry = json.loads(s.cli("dlq", "show", s.dlq_entries()[0]["id"]).stdout.decode())
        self.assertIn("HTTP 404 ResourceNotFoundException: Function not found: nope",
                      entry["attempts"][-1]["error"])


if __name__ == "__main__":
    main()
