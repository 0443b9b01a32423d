"""The status page in a real browser: Debian's Chromium, driven by puppeteer-core (pinned in
tests/browser/package.json, installed by scripts/install-deps). A function that fails
dead-letters one record; tests/browser/status_page.test.js then loads the page (no console
errors, nothing fetched from elsewhere), gives the token, filters the DLQ browser, purges one
record, fixes the function and redrives the other from the page, and disables the mapping from
the page.
The screenshot is kept under the build directory (test-output/status_page.png).

Without Chromium, Node.js or the npm packages this test fails and says what to install: it never
passes without a browser."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, SRC, SluiceTest, base_config, json_body, main, wait_until  # noqa: E402

TOKEN = "browser-test-token"
MAPPING = "orders-to-fn"
BROWSER_DIR = os.path.join(SRC, "tests", "browser")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class StatusPageBrowser(SluiceTest):
    def prerequisites(self):
        node = shutil.which("node")
        missing = []
        if not node:
            missing.append("node (apt-get install nodejs)")
        if not os.access(CHROMIUM, os.X_OK):
            missing.append("%s (apt-get install chromium)" % CHROMIUM)
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "puppeteer-core")):
            missing.append("puppeteer-core (cd tests/browser && npm ci)")
        if missing:
            self.fail("the browser test needs: %s; scripts/install-deps installs them"
                      % ", ".join(missing))
        return node

    def test_page_in_chromium(self):
        node = self.prerequisites()
        fn = self.fn(script=[{"status": 500, "count": 1000000}])
        cfg = base_config(self.workdir, fn.url, mapping={"retry": {"max_attempts": 1}})
        cfg["admin"]["token"] = TOKEN
        s = self.sluice(cfg)
        auth = {"Authorization": "Bearer " + TOKEN}
        record, doomed = self.post_many(s, 2, make=lambda i: {"from": "browser", "n": i})
        wait_until(lambda: s.metrics(headers=auth).get(
            'sluice_records_dead_lettered_total{mapping="%s"}' % MAPPING) == 2,
            what="both records dead-lettered")

        shot = os.path.join(self.workdir, "status_page.png")
        env = dict(os.environ, SLUICE_ADMIN_URL="http://127.0.0.1:%d" % s.admin_port,
                   SLUICE_TOKEN=TOKEN, SLUICE_MAPPING=MAPPING, SLUICE_RECORD_ID=record,
                   SLUICE_PURGE_ID=doomed,
                   SLUICE_FN_URL="http://127.0.0.1:%d" % fn.port, SLUICE_SCREENSHOT=shot,
                   CHROMIUM=CHROMIUM)
        p = subprocess.run([node, os.path.join(BROWSER_DIR, "status_page.test.js")], env=env,
                           cwd=BROWSER_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=180)
        out = p.stdout.decode("utf-8", "replace")
        sys.stderr.write(out)
        self.assertEqual(p.returncode, 0, out)
        self.assertTrue(os.path.getsize(shot) > 0)
        kept = os.path.join(BUILD, "test-output", "status_page.png")
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        shutil.copyfile(shot, kept)
        sys.stderr.write("screenshot: %s\n" % kept)

        # What the page did, seen from outside: the record reached the fixed function, the DLQ
        # is empty, and the mapping is disabled.
        self.assertEqual(fn.delivered_ids(), [record])
        status, _, data = s.admin("GET", "/v1/dlq", headers=auth)
        self.assertEqual(json_body(data)["entries"], [])
        status, _, data = s.admin("GET", "/v1/mappings/" + MAPPING, headers=auth)
        self.assertEqual(json_body(data)["State"], "Disabled")


if __name__ == "__main__":
    main()
