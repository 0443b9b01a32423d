-- wrk script: POST a small JSON event.
wrk.method = "POST"
wrk.body = '{"order": 12345, "item": "widget", "qty": 3}'
wrk.headers["Content-Type"] = "application/json"
