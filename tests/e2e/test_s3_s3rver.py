"""Object-store notifications from a real S3 server: tests/s3/forward.js runs s3rver (pinned in
tests/s3/package.json, installed by scripts/install-deps), puts and deletes objects through
@aws-sdk/client-s3 and forwards s3rver's events to sluice as MinIO's webhook target would. The
function gets one S3 record per object put or deleted, with the right key (S3's encoding),
size and eTag: delivered = puts + deletes, each object's events in order."""
import json
import os
import shutil
import subprocess
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "s3"))
from harness import SRC, SluiceTest, base_config, main, wait_until  # noqa: E402
from s3_fn import S3Fn  # noqa: E402

S3_DIR = os.path.join(SRC, "tests", "s3")
TOKEN = "s3rver-test-token"


class S3rverEndToEnd(SluiceTest):
    def setUp(self):
        super().setUp()
        missing = []
        if not shutil.which("node"):
            missing.append("node (apt: nodejs)")
        for pkg in ("s3rver", "@aws-sdk/client-s3"):
            if not os.path.isdir(os.path.join(S3_DIR, "node_modules", pkg)):
                missing.append("%s (cd tests/s3 && npm ci)" % pkg)
        if missing:
            self.fail("the s3rver test needs: %s; scripts/install-deps installs them"
                      % ", ".join(missing))

    def test_puts_and_deletes_reach_the_function(self):
        fn = S3Fn()
        self.addCleanup(fn.stop)
        s = self.sluice(base_config(
            self.workdir, fn.url,
            source={"name": "uploads", "type": "s3", "token": TOKEN, "lanes": 4},
            mapping={"name": "uploads-to-fn", "source": "uploads", "max_concurrency": 4,
                     "batch": {"size": 5, "window": "20ms"}}))
        out = subprocess.run(
            ["node", os.path.join(S3_DIR, "forward.js"),
             "--sluice", "http://127.0.0.1:%d/s3/uploads" % s.push_port, "--token", TOKEN,
             "--dir", os.path.join(self.workdir, "s3rver"), "--objects", "30"],
            capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stderr)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        did = report["did"]
        self.assertEqual(len(did), 45)  # 30 puts, 15 deletes
        self.assertEqual(report["forwarded"], len(did))
        wait_until(lambda: s.metrics().get('sluice_records_delivered_total{mapping="uploads-to-fn"}') == len(did)
                   and s.metrics().get('sluice_inflight_records{mapping="uploads-to-fn"}') == 0,
                   what="every event delivered and acked")
        got = fn.records()
        self.assertEqual(len(got), len(did), "delivered = objects put + deleted")
        for r in got:
            self.assertEqual(r["eventSource"], "aws:s3")
            self.assertEqual(r["s3"]["bucket"]["name"], "uploads")
        # Each object's events in the order s3rver made them, keys in S3's encoding.
        seen = {}
        for r in got:
            key = urllib.parse.unquote_plus(r["s3"]["object"]["key"])
            seen.setdefault(key, []).append(r)
        want = {}
        for d in did:
            want.setdefault(d["key"], []).append(d)
        self.assertEqual(sorted(seen), sorted(want))
        for key, evs in want.items():
            recs = seen[key]
            self.assertEqual([r["eventName"] for r in recs],
                             ["ObjectCreated:Put" if d["op"] == "put" else "ObjectRemoved:Delete"
                              for d in evs], key)
            put = recs[0]["s3"]["object"]
            self.assertEqual(put["size"], evs[0]["size"])
            self.assertEqual(put["eTag"], evs[0]["eTag"])
            self.assertEqual(put["key"], urllib.parse.quote_plus(key, safe="/~"))


if __name__ == "__main__":
    main()
