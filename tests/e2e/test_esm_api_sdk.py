"""The event-source-mapping API driven by the AWS SDK for JavaScript (@aws-sdk/client-lambda,
pinned in tests/esm/package.json, installed by scripts/install-deps): with admin.aws_credentials
set, the SDK's SigV4 signatures are verified; create, list (pages), get, update, disable,
enable, delete and the errors the SDK names (tests/esm/esm_sdk.js); a self-managed Kafka mapping
(SelfManagedEventSource and Topics, librdkafka's mock cluster) read with the ESM's UUID as its
consumer group. Real binary, real function.

Without Node.js or the npm packages this test fails and says what to install."""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SRC, SluiceTest, base_config, main, wait_until  # noqa: E402
from kafka_fixture import (KafkaFn, KafkaMock, committed, produce,  # noqa: E402
                           produced_keys, watermarks)

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
        kafka = KafkaMock(("events:2",), 1)
        self.addCleanup(kafka.stop)
        produce(kafka.bootstrap, "events", 20)
        kfn = KafkaFn()
        self.addCleanup(kfn.stop)
        cfg["functions"].append({"name": "kfn", "type": "http", "url": kfn.url})
        cfg["sources"].append({"name": "events", "type": "kafka",
                               "bootstrap_servers": kafka.bootstrap, "topics": ["events"],
                               "commit_interval": "200ms", "session_timeout": "6s"})
        cfg["admin"]["token"] = "not-used-by-the-esm-api-when-keys-are-set"
        cfg["admin"]["aws_credentials"] = [{"access_key_id": KEY_ID, "secret_access_key": SECRET}]
        s = self.sluice(cfg)
        p = subprocess.run(
            [node, os.path.join(ESM_DIR, "esm_sdk.js"), "http://127.0.0.1:%d" % s.admin_port,
             KEY_ID, SECRET, ARN % "a", ARN % "b", kafka.bootstrap, "events"],
            cwd=ESM_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())
        steps = {}
        for line in p.stdout.decode().splitlines():
            step = json.loads(line)
            steps[step["step"]] = step["value"]
        self.assertEqual(set(steps), {"create", "enabled", "list", "disabled", "enabled again",
                                      "duplicate", "unknown uuid", "bad batch size",
                                      "wrong secret", "deleted",
                                      "kafka without starting position", "kafka"})
        self.assertRegex(steps["kafka without starting position"]["message"],
                         r"^StartingPosition is required for kafka event sources")
        # Read with the ESM's UUID as consumer group: its commits reach the end of the topic.
        group = steps["kafka"]["uuid"]
        marks = {p: h for p, h in watermarks(kafka.bootstrap, "events").items() if h > 0}
        wait_until(lambda: all(committed(kafka.bootstrap, "events", group).get(p) == h
                               for p, h in marks.items()), timeout=60,
                   what="the ESM's group %s committed" % group)
        self.assertEqual(kfn.delivered_keys(), set(produced_keys(kafka.bootstrap, "events")))
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
