"""Lambda's event-source-mapping API on the admin listener (docs/ESM_API.md): create, list
(pages), get, update, disable, enable and delete mappings of configured webhook sources to a
real function (sluice-fn); records flow while enabled and wait while disabled; the mappings
survive a restart; Lambda's status codes, error types and messages. Real binary."""
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (SluiceTest, base_config, free_port, json_body, main, to_yaml,  # noqa: E402
                     wait_until)
import sigv4  # noqa: E402

PATH = "/2015-03-31/event-source-mappings"
ARN = "arn:sluice:http:local:000000000000:source/%s"


class EsmApi(SluiceTest):
    def config(self, fn):
        cfg = base_config(self.workdir, fn.url)
        # A fixed admin port: `sluice mappings` finds the running sluice through the config.
        cfg["admin"]["listen"] = "127.0.0.1:%d" % free_port()
        for name in ("a", "b", "c", "d"):
            cfg["sources"].append({"name": name, "type": "http"})
        return cfg

    def call(self, s, method, path, body=None):
        status, hdrs, data = s.admin(method, path, body)
        return status, hdrs, json_body(data)

    def get(self, s, uuid):
        status, _, doc = self.call(s, "GET", PATH + "/" + uuid)
        self.assertEqual(status, 200, doc)
        return doc

    def wait_state(self, s, uuid, state):
        wait_until(lambda: self.get(s, uuid)["State"] == state, what="State " + state)

    def create(self, s, source, **fields):
        body = dict({"EventSourceArn": ARN % source, "FunctionName": "fn"}, **fields)
        status, _, doc = self.call(s, "POST", PATH, body)
        self.assertEqual(status, 202, doc)
        self.assertEqual(doc["State"], "Creating")
        return doc

    def assert_error(self, result, status, etype, pattern=None):
        got_status, hdrs, doc = result
        self.assertEqual(got_status, status, doc)
        self.assertEqual(hdrs.get("x-amzn-errortype"), etype)
        self.assertEqual(doc["Type"], "User")
        if pattern:
            self.assertRegex(doc["message"], pattern)

    def test_lifecycle_flow_and_restart(self):
        fn = self.fn()
        cfg = self.config(fn)
        s = self.sluice(cfg)
        doc = self.create(s, "a", BatchSize=10)
        uuid = doc["UUID"]
        self.assertRegex(uuid, r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                               r"[0-9a-f]{12}$")
        self.assertEqual((doc["BatchSize"], doc["EventSourceArn"]), (10, ARN % "a"))
        self.assertTrue(doc["FunctionArn"].endswith(":function:fn"), doc)
        self.wait_state(s, uuid, "Enabled")
        # A sluice mapping like the file's: in /v1/mappings under its name.
        status, _, m = self.call(s, "GET", "/v1/mappings/esm-" + uuid)
        self.assertEqual((status, m["State"]), (200, "Enabled"))

        first = self.post_many(s, 3, hook="a")
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(first), what="3 deliveries")

        status, _, doc = self.call(s, "PUT", PATH + "/" + uuid, {"BatchSize": 5})
        self.assertEqual((status, doc["State"], doc["BatchSize"]), (202, "Updating", 5), doc)
        self.wait_state(s, uuid, "Enabled")
        self.assertEqual(self.get(s, uuid)["BatchSize"], 5)

        status, _, doc = self.call(s, "PUT", PATH + "/" + uuid, {"Enabled": False})
        self.assertEqual((status, doc["State"]), (202, "Disabling"), doc)
        self.wait_state(s, uuid, "Disabled")
        held = self.post_many(s, 2, hook="a")
        wait_until(lambda: s.metrics().get("sluice_spool_depth") == 2, what="2 rows spooled")
        self.assertEqual(len(fn.delivered_ids()), 3)

        status, _, doc = self.call(s, "PUT", PATH + "/" + uuid, {"Enabled": True})
        self.assertEqual((status, doc["State"]), (202, "Enabling"), doc)
        self.wait_state(s, uuid, "Enabled")
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(first + held),
                   what="the held records delivered once enabled")

        # Kept in the store: the same mapping after a restart, and it still delivers.
        self.assertEqual(s.terminate(), 0)
        s = self.sluice(cfg)
        doc = self.get(s, uuid)
        self.assertEqual((doc["State"], doc["BatchSize"]), ("Enabled", 5), doc)
        late = self.post_many(s, 1, hook="a")
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(first + held + late),
                   what="delivery after the restart")
        table = s.cli("mappings").stdout.decode()
        self.assertIn("esm-" + uuid, table)

        status, _, doc = self.call(s, "DELETE", PATH + "/" + uuid)
        self.assertEqual((status, doc["State"]), (202, "Deleting"), doc)
        wait_until(lambda: s.admin("GET", PATH + "/" + uuid)[0] == 404, what="deleted")
        status, _, _ = self.call(s, "GET", "/v1/mappings/esm-" + uuid)
        self.assertEqual(status, 404)
        # Deleted for good: not back after a restart, and its source no longer read.
        self.assertEqual(s.terminate(), 0)
        s = self.sluice(cfg)
        self.assertEqual(self.call(s, "GET", PATH)[2]["EventSourceMappings"], [])
        self.post_many(s, 1, hook="a")
        wait_until(lambda: s.metrics().get("sluice_spool_depth") == 1, what="1 row spooled")
        self.assertEqual(len(fn.delivered_ids()), 6)

    def test_list_pages_and_filters(self):
        fn = self.fn()
        s = self.sluice(self.config(fn))
        made = [self.create(s, name)["UUID"] for name in ("a", "b", "c")]
        status, _, page = self.call(s, "GET", PATH + "?MaxItems=2")
        self.assertEqual(status, 200, page)
        self.assertEqual([m["UUID"] for m in page["EventSourceMappings"]], made[:2])
        self.assertEqual(page["NextMarker"], made[1])
        status, _, page = self.call(s, "GET", PATH + "?MaxItems=2&Marker=" + page["NextMarker"])
        self.assertEqual([m["UUID"] for m in page["EventSourceMappings"]], made[2:])
        self.assertNotIn("NextMarker", page)
        status, _, page = self.call(s, "GET", PATH + "?EventSourceArn=" + ARN % "b")
        self.assertEqual([m["UUID"] for m in page["EventSourceMappings"]], made[1:2])
        status, _, page = self.call(s, "GET", PATH + "?FunctionName=fn")
        self.assertEqual(len(page["EventSourceMappings"]), 3)
        self.assert_error(self.call(s, "GET", PATH + "?MaxItems=0"), 400,
                          "InvalidParameterValueException", r"maxItems")
        self.assert_error(self.call(s, "GET", PATH + "?Marker=nope"), 400,
                          "InvalidParameterValueException")
        for uuid in made:
            self.wait_state(s, uuid, "Enabled")

    def test_errors(self):
        fn = self.fn()
        s = self.sluice(self.config(fn))
        uuid = self.create(s, "a")["UUID"]
        self.assert_error(
            self.call(s, "POST", PATH, {"EventSourceArn": ARN % "a", "FunctionName": "fn"}), 409,
            "ResourceConflictException",
            r'^The event source arn \(" %s "\) and function \(" fn "\) provided mapping already '
            r'exists\. Please update or delete the existing mapping with UUID %s$'
            % (ARN % "a", uuid))
        # The file's mapping reads "orders" with "fn": Lambda's duplicate rule holds against it.
        self.assert_error(
            self.call(s, "POST", PATH, {"EventSourceArn": ARN % "orders", "FunctionName": "fn"}),
            409, "ResourceConflictException", r"orders-to-fn")
        self.assert_error(self.call(s, "GET", PATH + "/0e5b1d7a-4c1f-4c43-9a59-000000000000"),
                          404, "ResourceNotFoundException")
        self.assert_error(
            self.call(s, "POST", PATH,
                      {"EventSourceArn": ARN % "b", "FunctionName": "fn", "BatchSize": 0}),
            400, "InvalidParameterValueException",
            r"Value '0' at 'batchSize' failed to satisfy constraint: Member must have value "
            r"greater than or equal to 1")
        self.assert_error(
            self.call(s, "POST", PATH, {"EventSourceArn": ARN % "b", "FunctionName": "nofn"}),
            404, "ResourceNotFoundException", r"^Function not found: .*:function:nofn$")
        self.assert_error(
            self.call(s, "POST", PATH, {"EventSourceArn": ARN % "zz", "FunctionName": "fn"}),
            400, "InvalidParameterValueException")
        self.wait_state(s, uuid, "Enabled")
        self.assert_error(self.call(s, "PUT", PATH + "/" + uuid, {"EventSourceArn": ARN % "b"}),
                          400, "InvalidParameterValueException", r"^EventSourceArn cannot be updated")
        self.assert_error(self.call(s, "PUT", PATH + "/" + uuid, {"BatchSize": 10001}), 400,
                          "InvalidParameterValueException", r"less than or equal to 10000")
        self.assert_error(self.call(s, "PUT", PATH + "/" + uuid, {"Nonsense": 1}), 400,
                          "InvalidParameterValueException", r"Nonsense")
        # Nothing of that changed the mapping.
        doc = self.get(s, uuid)
        self.assertEqual((doc["State"], doc["BatchSize"], doc["EventSourceArn"]),
                         ("Enabled", 100, ARN % "a"))

    def test_an_api_mapping_beside_a_file_mapping_of_one_hook(self):
        # A push source fans out: the file's mapping and an API mapping of another function
        # each get every record.
        fn, fn2 = self.fn(), self.fn()
        cfg = self.config(fn)
        cfg["functions"].append({"name": "fn2", "type": "http", "url": fn2.url})
        s = self.sluice(cfg)
        uuid = self.create(s, "orders", FunctionName="fn2")["UUID"]
        self.wait_state(s, uuid, "Enabled")
        ids = self.post_many(s, 5, hook="orders")
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="the file's mapping")
        wait_until(lambda: sorted(fn2.delivered_ids()) == sorted(ids), what="the API mapping")

    def test_reload_keeps_api_mappings_and_refuses_a_name_clash(self):
        fn = self.fn()
        cfg = self.config(fn)
        s = self.sluice(cfg)
        uuid = self.create(s, "a")["UUID"]
        self.wait_state(s, uuid, "Enabled")
        status, _, body = self.call(s, "POST", "/v1/reload")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.get(s, uuid)["State"], "Enabled")
        # The file takes the API mapping's name: the reload is refused, nothing changes.
        cfg["mappings"].append({"name": "esm-" + uuid, "source": "b", "function": "fn"})
        with open(s.config_path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        status, _, body = self.call(s, "POST", "/v1/reload")
        self.assertEqual(status, 400, body)
        self.assertIn(uuid, body["message"])
        ids = self.post_many(s, 2, hook="a")
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="still delivering")

    def test_a_mapping_whose_source_left_the_file_does_not_run(self):
        fn = self.fn()
        cfg = self.config(fn)
        s = self.sluice(cfg)
        gone = self.create(s, "a")["UUID"]
        kept = self.create(s, "b")["UUID"]
        self.wait_state(s, gone, "Enabled")
        self.wait_state(s, kept, "Enabled")
        self.assertEqual(s.terminate(), 0)
        cfg["sources"] = [src for src in cfg["sources"] if src["name"] != "a"]
        s = self.sluice(cfg)
        doc = self.get(s, gone)
        self.assertEqual((doc["State"], doc["StateTransitionReason"]),
                         ("Disabled", "ESM_CONFIG_NOT_VALID"))
        self.assertRegex(doc["LastProcessingResult"], r'^PROBLEM: .*source "a"')
        self.assertEqual(self.get(s, kept)["State"], "Enabled")
        # The others still change, and the broken one can be deleted.
        status, _, _ = self.call(s, "PUT", PATH + "/" + kept, {"BatchSize": 3})
        self.assertEqual(status, 202)
        self.wait_state(s, kept, "Enabled")
        self.assertEqual(self.call(s, "DELETE", PATH + "/" + gone)[0], 202)
        wait_until(lambda: s.admin("GET", PATH + "/" + gone)[0] == 404, what="deleted")
        ids = self.post_many(s, 2, hook="b")
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="b delivers")

    def test_sigv4_is_verified_when_keys_are_set(self):
        fn = self.fn()
        cfg = self.config(fn)
        cfg["admin"]["aws_credentials"] = [{"access_key_id": "AKIDONE", "secret_access_key": "s1"},
                                           {"access_key_id": "AKIDTWO", "secret_access_key": "s2"}]
        s = self.sluice(cfg)
        host = "127.0.0.1:%d" % s.admin_port

        def signed(method, path, body, key="AKIDTWO", secret="s2", skew=0, tamper=None):
            when = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                seconds=skew)
            amz_date = when.strftime("%Y%m%dT%H%M%SZ")
            payload = json.dumps(body).encode() if body is not None else b""
            path_only, _, query = path.partition("?")
            headers = {"Host": host, "X-Amz-Date": amz_date}
            if body is not None:
                headers["Content-Type"] = "application/json"
            headers["Authorization"] = sigv4.sign(method, path_only, query, headers, payload,
                                                  key, secret, "eu-west-1", "lambda", amz_date)
            return s.admin(method, path, tamper if tamper is not None else
                           (payload if body is not None else None), headers)

        body = {"EventSourceArn": ARN % "a", "FunctionName": "fn"}
        status, _, data = signed("POST", PATH, body)
        self.assertEqual(status, 202, data)
        status, _, data = signed("GET", PATH + "?MaxItems=5&FunctionName=fn", None)
        self.assertEqual((status, len(json_body(data)["EventSourceMappings"])), (200, 1), data)
        refused = [
            ("unknown key", signed("GET", PATH, None, key="AKIDNONE", secret="s2"),
             "UnrecognizedClientException"),
            ("other key's secret", signed("GET", PATH, None, secret="s1"),
             "InvalidSignatureException"),
            ("6 minutes old", signed("GET", PATH, None, skew=-360), "InvalidSignatureException"),
            ("6 minutes ahead", signed("GET", PATH, None, skew=360), "InvalidSignatureException"),
            ("body changed after signing",
             signed("POST", PATH, dict(body, BatchSize=5), tamper=json.dumps(
                 dict(body, BatchSize=6)).encode()), "InvalidSignatureException"),
            ("unsigned", s.admin("GET", PATH), "MissingAuthenticationTokenException"),
        ]
        for what, (status, hdrs, data), etype in refused:
            self.assertEqual((status, hdrs.get("x-amzn-errortype")), (403, etype), what)
        # Within the bound: accepted.
        self.assertEqual(signed("GET", PATH, None, skew=-240)[0], 200)


if __name__ == "__main__":
    main()
