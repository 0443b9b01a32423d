"""The event-source-mapping API driven by the AWS SDK for JavaScript (@aws-sdk/client-lambda,
pinned in tests/esm/package.json, installed by scripts/install-deps): with admin.aws_credentials
set, the SDK's SigV4 signatures are verified; create, list (pages), get, update, disable,
enable, delete and the errors the SDK names (tests/esm/esm_sdk.js). Records flow to the
function while the mapping is enabled. Real binary, real function.

Without Node.js or the npm packages this test fails and says what to install."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SRC, SluiceTest, base_config, main  # noqa: E402

ESM_DIR = os.path.join(SRC, "tests", "esm")
KEY_ID = "AKIDESMCHECK"
SECRET = "esm/Check+Secret0123456789abcdefEXAMPLE"
ARN = "arn:sluice:http:local:000000000000:source/%s"


class EsmApiSdk(SluiceTest):
    def prerequisites(self):
        node = shutil.which("node")
        missing = []
        if not node:
            missing.append("node (apt-get install nodejs)")
        if not os.path.isdir(os.path.join(ESM_DIR, "node_modules", "@aws-sdk", "client-lambda")):
            missing.append("@aws-sdk/client-lambda (cd tests/esm && npm ci)")
        if missing:
            self.fail("this test needs: %s; scripts/install-deps installs them"
                      % ", ".join(missing))
        return node

    def test_the_sdk_sequence(self):
        node = self.prerequisites()
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        cfg["sources"] += [{"name": "a", "type": "http"}, {"name": "b", "type": "http"}]
        cfg["admin"]["token"] = "not-used-by-the-esm-api-when-keys-are-set"
        cfg["admin"]["aws_credentials"] = [{"access_key_id": KEY_ID, "secret_access_key": SECRET}]
        s = self.sluice(cfg)
        p = subprocess.run(
            [node, os.path.join(ESM_DIR, "esm_sdk.js"), "http://127.0.0.1:%d" % s.admin_port,
             KEY_ID, SECRET, ARN % "a", ARN % "b"],
            cwd=ESM_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        steps = {}
        for line in p.stdout.decode().splitlines():
            step = json.loads(line)
            steps[step["step"]] = step["value"]
        self.assertEqual(set(steps), {"create", "enabled", "list", "disabled", "enabled again",
                                      "duplicate", "unknown uuid", "bad batch size",
                                      "wrong secret", "deleted"})
        self.assertEqual(steps["duplicate"]["status"], 409)
        self.assertRegex(steps["duplicate"]["message"],
                         r"provided mapping already exists\. Please update or delete the existing "
                         r"mapping with UUID %s$" % steps["create"]["uuid"])
        self.assertEqual(steps["unknown uuid"]["status"], 404)
        self.assertEqual(steps["bad batch size"]["status"], 400)
        self.assertEqual(steps["wrong secret"]["status"], 403)
        # Unsigned requests are refused, the token does not open the ESM API either.
        status, hdrs, _ = s.admin("GET", "/2015-03-31/event-source-mappings",
                                  headers={"Authorization": "Bearer " + cfg["admin"]["token"]})
        self.assertEqual((status, hdrs.get("x-amzn-errortype")),
                         (403, "MissingAuthenticationTokenException"))


if __name__ == "__main__":
    main()
