"""SNS HTTP subscriptions through the real binary: messages in the formats of Amazon SNS's
documentation, signed by a test CA made with the openssl CLI at test time, POSTed to
/sns/{name}. Valid SignatureVersion 1 and 2 notifications reach the function as Lambda's SNS
event; a tampered message, a wrong key, an unknown certificate and an unknown topic are refused
403 and not stored; a SubscriptionConfirmation is confirmed by a GET of its SubscribeURL (an
allow-listed local server) or only logged; an UnsubscribeConfirmation stores nothing;
redeliveries are deduped; what was answered 200 survives a kill -9; a failing function's
records are dead-lettered (delivered + dead-lettered = produced); one topic feeds two
mappings, each with its own dead-letter queue."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "sns"))
from harness import (SLUICE, SluiceTest, base_config, http_request, json_body, main,  # noqa: E402
                     to_yaml, wait_until)
from sns_kit import (CERT_URL, SUB_ARN, TOPIC, CertServer, ConfirmServer, SnsFn,  # noqa: E402
                     TestCA, confirmation, headers_for, notification)

MAPPING = "sns-to-fn"


class SnsSource(SluiceTest):
    def setUp(self):
        super().setUp()
        self.ca = TestCA(os.path.join(self.workdir, "ca"))
        self.fn_ = SnsFn()
        self.addCleanup(self.fn_.stop)

    def config(self, source=None, mapping=None):
        return base_config(self.workdir, self.fn_.url,
                           source=dict({"name": "topic", "type": "sns",
                                        "certs_dir": self.ca.certs_dir, "topics": [TOPIC]},
                                       **(source or {})),
                           mapping=dict({"name": MAPPING, "source": "topic"}, **(mapping or {})))

    def start(self, source=None, mapping=None):
        return self.sluice(self.config(source, mapping))

    def post(self, s, msg, headers=None):
        body = json.dumps(msg).encode() if isinstance(msg, dict) else msg
        return http_request(s.push_port, "POST", "/sns/topic", body,
                            headers if headers is not None else headers_for(msg))

    def stored(self, s):
        return s.metrics().get('sluice_sns_records_total{source="topic"}', 0)

    def acked(self, s):
        return s.metrics().get('sluice_inflight_records{mapping="%s"}' % MAPPING) == 0

    def test_v1_and_v2_notifications_reach_the_function(self):
        s = self.start()
        attrs = {"Test": {"Type": "String", "Value": "TestString"},
                 "TestBinary": {"Type": "Binary", "Value": "VGVzdEJpbmFyeQ=="}}
        sent = [notification(self.ca, "Hello from SNS! %d" % i, version=v,
                             subject="TestInvoke" if i % 2 else None,
                             attrs=attrs if i == 0 else None)
                for i, v in enumerate(["1", "2", "1", "2", "2", "1"])]
        sent.append(notification(self.ca, "quote \" newline \n unicode \u00e9", version="2"))
        for m in sent:
            status, _, data = self.post(s, m)
            self.assertEqual(status, 200, data)
            self.assertEqual(json_body(data), {"id": m["MessageId"]})
        wait_until(lambda: len(self.fn_.records()) == len(sent), what="every notification")
        got = {r["Sns"]["MessageId"]: r for r in self.fn_.records()}
        self.assertEqual(sorted(got), sorted(m["MessageId"] for m in sent), "delivered = sent")
        for m in sent:
            r = got[m["MessageId"]]
            self.assertEqual(r["EventVersion"], "1.0")
            self.assertEqual(r["EventSource"], "aws:sns")
            self.assertEqual(r["EventSubscriptionArn"], SUB_ARN)
            self.assertEqual(list(r), ["EventVersion", "EventSubscriptionArn", "EventSource", "Sns"])
            sns = r["Sns"]
            self.assertEqual(sns["Message"], m["Message"])
            self.assertEqual(sns["TopicArn"], TOPIC)
            self.assertEqual(sns["Type"], "Notification")
            self.assertEqual(sns["SignatureVersion"], m["SignatureVersion"])
            self.assertEqual(sns["Signature"], m["Signature"])
            self.assertEqual(sns["Timestamp"], m["Timestamp"])
            self.assertEqual(sns["SigningCertUrl"], CERT_URL)
            self.assertEqual(sns["UnsubscribeUrl"], m["UnsubscribeURL"])
            self.assertEqual(sns["Subject"], m.get("Subject"))
            self.assertEqual(sns["MessageAttributes"], m.get("MessageAttributes", {}))
            self.assertNotIn("SigningCertURL", sns)
        wait_until(lambda: self.acked(s), what="everything acked")
        self.assertEqual(self.stored(s), len(sent))

    def test_bad_signatures_and_unknown_topics_are_refused_and_not_stored(self):
        s = self.start()
        tampered = notification(self.ca, "pay 10")
        tampered["Message"] = "pay 1000"
        wrong_key = notification(self.ca, "x", version="2", key=self.ca.other_key)
        unknown_cert = notification(self.ca, "x", cert_url="https://sns.us-east-2.amazonaws.com/"
                                    "SimpleNotificationService-other.pem")
        other_topic = notification(self.ca, "x", topic=TOPIC + "-other")
        bad_version = notification(self.ca, "x")
        bad_version["SignatureVersion"] = "3"
        unsigned = notification(self.ca, "x")
        del unsigned["Signature"]
        cases = [(tampered, "bad_signature"), (wrong_key, "bad_signature"),
                 (unknown_cert, "unknown_certificate"), (other_topic, "topic_not_allowed"),
                 (bad_version, "unsupported_signature_version"), (unsigned, "unsigned")]
        for msg, code in cases:
            status, _, data = self.post(s, msg)
            self.assertEqual((status, json_body(data)["error"]), (403, code), data)
            self.assertNotIn(b"BEGIN", data)
        status, _, data = self.post(s, b"{not json", headers={"x-amz-sns-message-type": "Notification"})
        self.assertEqual((status, json_body(data)["error"]), (400, "invalid_message"))
        good = notification(self.ca, "the one")
        mismatched = dict(good)
        status, _, _ = self.post(s, mismatched, headers=dict(
            headers_for(good), **{"x-amz-sns-message-type": "SubscriptionConfirmation"}))
        self.assertEqual(status, 400)
        self.assertEqual(self.post(s, good)[0], 200)
        wait_until(lambda: self.fn_.records(), what="the valid notification")
        wait_until(lambda: self.acked(s), what="it is acked")
        self.assertEqual([r["Sns"]["Message"] for r in self.fn_.records()], ["the one"])
        self.assertEqual(self.stored(s), 1)
        self.assertEqual(s.metrics().get('sluice_sns_rejected_total{source="topic"}'), 8)

    def test_subscription_confirmation_is_fetched_when_allowed(self):
        confirm = ConfirmServer()
        self.addCleanup(confirm.stop)
        s = self.start(source={"auto_confirm": True, "confirm_hosts": ["127.0.0.1"],
                               "allow_http": True})
        msg = confirmation(self.ca, confirm.url)
        status, _, data = self.post(s, msg)
        self.assertEqual((status, json_body(data)), (200, {"accepted": 0}))
        wait_until(lambda: confirm.count() == 1, what="the SubscribeURL fetched")
        self.assertIn("Token=2336412f37fb687f5d51e6e2425c464de12884ec", confirm.gets[0])
        s.out.wait_for(r"subscription to %s confirmed" % TOPIC)
        # A tampered confirmation is refused and not fetched.
        bad = confirmation(self.ca, confirm.url)
        bad["SubscribeURL"] = confirm.url + "&x=1"
        self.assertEqual(self.post(s, bad)[0], 403)
        # An UnsubscribeConfirmation stores nothing.
        unsub = confirmation(self.ca, confirm.url, kind="UnsubscribeConfirmation")
        self.assertEqual(self.post(s, unsub)[0], 200)
        s.out.wait_for(r"unsubscribed from %s" % TOPIC)
        self.assertEqual(self.post(s, notification(self.ca, "after"))[0], 200)
        wait_until(lambda: self.fn_.records(), what="the notification")
        wait_until(lambda: self.acked(s), what="it is acked")
        self.assertEqual([r["Sns"]["Message"] for r in self.fn_.records()], ["after"])
        self.assertEqual(self.stored(s), 1)
        self.assertEqual(confirm.count(), 1)

    def test_subscription_confirmation_is_logged_without_auto_confirm(self):
        confirm = ConfirmServer()
        self.addCleanup(confirm.stop)
        s = self.start(source={"allow_http": True, "confirm_hosts": ["127.0.0.1"]})
        self.assertEqual(self.post(s, confirmation(self.ca, confirm.url))[0], 200)
        s.out.wait_for(r"confirm by hand: GET http://127\.0\.0\.1:%d/" % confirm.port)
        self.assertEqual(confirm.count(), 0)
        # auto_confirm with a host off the allow-list is only logged too.
        s2cfg = self.config(source={"auto_confirm": True})
        s2cfg["store"]["dir"] = os.path.join(self.workdir, "data2")
        s2 = self.sluice(s2cfg, name="strict")
        self.assertEqual(self.post(s2, confirmation(self.ca, confirm.url))[0], 200)
        s2.out.wait_for(r"SubscribeURL the scheme is http, not https; confirm by hand")
        self.assertEqual(confirm.count(), 0)
        self.assertEqual(self.stored(s), 0)

    def test_redeliveries_are_deduped(self):
        s = self.start()
        msg = notification(self.ca, "once", version="2")
        answers = [self.post(s, msg) for _ in range(3)]
        self.assertEqual([a[0] for a in answers], [200, 202, 202])
        for a in answers:
            self.assertEqual(json_body(a[2])["id"], msg["MessageId"])
        wait_until(lambda: self.fn_.records(), what="the delivery")
        wait_until(lambda: self.acked(s), what="it is acked")
        self.assertEqual(len(self.fn_.records()), 1)
        self.assertEqual(s.metrics().get('sluice_sns_duplicates_total{source="topic"}'), 2)
        # After a restart the MessageId is still known (the store keeps it).
        s.stop()
        s2 = self.sluice(self.config(), name="again")
        self.assertEqual(self.post(s2, msg)[0], 202)
        self.assertEqual(self.post(s2, notification(self.ca, "new"))[0], 200)
        wait_until(lambda: len(self.fn_.records()) == 2, what="the new one")
        wait_until(lambda: self.acked(s2), what="it is acked")
        self.assertEqual(sorted(r["Sns"]["Message"] for r in self.fn_.records()), ["new", "once"])

    def test_accepted_notifications_survive_kill9(self):
        s = self.start(mapping={"enabled": False})
        sent = [notification(self.ca, "m%d" % i, version="12"[i % 2]) for i in range(5)]
        for m in sent:
            self.assertEqual(self.post(s, m)[0], 200)
        s.kill9()
        self.sluice(self.config(), name="again")
        wait_until(lambda: len(self.fn_.records()) == 5, what="5 notifications replayed")
        self.assertEqual(sorted(r["Sns"]["MessageId"] for r in self.fn_.records()),
                         sorted(m["MessageId"] for m in sent))

    def test_failures_are_dead_lettered(self):
        s = self.start(mapping={"batch": {"size": 1, "window": "0s"},
                                "retry": {"max_attempts": 2, "bisect_on_error": False,
                                          "backoff": {"min": "10ms", "max": "20ms"}}})
        sent = [notification(self.ca, "m%d" % i) for i in range(5)]
        self.fn_.poison = {sent[1]["MessageId"], sent[3]["MessageId"]}
        for m in sent:
            self.assertEqual(self.post(s, m)[0], 200)
        wait_until(lambda: len(s.dlq_entries()) == 2 and self.acked(s),
                   what="2 dead-lettered, the rest acked")
        delivered = [r["Sns"]["MessageId"] for r in self.fn_.records()]
        self.assertEqual(len(delivered) + len(s.dlq_entries()), len(sent),
                         "delivered + dead-lettered = produced")
        self.assertEqual(sorted(e["recordId"] for e in s.dlq_entries()), sorted(self.fn_.poison))
        entry = [e for e in s.dlq_entries() if e["recordId"] == sent[1]["MessageId"]][0]
        shown = json.loads(s.cli("dlq", "show", entry["id"], "--json").stdout)
        self.assertEqual(json.loads(shown["payload"])["Message"], "m1")
        self.assertEqual(shown["coordinates"]["EventSubscriptionArn"], SUB_ARN)
        # Fixed: the redrive sends each as the SNS event again.
        self.fn_.poison = set()
        out = s.cli("dlq", "redrive", "--mapping", MAPPING).stdout.decode()
        self.assertIn("redriven 2", out)
        self.assertEqual(sorted(r["Sns"]["MessageId"] for r in self.fn_.records()),
                         sorted(m["MessageId"] for m in sent))
        for r in self.fn_.records():
            self.assertEqual(r["EventSubscriptionArn"], SUB_ARN)

    def test_one_topic_feeds_two_mappings(self):
        other = SnsFn()
        self.addCleanup(other.stop)
        cfg = self.config(mapping={"batch": {"size": 1, "window": "0s"}})
        cfg["functions"].append({"name": "other", "type": "http", "url": other.url,
                                 "timeout": "5s"})
        cfg["mappings"].append({"name": "sns-to-other", "source": "topic", "function": "other",
                                "batch": {"size": 1, "window": "0s"},
                                "retry": {"max_attempts": 2, "bisect_on_error": False,
                                          "backoff": {"min": "10ms", "max": "20ms"}}})
        s = self.sluice(cfg)
        sent = [notification(self.ca, "f%d" % i) for i in range(4)]
        other.poison = {sent[2]["MessageId"]}  # dead-lettered by the second mapping only
        for m in sent:
            self.assertEqual(self.post(s, m)[0], 200)
        ids = sorted(m["MessageId"] for m in sent)
        wait_until(lambda: len(s.dlq_entries(mapping="sns-to-other")) == 1,
                   what="one dead-lettered by sns-to-other")
        wait_until(lambda: s.metrics().get("sluice_spool_depth") == 0, what="the spool empty")
        self.assertEqual(sorted(r["Sns"]["MessageId"] for r in self.fn_.records()), ids)
        delivered = [r["Sns"]["MessageId"] for r in other.records()]
        self.assertEqual(sorted(delivered + [sent[2]["MessageId"]]), ids,
                         "delivered + dead-lettered = produced")
        self.assertEqual(s.dlq_entries(mapping=MAPPING), [])
        self.assertEqual(self.stored(s), len(sent))  # stored once, read by both

    def test_fetched_certificates_are_checked_against_the_ca_and_kept(self):
        good, selfsigned = "/SimpleNotificationService-fetched.pem", "/selfsigned.pem"
        certs = CertServer({good: self.ca.signing_pem, selfsigned: self.ca.other_pem})
        self.addCleanup(certs.stop)
        cfg = self.config(source={"fetch_certs": True, "cert_hosts": ["127.0.0.1"],
                                  "allow_http": True, "ca_file": self.ca.ca_file})
        del cfg["sources"][0]["certs_dir"]
        s = self.sluice(cfg)
        sent = [notification(self.ca, "f%d" % i, version="12"[i % 2], cert_url=certs.base + good)
                for i in range(4)]
        for m in sent:
            status, _, data = self.post(s, m)
            self.assertEqual(status, 200, data)
        wait_until(lambda: len(self.fn_.records()) == 4, what="4 notifications")
        self.assertEqual(certs.count(good), 1, "fetched once, then kept")
        # Signed with the other key, whose certificate no CA in ca_file issued.
        bad = notification(self.ca, "x", key=self.ca.other_key, cert_url=certs.base + selfsigned)
        status, _, data = self.post(s, bad)
        self.assertEqual((status, json_body(data)["error"]), (403, "unknown_certificate"))
        self.assertEqual(certs.count(selfsigned), 1)
        s.out.wait_for(r"cannot use the signing certificate .*selfsigned.pem: the certificate "
                       r"does not verify against the CA bundle")
        # A host off cert_hosts is not fetched at all; a missing file is refused.
        other_host = certs.base.replace("127.0.0.1", "localhost") + good
        status, _, data = self.post(s, notification(self.ca, "x", cert_url=other_host))
        self.assertEqual((status, json_body(data)["error"]), (403, "unknown_certificate"))
        status, _, data = self.post(s, notification(self.ca, "x", cert_url=certs.base + "/no.pem"))
        self.assertEqual((status, json_body(data)["error"]), (403, "unknown_certificate"))
        self.assertEqual(certs.count("/no.pem"), 1)
        wait_until(lambda: self.acked(s), what="everything acked")
        self.assertEqual(sorted(r["Sns"]["Message"] for r in self.fn_.records()),
                         ["f0", "f1", "f2", "f3"])
        self.assertEqual(self.stored(s), 4)

    def test_partial_batch_response_names_records_by_message_id(self):
        # SNS standard topics have no order: with ordering none only the named record is
        # retried (with ordering lane, the records after it in its lane would be too).
        s = self.start(mapping={"batch": {"size": 10, "window": "200ms"}, "ordering": "none",
                                "retry": {"report_batch_item_failures": True,
                                          "backoff": {"min": "10ms", "max": "20ms"}}})
        sent = [notification(self.ca, "p%d" % i) for i in range(4)]
        self.fn_.fail_once = {sent[2]["MessageId"]}
        for m in sent:
            self.assertEqual(self.post(s, m)[0], 200)
        wait_until(lambda: not self.fn_.fail_once and self.acked(s), what="the retry acked")
        got = [r["Sns"]["MessageId"] for r in self.fn_.records()]
        # Each once, and the failed one once more: only it was retried.
        self.assertEqual(sorted(got), sorted([m["MessageId"] for m in sent] + [sent[2]["MessageId"]]))
        self.assertEqual(s.dlq_entries(), [])

    def test_config_errors_name_the_key(self):
        cases = [({"certs_dir": None}, "sources[0].certs_dir: required when verify is true"),
                 ({"certs_dir": os.path.join(self.workdir, "none")},
                  "sources[0].certs_dir: cannot open"),
                 ({"certs_dir": None, "fetch_certs": True,
                   "ca_file": os.path.join(self.workdir, "none.pem")},
                  "sources[0].ca_file: cannot read the CA bundle")]
        for i, (over, want) in enumerate(cases):
            cfg = self.config()
            cfg["sources"][0].update({k: v for k, v in over.items() if v is not None})
            for k in [k for k, v in over.items() if v is None]:
                del cfg["sources"][0][k]
            path = os.path.join(self.workdir, "bad%d.yaml" % i)
            with open(path, "w") as f:
                f.write(to_yaml(cfg) + "\n")
            p = subprocess.run([SLUICE, "validate", "-c", path], capture_output=True)
            self.assertEqual(p.returncode, 78, p.stderr)
            self.assertIn(want, p.stderr.decode())
            self.assertRegex(p.stderr.decode(), r"bad%d\.yaml:\d+: sources\[0\]" % i)


if __name__ == "__main__":
    main()
