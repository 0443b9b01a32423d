"""PostgreSQL fixtures for sluice tests: a real PostgreSQL 15 server (initdb into a fresh folder,
a free loopback port, wal_level=logical), started as a child process and stopped by its pid,
restartable on the same port and data folder; and a small client (psycopg2, autocommit).

initdb and postgres refuse to run as root: as root they run as the `postgres` user (created by
Debian's postgresql-common), in a folder that user owns under the system temp folder.
"""
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

import psycopg2
import psycopg2.extras

from harness import free_port, wait_until  # noqa: F401 (free_port: re-exported)

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")


def _as_postgres():
    """preexec_fn for a child that must not run as root (None when we are not root)."""
    if os.geteuid() != 0:
        return None, None
    pw = pwd.getpwnam("postgres")

    def drop():
        os.setgid(pw.pw_gid)
        os.setgroups([])
        os.setuid(pw.pw_uid)

    return drop, pw


class PgServer:
    """A PostgreSQL 15 server on 127.0.0.1:<free port>. start() runs initdb the first time;
    stop() = SIGINT (fast shutdown), then waits for the pid; kill9() = SIGKILL of the
    postmaster (its children are then ended too, as PostgreSQL does when the postmaster dies);
    restart() reuses the port and the data folder."""

    def __init__(self, workdir=None, port=None, settings=None):
        drop, pw = _as_postgres()
        self._drop = drop
        self.dir = tempfile.mkdtemp(prefix="sluice-pg-")
        os.chmod(self.dir, 0o700)
        if pw:
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = port or free_port()
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "wal_level": "logical",
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            "fsync": "off",
            "unix_socket_directories": self.dir,
            "wal_sender_timeout": "60s",
        }
        self.settings.update(settings or {})
        self.proc = None
        self.user = "postgres"
        self.dbname = "postgres"

    def _run(self, args):
        r = subprocess.run(args, preexec_fn=self._drop, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise AssertionError("%s failed (%d):\n%s" % (args[0], r.returncode, r.stdout))

    def start(self):
        if not os.path.exists(os.path.join(self.data, "PG_VERSION")):
            self._run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust",
                       "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
        args = [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port)]
        for k, v in self.settings.items():
            args += ["-c", "%s=%s" % (k, v)]
        self.log_path = os.path.join(self.dir, "postgres.log")
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, preexec_fn=self._drop, stdout=logf,
                                     stderr=subprocess.STDOUT)
        logf.close()

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("postgres exited with %d; log:\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                c = psycopg2.connect(self.dsn(), connect_timeout=2)
                c.close()
                return True
            except psycopg2.OperationalError:
                return False

        wait_until(ready, timeout=60, what="postgres to accept connections", interval=0.05)
        return self

    def dsn(self, **extra):
        """A libpq connection string (keyword=value) for this server."""
        kv = {"host": "127.0.0.1", "port": str(self.port), "user": self.user,
              "dbname": self.dbname}
        kv.update({k: str(v) for k, v in extra.items()})
        return " ".join("%s=%s" % (k, v) for k, v in kv.items())

    def url(self):
        return "postgresql://%s@127.0.0.1:%d/%s" % (self.user, self.port, self.dbname)

    def connect(self, **extra):
        """A psycopg2 connection in autocommit mode."""
        c = psycopg2.connect(self.dsn(**extra))
        c.autocommit = True
        return c

    def query(self, sql, args=None):
        """Runs one statement on a fresh connection; returns its rows (a list of tuples), or []
        for a statement without a result."""
        c = self.connect()
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else []
        finally:
            c.close()

    def scalar(self, sql, args=None):
        rows = self.query(sql, args)
        return rows[0][0] if rows else None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-4000:]
        except (OSError, AttributeError):
            return ""

    def _wait_down(self):
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # The postmaster's children end after it; a restart needs the port and the shared
        # memory back, which the next postmaster's start checks (postmaster.pid).
        self.proc = None

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self._wait_down()
        self.proc = None

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self._wait_down()

    def restart(self):
        self.stop()
        return self.start()

    def drop_slots(self):
        """Drops every replication slot (a leftover slot holds WAL); waits for slots still in
        use by a walsender that is going away."""
        def dropped():
            rows = self.query("SELECT slot_name, active FROM pg_replication_slots")
            for name, active in rows:
                if active:
                    return False
                self.query("SELECT pg_drop_replication_slot(%s)", (name,))
            return True

        if self.proc and self.proc.poll() is None:
            wait_until(dropped, timeout=60, what="replication slots to be dropped")

    def destroy(self):
        """stop() and remove the data folder (teardown)."""
        try:
            self.drop_slots()
        finally:
            self.stop()
            shutil.rmtree(self.dir, ignore_errors=True)

    def problems(self):
        return None


def wait_rows(pg, sql, expect, timeout=60, what=None):
    """Waits until the single value `sql` returns equals expect."""
    last = [None]

    def ok():
        last[0] = pg.scalar(sql)
        return last[0] == expect

    try:
        wait_until(ok, timeout=timeout, what=what or ("%s = %r" % (sql, expect)))
    except AssertionError as e:
        raise AssertionError("%s (last: %r)" % (e, last[0]))


if __name__ == "__main__":
    # Self-check: start, query, restart, stop.
    t0 = time.monotonic()
    s = PgServer().start()
    print("started in %.2fs on port %d" % (time.monotonic() - t0, s.port))
    print(s.scalar("SHOW wal_level"))
    s.restart()
    print(s.scalar("SELECT 1"))
    s.destroy()
