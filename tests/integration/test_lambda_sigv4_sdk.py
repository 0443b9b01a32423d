"""sluice's SigV4 signatures are the AWS SDK's: the requests the lambda function type sent to
the Invoke API fixture (an ARN with ':' in the path, a Qualifier, a session token, JSON bodies)
are signed again by the AWS SDK for JavaScript's signer (@smithy/signature-v4, pinned in
tests/aws/package.json, installed by scripts/install-deps) in tests/aws/sigv4_check.js, which
must produce the same Authorization values.

Without Node.js or the npm packages this test fails and says what to install."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SRC, SluiceTest, base_config, main, wait_until  # noqa: E402
from lambda_fixture import LambdaServer  # noqa: E402

AWS_DIR = os.path.join(SRC, "tests", "aws")
KEY_ID = "AKIDSDKCHECK"
SECRET = "sdk/Check+Secret0123456789abcdefEXAMPLE"
TOKEN = "IQoJb3JpZ2luX2VjSDKCHECK/token+=="


class SigV4AgainstSdk(SluiceTest):
    def prerequisites(self):
        node = shutil.which("node")
        missing = []
        if not node:
            missing.append("node (apt-get install nodejs)")
        if not os.path.isdir(os.path.join(AWS_DIR, "node_modules", "@smithy", "signature-v4")):
            missing.append("@smithy/signature-v4 (cd tests/aws && npm ci)")
        if missing:
            self.fail("this test needs: %s; scripts/install-deps installs them"
                      % ", ".join(missing))
        return node

    def test_same_signatures_as_the_sdk(self):
        node = self.prerequisites()
        srv = LambdaServer({KEY_ID: SECRET}, region="ap-southeast-2",
                           functions={"orders": {"$LATEST": "$LATEST", "blue-green": "7"}})
        self.addCleanup(srv.stop)
        cfg = base_config(self.workdir, "http://unused", mapping={
            "batch": {"size": 3, "window": "0s"}})
        cfg["functions"] = [{
            "name": "fn", "type": "lambda", "region": "ap-southeast-2",
            "function_name": "arn:aws:lambda:ap-southeast-2:123456789012:function:orders",
            "qualifier": "blue-green", "endpoint": srv.endpoint, "access_key_id": KEY_ID,
            "secret_access_key": SECRET, "session_token": TOKEN}]
        s = self.sluice(cfg)
        bodies = [{"n": 1}, {"text": "spaces  and\ttabs, unicode \u00e9\u4e2d, quotes \" ' and +/="},
                  [1, 2, 3], {"nested": {"a": [None, True, 1.5]}}, {"n": 5}, {"n": 6}, {"n": 7}]
        ids = self.post_many(s, len(bodies), make=lambda i: bodies[i])
        wait_until(lambda: set(srv.delivered_ids()) >= set(ids), what="every record delivered")
        invs = srv.invocations()
        self.assertTrue(all(i["signature_ok"] for i in invs))
        path = os.path.join(self.workdir, "requests.json")
        with open(path, "w") as f:
            json.dump({"credentials": {"accessKeyId": KEY_ID, "secretAccessKey": SECRET,
                                       "sessionToken": TOKEN},
                       "region": "ap-southeast-2", "service": "lambda",
                       "requests": [i["raw"] for i in invs]}, f)
        p = subprocess.run([node, os.path.join(AWS_DIR, "sigv4_check.js"), path], cwd=AWS_DIR,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode()
        sys.stderr.write(out)
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("%d of %d signatures as the SDK's" % (len(invs), len(invs)), out)


if __name__ == "__main__":
    main()
