"""Signed webhooks and dedupe by delivery id (docs/WEBHOOKS.md), against the real binary: each
scheme accepts a valid delivery and refuses a bad signature, a missing header and a stale
timestamp with 401 and nothing stored; key rotation; a redelivery within the window is answered
202 with the first delivery's id and reaches the function once, also after a restart and when
the copies arrive at the same time; secrets never appear in the log, /metrics, the admin API or
`sluice dlq` output; config mistakes name the key path and line."""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (SLUICE, SluiceTest, base_config, json_body, main, to_yaml,  # noqa: E402
                     wait_until)

GH_SECRET = "gh-secret-Zq81xVb"
STRIPE_SECRET = "whsec_stripeSecretK3y9"
SW_KEY_OLD = b"old-standard-webhooks-key-24"
SW_KEY_NEW = b"new-standard-webhooks-key-99"
HMAC_SECRET = "hmac-secret-Jw0Pq"
SECRETS = [GH_SECRET, STRIPE_SECRET, HMAC_SECRET,
           "whsec_" + base64.b64encode(SW_KEY_OLD).decode(),
           "whsec_" + base64.b64encode(SW_KEY_NEW).decode()]


def hexmac(key, msg):
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def github(body, delivery, secret=GH_SECRET):
    return {"Content-Type": "application/json", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": "sha256=" + hexmac(secret.encode(), body)}


def stripe(body, t=None, secret=STRIPE_SECRET):
    t = int(time.time()) if t is None else t
    sig = hexmac(secret.encode(), b"%d." % t + body)
    return {"Content-Type": "application/json", "Stripe-Signature": "t=%d,v1=%s" % (t, sig)}


def standard(body, msg_id, key, ts=None):
    ts = int(time.time()) if ts is None else ts
    mac = hmac.new(key, b"%s.%d." % (msg_id.encode(), ts) + body, hashlib.sha256).digest()
    return {"Content-Type": "application/json", "webhook-id": msg_id,
            "webhook-timestamp": str(ts), "webhook-signature": "v1," + base64.b64encode(mac).decode()}


def hooks_config(workdir, fn_url, mapping=None):
    cfg = base_config(workdir, fn_url, mapping=mapping)
    cfg["sources"] = [
        {"name": "gh", "type": "http", "verify": {"type": "github", "secret": GH_SECRET}},
        {"name": "st", "type": "http", "verify": {"type": "stripe", "secret": STRIPE_SECRET}},
        {"name": "sw", "type": "http", "verify": {"type": "standard-webhooks",
                                                  "secrets": SECRETS[3:5]}},
        {"name": "hm", "type": "http", "dedupe_header": "X-Delivery",
         "verify": {"type": "hmac-sha256", "secret": HMAC_SECRET, "header": "X-Signature",
                    "encoding": "base64", "prefix": "sha256="}},
    ]
    m = cfg["mappings"][0]
    cfg["mappings"] = [dict(m, name="%s-to-fn" % s["name"], source=s["name"])
                       for s in cfg["sources"]]
    return cfg


class WebhookVerify(SluiceTest):
    def post_ok(self, s, hook, body, headers):
        status, _, data = s.post(hook, body, headers)
        self.assertEqual(status, 202, data)
        return json_body(data)["id"]

    def refused(self, s, hook, body, headers, reason):
        status, _, data = s.post(hook, body, headers)
        self.assertEqual(status, 401, data)
        self.assertEqual(json_body(data)["error"], reason)

    def accepted(self, s, hook):
        return s.metrics().get('sluice_webhook_accepted_total{source="%s"}' % hook, 0)

    def test_each_scheme_accepts_valid_and_refuses_bad(self):
        fn = self.fn()
        s = self.sluice(hooks_config(self.workdir, fn.url))
        now = int(time.time())
        ids = []
        # GitHub.
        b = b'{"action":"opened"}'
        ids.append(self.post_ok(s, "gh", b, github(b, "d-1")))
        self.refused(s, "gh", b, github(b, "d-2", secret="wrong"), "signature_mismatch")
        self.refused(s, "gh", b + b" ", github(b, "d-3"), "signature_mismatch")
        h = github(b, "d-4")
        del h["X-Hub-Signature-256"]
        self.refused(s, "gh", b, h, "signature_missing")
        h["X-Hub-Signature-256"] = "sha1=abc"
        self.refused(s, "gh", b, h, "signature_malformed")
        # Stripe.
        b = b'{"id":"evt_1","type":"charge.succeeded"}'
        ids.append(self.post_ok(s, "st", b, stripe(b)))
        self.refused(s, "st", b, stripe(b, t=now - 400), "timestamp_outside_tolerance")
        self.refused(s, "st", b, stripe(b, secret="whsec_other"), "signature_mismatch")
        self.refused(s, "st", b, {"Content-Type": "application/json"}, "signature_missing")
        self.refused(s, "st", b, {"Stripe-Signature": "v1=zz"}, "signature_malformed")
        many = "t=%d" % now + ",v1=" + "0" * 64 * 1 + (",v1=" + "0" * 64) * 8
        self.refused(s, "st", b, {"Stripe-Signature": many}, "too_many_signatures")
        # Standard Webhooks, with two secrets: either one signs.
        b = b'{"type":"invoice.paid"}'
        ids.append(self.post_ok(s, "sw", b, standard(b, "msg_1", SW_KEY_NEW)))
        ids.append(self.post_ok(s, "sw", b, standard(b, "msg_2", SW_KEY_OLD)))
        self.refused(s, "sw", b, standard(b, "msg_3", b"some-other-key-of-24byte"),
                     "signature_mismatch")
        self.refused(s, "sw", b, standard(b, "msg_4", SW_KEY_NEW, ts=now - 400),
                     "timestamp_outside_tolerance")
        self.refused(s, "sw", b, standard(b, "msg_5", SW_KEY_NEW, ts=now + 400),
                     "timestamp_outside_tolerance")
        h = standard(b, "msg_6", SW_KEY_NEW)
        del h["webhook-timestamp"]
        self.refused(s, "sw", b, h, "signature_missing")
        # hmac-sha256 in base64 under a prefix.
        b = b"plain text body"
        mac = base64.b64encode(hmac.new(HMAC_SECRET.encode(), b, hashlib.sha256).digest())
        ids.append(self.post_ok(s, "hm", b, {"X-Signature": "sha256=" + mac.decode()}))
        self.refused(s, "hm", b, {"X-Signature": mac.decode()}, "signature_malformed")
        self.refused(s, "hm", b + b"!", {"X-Signature": "sha256=" + mac.decode()},
                     "signature_mismatch")
        self.refused(s, "hm", b, {}, "signature_missing")

        # Only the valid deliveries were stored and reach the function.
        wait_until(lambda: len(fn.delivered_ids()) >= len(ids), what="the valid deliveries")
        self.assertEqual(sorted(fn.delivered_ids()), sorted(ids))
        self.assertEqual(sum(self.accepted(s, h) for h in ("gh", "st", "sw", "hm")), len(ids))
        self.assertEqual(s.metrics()['sluice_webhook_rejected_total{source="gh"}'], 4)
        # Each stored push is deleted from the spool once delivered.
        wait_until(lambda: s.metrics()['sluice_spool_depth'] == 0, what="an empty spool")

    def test_missing_signature_is_refused_before_the_body(self):
        fn = self.fn()
        s = self.sluice(hooks_config(self.workdir, fn.url))
        for hook, headers in (("gh", b""), ("sw", b"webhook-id: m\r\nwebhook-timestamp: 1\r\n"),
                              ("hm", b"X-Delivery: 1\r\n")):
            with socket.create_connection(("127.0.0.1", s.push_port), timeout=30) as c:
                # Headers of a 1 MiB body, and not a byte of the body: answered all the same,
                # and the connection closed (the server never reads the body).
                c.sendall(b"POST /hooks/%s HTTP/1.1\r\nHost: x\r\n%sContent-Length: 1048576"
                          b"\r\n\r\n" % (hook.encode(), headers))
                data = b""
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 401 "), data)
            self.assertEqual(json.loads(body)["error"], "signature_missing")
        self.assertEqual(s.metrics()['sluice_webhook_rejected_total{source="sw"}'], 1)

    def test_redelivery_is_answered_with_the_first_id_and_delivered_once(self):
        fn = self.fn()
        s = self.sluice(hooks_config(self.workdir, fn.url))
        b = b'{"action":"opened"}'
        first = self.post_ok(s, "gh", b, github(b, "delivery-A"))
        # GitHub redelivers with the same X-GitHub-Delivery.
        self.assertEqual(self.post_ok(s, "gh", b, github(b, "delivery-A")), first)
        # Stripe: the same event id in a new signature with a new timestamp.
        sb = b'{"id":"evt_dup","type":"charge.succeeded"}'
        sfirst = self.post_ok(s, "st", sb, stripe(sb))
        self.assertEqual(self.post_ok(s, "st", sb, stripe(sb, t=int(time.time()) - 10)), sfirst)
        # Standard Webhooks: the same webhook-id, signed again.
        wb = b'{"n":1}'
        wfirst = self.post_ok(s, "sw", wb, standard(wb, "msg_dup", SW_KEY_NEW))
        self.assertEqual(self.post_ok(s, "sw", wb, standard(wb, "msg_dup", SW_KEY_OLD)), wfirst)
        # A configured header (hmac-sha256 hook).
        hb = b"x"
        mac = base64.b64encode(hmac.new(HMAC_SECRET.encode(), hb, hashlib.sha256).digest())
        hh = {"X-Signature": "sha256=" + mac.decode(), "X-Delivery": "hm-1"}
        hfirst = self.post_ok(s, "hm", hb, hh)
        self.assertEqual(self.post_ok(s, "hm", hb, hh), hfirst)
        # Another delivery id is a new push.
        other = self.post_ok(s, "gh", b, github(b, "delivery-B"))
        self.assertNotEqual(other, first)
        # The duplicates were not stored: a later push is delivered after the first ones and
        # nothing else came (lanes deliver in order, so a stored copy would come before it).
        last = self.post_ok(s, "gh", b, github(b, "delivery-C"))
        want = [first, sfirst, wfirst, hfirst, other, last]
        wait_until(lambda: last in fn.delivered_ids() and len(fn.delivered_ids()) >= len(want),
                   what="every delivery")
        self.assertEqual(sorted(fn.delivered_ids()), sorted(want))
        m = s.metrics()
        self.assertEqual(sum(m['sluice_webhook_duplicates_total{source="%s"}' % h]
                             for h in ("gh", "st", "sw", "hm")), 4)

    def test_concurrent_copies_are_stored_once(self):
        fn = self.fn()
        s = self.sluice(hooks_config(self.workdir, fn.url))
        b = b'{"action":"race"}'
        results = []

        def push():
            status, _, data = s.post("gh", b, github(b, "delivery-race"))
            results.append((status, json_body(data)))

        threads = [threading.Thread(target=push) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual({st for st, _ in results}, {202}, results)
        self.assertEqual(len({body["id"] for _, body in results}), 1, results)
        last = self.post_ok(s, "gh", b, github(b, "delivery-after"))
        wait_until(lambda: last in fn.delivered_ids(), what="the last delivery")
        self.assertEqual(sorted(fn.delivered_ids()), sorted([results[0][1]["id"], last]))
        self.assertEqual(s.metrics()['sluice_webhook_duplicates_total{source="gh"}'], 15)

    def test_dedupe_survives_a_restart_and_expires(self):
        fn = self.fn()
        cfg = hooks_config(self.workdir, fn.url)
        s = self.sluice(cfg)
        b = b'{"action":"opened"}'
        first = self.post_ok(s, "gh", b, github(b, "delivery-R"))
        wait_until(lambda: fn.delivered_ids() == [first], what="the first delivery")
        self.assertEqual(s.terminate(), 0)
        again = self.sluice(cfg, name="sluice")
        self.assertEqual(self.post_ok(again, "gh", b, github(b, "delivery-R")), first)
        last = self.post_ok(again, "gh", b, github(b, "delivery-S"))
        wait_until(lambda: last in fn.delivered_ids(), what="the next delivery")
        self.assertEqual(fn.delivered_ids(), [first, last])
        self.assertEqual(again.terminate(), 0)
        # With a window of 1s a redelivery after it is a new push.
        cfg["sources"][0]["dedupe_window"] = "1s"
        short = self.sluice(cfg, name="sluice")
        x = self.post_ok(short, "gh", b, github(b, "delivery-T"))
        self.assertEqual(self.post_ok(short, "gh", b, github(b, "delivery-T")), x)
        db = os.path.join(self.workdir, "data", "sluice.db")
        with sqlite3.connect(db) as c:
            seen_ms = c.execute("SELECT seen_ms FROM webhook_dedupe WHERE delivery = ?",
                                ("delivery-T",)).fetchone()[0]
        c.close()
        # The window is what is under test: wait until the clock has passed it.
        wait_until(lambda: time.time() * 1000 > seen_ms + 1000 + 5, what="the window to pass")
        y = self.post_ok(short, "gh", b, github(b, "delivery-T"))
        self.assertNotEqual(x, y)
        wait_until(lambda: y in fn.delivered_ids(), what="the push after the window")

    def test_secret_rotated_by_a_reload_keeps_the_delivery_ids(self):
        fn = self.fn()
        cfg = hooks_config(self.workdir, fn.url)
        s = self.sluice(cfg)
        b = b'{"n":1}'
        first = self.post_ok(s, "gh", b, github(b, "delivery-before"))
        # Step 1 of a rotation: both secrets.
        cfg["sources"][0]["verify"] = {"type": "github", "secrets": [GH_SECRET, "gh-new-secret"]}
        self.reload(s, cfg)
        self.post_ok(s, "gh", b, github(b, "rot-1", secret=GH_SECRET))
        self.post_ok(s, "gh", b, github(b, "rot-2", secret="gh-new-secret"))
        # Step 2: the new one only.
        cfg["sources"][0]["verify"] = {"type": "github", "secret": "gh-new-secret"}
        self.reload(s, cfg)
        self.refused(s, "gh", b, github(b, "rot-3", secret=GH_SECRET), "signature_mismatch")
        # The hook was made anew; the delivery ids it stored are still known.
        self.assertEqual(self.post_ok(s, "gh", b, github(b, "delivery-before",
                                                         secret="gh-new-secret")), first)
        for secret in (GH_SECRET, "gh-new-secret"):
            self.assertNotIn(secret, s.out.text())

    def reload(self, s, cfg):
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        self.assertEqual(json_body(data)["status"], "reloaded", data)

    def test_a_store_of_schema_2_is_migrated(self):
        fn = self.fn()
        cfg = hooks_config(self.workdir, fn.url)
        s = self.sluice(cfg)
        self.assertEqual(s.terminate(), 0)
        db = os.path.join(self.workdir, "data", "sluice.db")
        with sqlite3.connect(db) as c:
            c.execute("DROP TABLE webhook_dedupe")
            c.execute("PRAGMA user_version = 2")
        c.close()
        again = self.sluice(cfg)
        again.out.wait_for(r"schema migrated from version 2 to \d+")
        b = b'{"n":1}'
        first = self.post_ok(again, "gh", b, github(b, "delivery-M"))
        self.assertEqual(self.post_ok(again, "gh", b, github(b, "delivery-M")), first)

    def test_kept_ids_are_capped(self):
        fn = self.fn()
        cfg = hooks_config(self.workdir, fn.url)
        cfg["sources"][0]["dedupe_max_entries"] = 2
        s = self.sluice(cfg)
        b = b'{"n":1}'
        ids = [self.post_ok(s, "gh", b, github(b, "cap-%d" % i)) for i in range(3)]
        db = os.path.join(self.workdir, "data", "sluice.db")

        def kept():
            with sqlite3.connect(db) as c:
                rows = c.execute("SELECT delivery FROM webhook_dedupe WHERE source = 'gh'"
                                 " ORDER BY delivery").fetchall()
            c.close()
            return [r[0] for r in rows]

        self.assertEqual(kept(), ["cap-0", "cap-1", "cap-2"])
        self.assertEqual(s.terminate(), 0)
        # Removed at the next start (then every minute): the oldest beyond the cap.
        again = self.sluice(cfg)
        wait_until(lambda: kept() == ["cap-1", "cap-2"], what="the oldest id removed")
        self.assertEqual(self.post_ok(again, "gh", b, github(b, "cap-2")), ids[2])
        self.assertNotIn(self.post_ok(again, "gh", b, github(b, "cap-0")), ids)

    def test_secrets_never_printed(self):
        fn = self.fn(script=[{"status": 400, "count": 1000}])
        cfg = hooks_config(self.workdir, fn.url, mapping={"retry": {"max_attempts": 1}})
        for src in cfg["sources"]:
            src["keep_headers"] = ["content-type", "x-hub-signature-256", "stripe-signature"]
        s = self.sluice(cfg)
        b = b'{"action":"opened"}'
        self.post_ok(s, "gh", b, github(b, "d-1"))
        self.refused(s, "gh", b, github(b, "d-2", secret="wrong"), "signature_mismatch")
        sb = b'{"id":"evt_9"}'
        self.post_ok(s, "st", sb, stripe(sb))
        wait_until(lambda: len(s.dlq_entries()) == 2, what="two DLQ entries")
        texts = {
            "log": s.out.text(),
            "metrics": s.admin("GET", "/metrics")[2].decode(),
            "describe": s.admin("GET", "/v1/mappings")[2].decode() +
                        s.admin("GET", "/v1/mappings/gh-to-fn")[2].decode(),
            "dlq list": s.cli("dlq", "list", "--json").stdout.decode(),
            "dlq show": "".join(s.cli("dlq", "show", e["id"], "--json").stdout.decode()
                                for e in s.dlq_entries()),
            "validate": s.cli("validate").stdout.decode() + s.cli("validate").stderr.decode(),
        }
        self.assertIn('"verify":"github"', texts["describe"].replace(" ", ""))
        for where, text in texts.items():
            for secret in SECRETS:
                self.assertNotIn(secret, text, "a secret in the %s output" % where)
                self.assertNotIn(secret[6:] if secret.startswith("whsec_") else secret, text)

    def validate(self, source):
        cfg = base_config(self.workdir, "http://127.0.0.1:1/", source=source)
        path = os.path.join(self.workdir, "bad.yaml")
        with open(path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        p = subprocess.run([SLUICE, "validate", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        with open(path) as f:
            lines = f.read().splitlines()
        return p.returncode, p.stdout.decode() + p.stderr.decode(), lines

    def test_config_errors_name_the_key_and_line(self):
        cases = [
            ({"verify": {"type": "github"}}, "sources[0].verify.secret", "missing"),
            ({"verify": {"type": "hmac-sha256", "secret": "s3cr3t-value"}},
             "sources[0].verify.header", "missing"),
            ({"verify": {"type": "hmac-sha256", "secret": "x", "header": "X-S",
                         "encoding": "base32"}}, "sources[0].verify.encoding", "base32"),
            ({"verify": {"type": "standard-webhooks", "secret": "s3cr3t-value"}},
             "sources[0].verify.secret", "whsec_"),
            ({"verify": {"type": "standard-webhooks", "secrets": ["whsec_" + "A" * 8,
                                                                  "whsec_s3cr3t*value"]}},
             "sources[0].verify.secrets[1]", "base64"),
            ({"verify": {"type": "github", "secret": "x", "prefix": "sha256="}},
             "sources[0].verify.prefix", "hmac-sha256"),
            ({"verify": {"type": "gitlab", "secret": "x"}}, "sources[0].verify.type", "gitlab"),
        ]
        for source, key, what in cases:
            rc, out, lines = self.validate(source)
            self.assertEqual(rc, 78, out)
            self.assertIn(key, out)
            self.assertIn(what, out)
            self.assertNotIn("s3cr3t", out)
            # file:line: the line of the key in the file (of `verify:` for a missing one).
            m = re.search(r"bad\.yaml:(\d+): " + re.escape(key) + ": ", out)
            self.assertIsNotNone(m, out)
            text = lines[int(m.group(1)) - 1]
            leaf = key.rsplit(".", 1)[1]
            if leaf.endswith("[1]"):
                self.assertIn("s3cr3t", text)
            elif what == "missing":
                # The verify object's line (where its mapping begins).
                at = next(i for i, t in enumerate(lines) if "verify:" in t) + 1
                self.assertIn(int(m.group(1)), (at, at + 1), out)
            else:
                self.assertIn(leaf + ":", text)

if __name__ == "__main__":
    main()
