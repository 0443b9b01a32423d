"""The status page on the admin listener (GET /, /status.js, /status.css, /favicon.svg): served
from the binary without the admin token, under a strict Content-Security-Policy, while the API
the page calls still asks for the token. Real binary; no browser (test_status_page_browser.py
drives the page in Chromium)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, main  # noqa: E402

TOKEN = "page-test-token"
SRC_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "cli", "status_page")


class StatusPage(SluiceTest):
    def start(self, token=TOKEN):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url)
        if token:
            cfg["admin"]["token"] = token
        return self.sluice(cfg)

    def assert_page_headers(self, hdrs):
        csp = hdrs.get("content-security-policy", "")
        directives = [d.strip() for d in csp.split(";")]
        self.assertIn("default-src 'self'", directives)
        self.assertIn("frame-ancestors 'none'", directives)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        self.assertEqual(hdrs.get("x-content-type-options"), "nosniff")

    def test_page_and_assets_need_no_token_the_api_does(self):
        s = self.start()
        status, hdrs, body = s.admin("GET", "/")
        self.assertEqual(status, 200, body)
        self.assertEqual(hdrs["content-type"], "text/html; charset=utf-8")
        self.assert_page_headers(hdrs)
        html = body.decode("utf-8")
        # The very file in the repository, and nothing in it loads from elsewhere or inline.
        with open(os.path.join(SRC_DIR, "index.html"), encoding="utf-8") as f:
            self.assertEqual(html, f.read())
        self.assertIn('<script src="/status.js"', html)
        self.assertIn('href="/status.css"', html)
        self.assertNotIn("<script>", html)
        self.assertNotIn("<style", html)
        self.assertNotIn("http://", html.replace("http://www.w3.org", ""))
        self.assertNotIn("https://", html)

        for path, ctype, name in (("/status.js", "text/javascript; charset=utf-8", "status.js"),
                                  ("/status.css", "text/css; charset=utf-8", "status.css"),
                                  ("/favicon.svg", "image/svg+xml", "favicon.svg")):
            status, hdrs, body = s.admin("GET", path)
            self.assertEqual(status, 200, (path, body))
            self.assertEqual(hdrs["content-type"], ctype)
            self.assert_page_headers(hdrs)
            with open(os.path.join(SRC_DIR, name), "rb") as f:
                self.assertEqual(body, f.read(), path)
        # HEAD answers too (the router's GET routes do), without a body.
        status, hdrs, body = s.admin("HEAD", "/")
        self.assertEqual((status, body), (200, b""))

        # The data the page shows still needs the token.
        for path in ("/v1/mappings", "/metrics", "/v1/dlq"):
            status, hdrs, _ = s.admin("GET", path)
            self.assertEqual(status, 401, path)
            self.assertEqual(hdrs.get("www-authenticate"), "Bearer")
            status, _, _ = s.admin("GET", path, headers={"Authorization": "Bearer " + TOKEN})
            self.assertEqual(status, 200, path)
        status, _, _ = s.admin("POST", "/v1/mappings/orders-to-fn/disable")
        self.assertEqual(status, 401)
        # Only those exact paths are open: the rest of the tree still answers 404 or 401.
        self.assertEqual(s.admin("GET", "/status.jsx")[0], 404)
        self.assertEqual(s.admin("GET", "/index.html")[0], 404)
        self.assertEqual(s.admin("POST", "/")[0], 405)

    def test_without_a_token_the_page_is_the_same(self):
        s = self.start(token=None)
        status, hdrs, body = s.admin("GET", "/")
        self.assertEqual(status, 200)
        self.assert_page_headers(hdrs)
        self.assertEqual(s.admin("GET", "/v1/mappings")[0], 200)


if __name__ == "__main__":
    main()
