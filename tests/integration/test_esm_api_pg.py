"""The event-source-mapping API on a PostgreSQL queue source: a mapping made through the API
gets the source's own rule as a mapping of the file does (Lambda's: the queue's visibility
timeout may not be shorter than the function's timeout), and then delivers the queue's rows.
Real PostgreSQL, real binary (docs/ESM_API.md, docs/POSTGRES.md)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.dirname(__file__))
import test_pg_queue as common  # noqa: E402
from harness import json_body, main, wait_until  # noqa: E402

PATH = "/2015-03-31/event-source-mappings"


class EsmApiPgQueue(common.PgQueueTest):
    def test_the_visibility_rule_then_delivery(self):
        pg = self.pg()
        fn = self.sfn()
        cfg = self.config(pg, fn, source={"visibility_timeout": "5s"}, function={"timeout": "2s"})
        cfg["mappings"] = []
        cfg["functions"].append({"name": "slow", "type": "http", "url": fn.url, "timeout": "10s"})
        self.init(cfg)
        s = self.sluice(cfg)
        status, hdrs, data = s.admin("POST", PATH, {"EventSourceArn": "orders",
                                                    "FunctionName": "slow"})
        body = json_body(data)
        self.assertEqual((status, hdrs.get("x-amzn-errortype")),
                         (400, "InvalidParameterValueException"), body)
        self.assertIn("Queue visibility timeout: 5 seconds is less than Function timeout: "
                      "10 seconds", body["message"])
        self.assertEqual(json_body(s.admin("GET", PATH)[2])["EventSourceMappings"], [])

        status, _, data = s.admin("POST", PATH, {"EventSourceArn": "orders", "FunctionName": "fn"})
        self.assertEqual(status, 202, data)
        uuid = json_body(data)["UUID"]
        wait_until(lambda: json_body(s.admin("GET", PATH + "/" + uuid)[2])["State"] == "Enabled",
                   what="Enabled")
        ids = self.produce(pg, 5)
        wait_until(lambda: pg.scalar("SELECT count(*) FROM jobs") == 0, what="queue drained")
        self.assertEqual(len(ids), 5)


if __name__ == "__main__":
    main()
