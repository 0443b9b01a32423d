"""Object-store notifications through the real binary: recorded MinIO and Ceph RGW bodies
(tests/fuzz/corpus/s3_notification, written from their documented formats) POSTed to
/s3/{name} reach the function as Lambda's S3 event; probes store nothing; the bearer token,
the limits and bad bodies get their answers; prefix/suffix and Lambda filters select; records
of one object stay in order in one lane; a partial batch response names records by sequencer;
what was answered 200 survives a kill -9."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "s3"))
from harness import (SRC, SluiceTest, base_config, http_request, json_body, main,  # noqa: E402
                     to_yaml, wait_until)
from s3_fn import S3Fn  # noqa: E402

CORPUS = os.path.join(SRC, "tests", "fuzz", "corpus", "s3_notification")
TOKEN = "s3-test-token"


def recorded(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return f.read()


def minio_body(bucket, key_enc, seq, name="s3:ObjectCreated:Put", size=1):
    """A MinIO webhook body (the MinIO docs' "Publish Events to Webhook" format)."""
    return json.dumps({
        "EventName": name, "Key": bucket + "/" + key_enc,
        "Records": [{
            "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
            "eventTime": "2026-11-30T09:00:00.000Z", "eventName": name,
            "userIdentity": {"principalId": "minioadmin"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {"x-amz-request-id": "R%s" % seq},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"},
                              "arn": "arn:aws:s3:::" + bucket},
                   "object": {"key": key_enc, "size": size, "eTag": "e%s" % seq,
                              "sequencer": "%016X" % seq}}}]})


