"""What a webhook pusher gets while sluice shuts down (docs/OPERATIONS.md, "Shutdown and
crashes"): from the first signal, new connections are refused, idle keep-alive connections are
closed, and a request still arriving is answered 503 shutting_down; a record already accepted
is delivered (or stays in the spool)."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import EXIT_ABANDONED, SluiceTest, base_config, main, wait_until  # noqa: E402


def read_until_closed(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


class ShutdownWebhook(SluiceTest):
    def test_what_a_pusher_gets_while_draining(self):
        # The function holds a batch, so the drain lasts until the second signal.
        fn = self.fn(script=[{"delayMs": 60000, "count": 1}])
        s = self.sluice(base_config(self.workdir, fn.url))
        self.post_many(s, 1)
        wait_until(lambda: len(fn.invocations()) >= 1, what="a batch in flight")

        idle = socket.create_connection(("127.0.0.1", s.push_port))
        arriving = socket.create_connection(("127.0.0.1", s.push_port))
        arriving.sendall(b"POST /hooks/orders HTTP/1.1\r\nHost: sluice\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                         b"Expect: 100-continue\r\n\r\n")
        arriving.settimeout(10)
        self.assertIn(b"100 Continue", arriving.recv(4096))  # its headers are in

        s.proc.send_signal(signal.SIGTERM)
        s.out.wait_for(r"draining")
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", s.push_port), timeout=5)
        self.assertEqual(read_until_closed(idle), b"")
        arriving.sendall(b"{}")
        answer = read_until_closed(arriving)
        self.assertTrue(answer.startswith(b"HTTP/1.1 503"), answer)
        self.assertIn(b"shutting_down", answer)
        self.assertIn(b"Connection: close", answer)
        self.assertIn(b"Retry-After: 1\r\n", answer)

        s.expected_exit = EXIT_ABANDONED
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(s.proc.wait(30), EXIT_ABANDONED)
        for sock in (idle, arriving):
            sock.close()


if __name__ == "__main__":
    main()
