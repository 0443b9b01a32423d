"""Running under a service manager: sluice sends READY=1 to $NOTIFY_SOCKET once it serves and
STOPPING=1 when it starts draining (sd_notify(3) protocol, Type=notify in
packaging/sluice.service); SIGHUP (ExecReload) reloads the
configuration: RELOADING=1, then READY=1."""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import EXIT_OK, SluiceTest, base_config, http_request, main, wait_until  # noqa: E402

class Service(SluiceTest):
    def notify_socket(self):
        """A datagram socket in the workdir, as systemd's notify socket; sluice inherits its
        name through NOTIFY_SOCKET."""
        path = os.path.join(self.workdir, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        self.addCleanup(sock.close)
        return path, sock

    def recv(self, sock, timeout=60):
        sock.settimeout(timeout)
        return sock.recv(4096).decode()

    def test_ready_then_stopping(self):
        fn = self.fn()
        path, sock = self.notify_socket()
        os.environ["NOTIFY_SOCKET"] = path
        try:
            s = self.sluice(base_config(self.workdir, fn.url), start=False)
            s.start(wait_ready=False)
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertEqual(self.recv(sock), "READY=1")
        # Ready means serving: the line before READY=1 was logged (the reader thread may take
        # it a moment after the datagram), the admin API answers, a record posted is delivered.
        s.out.wait_for(r"running with 1 mappings")
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        ids = self.post_many(s, 1)
        wait_until(lambda: fn.delivered_ids() == ids, what="the record delivered")
        s.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.recv(sock), "STOPPING=1")
        self.assertEqual(s.proc.wait(60), EXIT_OK)
        # Nothing else was sent.
        sock.setblocking(False)
        with self.assertRaises(BlockingIOError):
            sock.recv(4096)

    def test_no_notify_socket_sends_nothing(self):
        fn = self.fn()
        os.environ.pop("NOTIFY_SOCKET", None)
        s = self.sluice(base_config(self.workdir, fn.url))
        self.assertEqual(s.terminate(), EXIT_OK)
        self.assertNotIn("NOTIFY_SOCKET", s.out.text())

    def test_sighup_reloads_and_sluice_keeps_serving(self):
        fn = self.fn()
        path, sock = self.notify_socket()
        os.environ["NOTIFY_SOCKET"] = path
        try:
            s = self.sluice(base_config(self.workdir, fn.url))
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertEqual(self.recv(sock), "READY=1")
        # ExecReload: RELOADING=1 (with the monotonic time systemd's notify-reload asks for),
        # then READY=1 once the file was read and applied (here: nothing changed).
        s.proc.send_signal(signal.SIGHUP)
        self.assertRegex(self.recv(sock), r"^RELOADING=1\nMONOTONIC_USEC=\d+$")
        self.assertEqual(self.recv(sock), "READY=1")
        s.out.wait_for(r"\[sluice\] SIGHUP received: reloading the configuration")
        s.out.wait_for(r"\[reload\] no changes")
        self.assertIsNone(s.proc.poll())
        self.assertEqual(s.admin("GET", "/healthz")[0], 200)
        ids = self.post_many(s, 2)
        wait_until(lambda: sorted(fn.delivered_ids()) == sorted(ids), what="records delivered")
        # A second SIGHUP reloads again; SIGTERM still drains and exits 0.
        s.proc.send_signal(signal.SIGHUP)
        self.assertRegex(self.recv(sock), r"^RELOADING=1\n")
        self.assertEqual(self.recv(sock), "READY=1")
        self.assertEqual(s.terminate(), EXIT_OK)
        self.assertEqual(self.recv(sock), "STOPPING=1")
        self.assertEqual(s.out.text().count("[reload] no changes"), 2)


if __name__ == "__main__":
    main()