class S3Replay(SluiceTest):
    def start(self, source=None, mapping=None):
        self.s3fn = S3Fn()
        self.addCleanup(self.s3fn.stop)
        cfg = base_config(self.workdir, self.s3fn.url,
                          source=dict({"name": "objects", "type": "s3", "token": TOKEN},
                                      **(source or {})),
                          mapping=dict({"name": "objects-to-fn", "source": "objects"},
                                       **(mapping or {})))
        return self.sluice(cfg)

    def post(self, s, body, token=TOKEN, method="POST", path="/s3/objects"):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        return http_request(s.push_port, method, path, body, headers)

    def test_recorded_bodies_reach_the_function_as_s3_events(self):
        s = self.start()
        expect = {}
        for name in ("minio_put.json", "minio_delete.json", "ceph_put.json", "ceph_two.json"):
            status, _, data = self.post(s, recorded(name))
            self.assertEqual(status, 200, data)
            n = len(json.loads(recorded(name))["Records"])
            self.assertEqual(json_body(data), {"accepted": n})
        wait_until(lambda: len(self.s3fn.records()) == 5, what="5 records delivered")
        got = {(r["s3"]["bucket"]["name"], r["s3"]["object"]["key"], r["eventName"]): r
               for r in self.s3fn.records()}
        self.assertEqual(sorted(got), sorted([
            ("images", "red+flower.jpg", "ObjectCreated:Put"),
            ("images", "2026/a%25b%2Bc.txt", "ObjectRemoved:Delete"),
            ("mybucket1", "docs/report+2026%2Bfinal.pdf", "ObjectCreated:Put"),
            ("mybucket1", "logs/a.log", "ObjectCreated:CompleteMultipartUpload"),
            ("mybucket1", "logs/a.log", "ObjectRemoved:DeleteMarkerCreated"),
        ]))
        put = got[("images", "red+flower.jpg", "ObjectCreated:Put")]
        self.assertEqual(put["eventSource"], "aws:s3")
        self.assertEqual(put["s3"]["object"]["size"], 248682)
        self.assertEqual(put["s3"]["object"]["eTag"], "f1671feacb8bbf7b0397c6e9364e8c92")
        self.assertEqual(put["s3"]["object"]["sequencer"], "187C8D0B0F4D5E6A")
        ceph = got[("mybucket1", "docs/report+2026%2Bfinal.pdf", "ObjectCreated:Put")]
        self.assertEqual(ceph["s3"]["object"]["size"], 1024)
        mp = got[("mybucket1", "logs/a.log", "ObjectCreated:CompleteMultipartUpload")]
        self.assertEqual(mp["s3"]["object"]["versionId"], "gSnJ4X4Ks8R1Nc9sOQ0-KnvDdNPh9Ag")
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="objects-to-fn"}') == 0,
                   what="everything acked")
        self.assertEqual(s.metrics().get('sluice_s3_records_total{source="objects"}'), 5)

    def test_probes_store_nothing(self):
        s = self.start()
        for body in (recorded("aws_test_event.json"), b""):
            status, _, data = self.post(s, body)
            self.assertEqual(status, 200, data)
            self.assertEqual(json_body(data)["accepted"], 0)
        for method in ("GET", "HEAD"):
            status, _, _ = self.post(s, None, token=None, method=method)
            self.assertEqual(status, 200)
        self.assertEqual(s.metrics().get('sluice_s3_probes_total{source="objects"}'), 4)
        # A record after the probes is the first the function sees.
        self.assertEqual(self.post(s, minio_body("b", "k", 1))[0], 200)
        wait_until(lambda: self.s3fn.records(), what="a delivery")
        self.assertEqual([r["s3"]["object"]["key"] for r in self.s3fn.records()], ["k"])

    def test_refusals(self):
        s = self.start(source={"max_body_bytes": "4KiB", "max_records": 1})
        status, hdrs, data = self.post(s, recorded("minio_put.json"), token="wrong")
        self.assertEqual(status, 401)
        self.assertEqual(json_body(data)["error"], "unauthorized")
        self.assertEqual(self.post(s, recorded("minio_put.json"), token=None)[0], 401)
        status, _, data = self.post(s, recorded("no_key.json"))
        self.assertEqual(status, 400)
        self.assertIn("Records[0].s3.object.key is missing", json_body(data)["message"])
        status, _, data = self.post(s, b"{not json")
        self.assertEqual((status, json_body(data)["error"]), (400, "invalid_notification"))
        status, _, data = self.post(s, recorded("ceph_two.json"))
        self.assertEqual((status, json_body(data)["error"]), (413, "too_many_records"))
        status, _, data = self.post(s, b"{\"Records\":[]," + b" " * 5000 + b"\"x\":1}")
        self.assertEqual(status, 413)
        self.assertEqual(s.metrics().get('sluice_s3_rejected_total{source="objects"}'), 6)
        self.assertEqual(s.metrics().get('sluice_s3_records_total{source="objects"}', 0), 0)
        self.assertNotIn(TOKEN, s.out.text())

    def test_prefix_suffix_and_lambda_filters(self):
        s = self.start(source={"prefix": "in/", "suffix": ".csv"},
                       mapping={"filters": [{"eventName": [{"prefix": "ObjectCreated:"}],
                                             "s3": {"object": {"size": [{"numeric": [">", 10]}]}}}]})
        bodies = [
            minio_body("b", "in%2Fa+b.csv", 1, size=100),      # "in/a b.csv": delivered
            minio_body("b", "in%2Fsmall.csv", 2, size=5),      # Lambda filter: too small
            minio_body("b", "in%2Fx.csv", 3, name="s3:ObjectRemoved:Delete", size=100),
            minio_body("b", "out%2Fy.csv", 4, size=100),       # prefix
            minio_body("b", "in%2Fz.json", 5, size=100),       # suffix
            minio_body("b", "in%2Fz2.csv", 6, size=100),       # delivered
        ]
        answers = [json_body(self.post(s, b)[2]) for b in bodies]
        self.assertEqual([a["accepted"] for a in answers], [1, 1, 1, 0, 0, 1])
        self.assertEqual(s.metrics().get('sluice_s3_filtered_total{source="objects"}'), 2)
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="objects-to-fn"}') == 0
                   and len(self.s3fn.records()) >= 2, what="the filtered records acked")
        self.assertEqual(sorted(r["s3"]["object"]["key"] for r in self.s3fn.records()),
                         ["in/a+b.csv", "in/z2.csv"])

    def test_order_per_object_and_partial_batch_response(self):
        s = self.start(source={"lanes": 4},
                       mapping={"batch": {"size": 10, "window": "50ms"}, "max_concurrency": 4,
                                "retry": {"report_batch_item_failures": True, "max_attempts": 5,
                                          "backoff": {"min": "10ms", "max": "50ms"}}})
        self.s3fn.fail_keys = {"k3"}
        keys = ["k%d" % (i % 5) for i in range(50)]
        for i, k in enumerate(keys):
            self.assertEqual(self.post(s, minio_body("b", k, i + 1))[0], 200)
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="objects-to-fn"}') == 0
                   and s.metrics().get('sluice_records_delivered_total{mapping="objects-to-fn"}') == 50,
                   what="50 records delivered")
        per_key = {}
        for r in self.s3fn.records():
            per_key.setdefault(r["s3"]["object"]["key"], []).append(int(r["s3"]["object"]["sequencer"], 16))
        for k, seqs in per_key.items():
            # Each object's events in order; the failed one and the rest of its lane again.
            firsts = []
            for q in seqs:
                if q not in firsts:
                    firsts.append(q)
            self.assertEqual(firsts, sorted(firsts), "events of %s out of order" % k)
            self.assertEqual(set(seqs), {i + 1 for i, kk in enumerate(keys) if kk == k})
        self.assertGreater(len(per_key["k3"]), 10, "the failed record was delivered again")

    def test_failures_are_dead_lettered_and_redriven(self):
        s = self.start(mapping={"batch": {"size": 1, "window": "0s"},
                                "retry": {"max_attempts": 2, "bisect_on_error": False,
                                          "backoff": {"min": "10ms", "max": "20ms"}}})
        self.s3fn.poison_keys = {"bad+1", "bad+3"}
        keys = ["ok+0", "bad+1", "ok+2", "bad+3", "ok+4"]
        for i, k in enumerate(keys):
            self.assertEqual(self.post(s, minio_body("b", k, 100 + i))[0], 200)
        wait_until(lambda: len(s.dlq_entries()) == 2
                   and s.metrics().get('sluice_inflight_records{mapping="objects-to-fn"}') == 0,
                   what="2 records dead-lettered, the rest acked")
        delivered = [r["s3"]["object"]["key"] for r in self.s3fn.records()]
        self.assertEqual(sorted(delivered), ["ok+0", "ok+2", "ok+4"])
        self.assertEqual(len(delivered) + len(s.dlq_entries()), len(keys),
                         "delivered + dead-lettered = produced")
        entries = sorted(s.dlq_entries(), key=lambda e: e["recordId"])
        self.assertEqual([e["recordId"] for e in entries], ["%016X" % 101, "%016X" % 103])
        shown = json.loads(s.cli("dlq", "show", entries[0]["id"], "--json").stdout)
        self.assertEqual(json.loads(shown["payload"])["s3"]["object"]["key"], "bad+1")
        self.assertEqual(shown["coordinates"]["bucket"], "b")
        self.assertEqual(shown["coordinates"]["key"], "bad+1")
        self.assertNotIn(TOKEN, json.dumps(shown))
        # Fixed: the redrive sends each as the S3 event again.
        self.s3fn.poison_keys = set()
        out = s.cli("dlq", "redrive", "--mapping", "objects-to-fn").stdout.decode()
        self.assertIn("redriven 2", out)
        self.assertEqual(sorted(r["s3"]["object"]["key"] for r in self.s3fn.records()),
                         ["bad+1", "bad+3", "ok+0", "ok+2", "ok+4"])
        for r in self.s3fn.records():
            self.assertEqual(r["eventSource"], "aws:s3")
        self.assertEqual(s.dlq_entries(), [])

    def test_reload_with_a_new_prefix(self):
        s = self.start()
        self.assertEqual(json_body(self.post(s, minio_body("b", "a%2F1", 1))[2])["accepted"], 1)
        wait_until(lambda: len(self.s3fn.records()) == 1, what="the first record")
        cfg = base_config(self.workdir, self.s3fn.url,
                          source={"name": "objects", "type": "s3", "token": TOKEN, "prefix": "b/"},
                          mapping={"name": "objects-to-fn", "source": "objects"})
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        status, _, data = s.admin("POST", "/v1/reload")
        self.assertEqual(status, 200, data)
        # The source was made again with its route: the new prefix applies.
        answers = [json_body(self.post(s, minio_body("b", k, i + 2))[2])
                   for i, k in enumerate(["a%2F2", "b%2F3"])]
        self.assertEqual([a["accepted"] for a in answers], [0, 1])
        wait_until(lambda: len(self.s3fn.records()) == 2, what="the record after the reload")
        self.assertEqual([r["s3"]["object"]["key"] for r in self.s3fn.records()], ["a/1", "b/3"])

    def test_accepted_records_survive_kill9(self):
        s = self.start(mapping={"enabled": False})
        for i in range(5):
            self.assertEqual(self.post(s, minio_body("b", "obj%d" % i, i + 1))[0], 200)
        s.kill9()
        cfg = base_config(self.workdir, self.s3fn.url,
                          source={"name": "objects", "type": "s3", "token": TOKEN},
                          mapping={"name": "objects-to-fn", "source": "objects"})
        self.sluice(cfg, name="again")
        wait_until(lambda: len(self.s3fn.records()) == 5, what="5 records replayed")
        self.assertEqual(sorted(r["s3"]["object"]["key"] for r in self.s3fn.records()),
                         ["obj%d" % i for i in range(5)])


if __name__ == "__main__":
    main()
