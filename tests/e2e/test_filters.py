"""Filter patterns end to end: the function gets exactly the matching webhooks, in order; the
others are acknowledged at once (the spool empties) and counted; bad patterns are config errors
that name their key path."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SluiceTest, Sluice, base_config, json_body, main, wait_until  # noqa: E402

M = "orders-to-fn"

# Two pattern objects (as YAML writes them) and one pattern given as Lambda's JSON text.
FILTERS = [
    {"body": {"kind": ["order"]}},
    {"body": {"amount": [{"numeric": [">", 100]}]}},
    json.dumps({"headers": {"x-priority": [{"equals-ignore-case": "HIGH"}]},
                "method": ["POST"]}),
]

# (body, extra headers, should it match)
CASES = [
    ({"kind": "order", "amount": 1}, None, True),
    ({"kind": "refund", "amount": 150}, None, True),
    ({"kind": "refund", "amount": 100}, None, False),    # 100 is not > 100
    ({"kind": "Order"}, None, False),                     # exact match is case-sensitive
    ('kind=order', {"Content-Type": "text/plain"}, False),  # a text body is not an object
    ({"kind": "refund", "amount": 5}, {"X-Priority": "High"}, True),
    ({"kind": "refund", "amount": "500"}, None, False),   # "numeric" needs a JSON number
    ([{"kind": "refund"}, {"kind": "order"}], None, True),  # arrays: any element
    ({"amount": 100.5}, None, True),
    ({"other": True}, {"X-Priority": "low"}, False),
]


def metric(s, name):
    return s.metrics().get('%s{mapping="%s"}' % (name, M))


class Filters(SluiceTest):
    def test_only_matching_records_reach_the_function(self):
        fn = self.fn()
        s = self.sluice(base_config(
            self.workdir, fn.url,
            source={"keep_headers": ["content-type", "x-priority"]},
            mapping={"filters": FILTERS, "batch": {"size": 4, "window": "0s"}}))
        want, filtered = [], 0
        rounds = 3
        for r in range(rounds):
            for body, headers, match in CASES:
                status, _, data = s.post("orders", body, headers)
                self.assertEqual(status, 202, data)
                rid = json_body(data)["id"]
                if match:
                    want.append(rid)
                else:
                    filtered += 1
        accepted = len(CASES) * rounds
        self.assertEqual(len(want) + filtered, accepted)
        self.assertGreater(filtered, 0)

        wait_until(lambda: metric(s, "sluice_records_filtered_total") == filtered,
                   what="%d filtered records" % filtered)
        wait_until(lambda: len(fn.delivered_ids()) >= len(want), what="%d deliveries" % len(want))
        # Every record is acknowledged: nothing in flight, the spool is empty.
        wait_until(lambda: metric(s, "sluice_inflight_records") == 0, what="nothing in flight")
        wait_until(lambda: metric(s, "sluice_source_backlog") == 0, what="the spool to empty")

        self.assertEqual(fn.delivered_ids(), want, "exactly the matching records, in order")
        m = s.metrics()
        received = m['sluice_records_received_total{mapping="%s"}' % M]
        delivered = m['sluice_records_delivered_total{mapping="%s"}' % M]
        self.assertEqual(received, accepted)
        self.assertEqual(delivered, len(want))
        self.assertEqual(m['sluice_records_filtered_total{mapping="%s"}' % M], filtered)
        self.assertEqual(delivered + m['sluice_records_filtered_total{mapping="%s"}' % M], accepted)
        self.assertEqual(s.dlq_entries(), [], "filtered records are not dead-lettered")

    def write_config(self, name, filters):
        cfg = base_config(self.workdir, "http://127.0.0.1:9/invoke",
                          mapping={"filters": filters})
        return Sluice(self.workdir, cfg, name).config_path

    def test_bad_patterns_are_config_errors_with_their_key_path(self):
        cases = [
            ([{"body": {"kind": ["order"]}}, {"body": {"kind": "order"}}],
             'mappings[0].filters[1]: body.kind: a field\'s value must be a list of matchers '
             '(e.g. ["order"]), got "order"'),
            ([json.dumps({"amount": [{"numeric": [">"]}]})],
             'mappings[0].filters[0]: amount[0]: "numeric" needs an operator and a number, '
             'got [">"]'),
            ([{"a": [{"regex": "x"}]}], 'mappings[0].filters[0]: a[0]: unknown operator "regex"'),
            (['{"a": ["x"]'], "mappings[0].filters[0]: the pattern is not valid JSON"),
            ([{"a": ["x"]}] * 11, "mappings[0].filters: at most 10 filter patterns are allowed"),
        ]
        for i, (filters, want) in enumerate(cases):
            path = self.write_config("bad%d" % i, filters)
            p = subprocess.run([SLUICE, "validate", "-c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 78, (i, p.stdout, p.stderr))
            err = p.stderr.decode()
            self.assertIn(want, err, i)
            self.assertIn("bad%d.yaml" % i, err, "the error names the file")
        # `run` refuses the same config before starting anything.
        path = self.write_config("badrun", cases[0][0])
        try:
            p = subprocess.run([SLUICE, "run", "-c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
        except subprocess.TimeoutExpired:
            self.fail("sluice run started with a bad filter pattern")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("mappings[0].filters[1]: body.kind", p.stdout.decode())

    def test_good_patterns_validate(self):
        path = self.write_config("good", FILTERS + [
            {"$or": [{"method": ["PUT"]}, {"query": [{"prefix": "src="}]}]},
            {"id": [{"exists": True}], "body": {"tags": [{"anything-but": ["test"]}]}},
            {"Pattern": json.dumps({"path": [{"wildcard": "/hooks/*"}]})},
        ])
        p = subprocess.run([SLUICE, "validate", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"ok", p.stdout)


if __name__ == "__main__":
    main()
