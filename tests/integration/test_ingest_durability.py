"""A 202 means durable: concurrent pushers, sluice killed with -9 mid-ingest, a restart, and
every id that was answered 202 is delivered. Real sluice, real SQLite store, real sockets."""
import http.client
import json
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SluiceTest, base_config, main, wait_until  # noqa: E402


class IngestDurability(SluiceTest):
    def test_every_202_survives_kill9(self):
        fn = self.fn()
        cfg = base_config(self.workdir, fn.url, mapping={"batch": {"size": 50, "window": "50ms"}})
        s = self.sluice(cfg)
        accepted = []
        lock = threading.Lock()
        stop = threading.Event()

        def pusher(k):
            conn = http.client.HTTPConnection("127.0.0.1", s.push_port, timeout=10)
            i = 0
            while not stop.is_set():
                try:
                    conn.request("POST", "/hooks/orders", body=json.dumps({"p": k, "i": i}),
                                 headers={"Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException):
                    return  # sluice is gone
                if r.status == 202:
                    with lock:
                        accepted.append(json.loads(data)["id"])
                i += 1

        threads = [threading.Thread(target=pusher, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        wait_until(lambda: len(accepted) >= 500, what="500 accepted pushes")
        s.kill9()
        stop.set()
        for t in threads:
            t.join(30)
        got = set(accepted)
        self.assertGreaterEqual(len(got), 500)
        self.sluice(cfg, name="sluice")
        wait_until(lambda: set(fn.delivered_ids()) >= got, timeout=120,
                   what="every 202'd id delivered after the restart")
        # Records are delivered at least once; nothing that was answered 202 is missing.
        self.assertTrue(got <= set(fn.delivered_ids()))


if __name__ == "__main__":
    main()
