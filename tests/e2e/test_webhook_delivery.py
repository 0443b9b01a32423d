"""Webhooks in, batched function calls out: order, ids, event shape, batching by size."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, json_body, main, wait_until  # noqa: E402


class WebhookDelivery(SluiceTest):
    def test_delivers_every_accepted_event_in_order(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url, mapping={"batch": {"size": 5, "window": "0s"}}))
        ids = self.post_many(s, 40)
        self.assertEqual(len(set(ids)), 40)
        wait_until(lambda: len(fn.delivered_ids()) >= 40, what="40 deliveries")
        delivered = fn.delivered_ids()
        self.assertEqual(delivered, ids, "delivered in arrival order, each exactly once")
        for inv in fn.invocations():
            self.assertLessEqual(inv["records"], 5)
        # Everything acked: the spool is empty and nothing is held.
        wait_until(lambda: s.metrics().get('sluice_inflight_records{mapping="orders-to-fn"}') == 0,
                   what="no records in flight")
        self.assertEqual(s.metrics().get('sluice_records_delivered_total{mapping="orders-to-fn"}'), 40)

    def test_event_shape(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url,
                                    source={"keep_headers": ["content-type", "x-github-event"]}))
        status, _, data = s.post("orders", '{"order": 7}', {"Content-Type": "application/json",
                                                            "X-GitHub-Event": "push",
                                                            "X-Secret": "no"})
        self.assertEqual(status, 202)
        rid = json_body(data)["id"]
        wait_until(lambda: fn.delivered_ids(), what="a delivery")
        self.assertEqual(fn.delivered_ids(), [rid])
        status, _, data = s.post("orders", b"\xff\xfe binary", {"Content-Type": "application/octet-stream"})
        self.assertEqual(status, 202)
        wait_until(lambda: len(fn.delivered_ids()) == 2, what="second delivery")

    def test_raw_format_is_a_plain_array(self):
        fn = self.fn()
        s = self.sluice(base_config(self.workdir, fn.url, mapping={"format": "raw"}))
        ids = self.post_many(s, 3)
        wait_until(lambda: len(fn.delivered_ids()) == 3, what="3 deliveries")
        self.assertEqual(fn.delivered_ids(), ids)


if __name__ == "__main__":
    main()
