"""Clients of the shared push intake (docs/SCALE_OUT.md): posts that alternate between sluice
processes behind a pretend load balancer and are retried when refused, with one process killed
with -9 half way.

Standard library only."""
import threading

import harness


def post_until_accepted(targets, n, body, attempts=300, hook="orders"):
    """Posts body to targets in turn (starting at n % len(targets)) until one answers 2xx;
    a 503 or a connection that fails is retried at the next target. Returns (id, refusals)."""
    refusals = 0
    for i in range(attempts):
        s = targets[(n + i) % len(targets)]
        try:
            status, _, data = s.post(hook, body)
        except OSError:
            status, data = None, b""  # the process is gone
        if status is not None and 200 <= status < 300:
            return harness.json_body(data)["id"], refusals
        refusals += 1
        if status is not None and status != 503:
            raise AssertionError("post %d: %d %r" % (n, status, data))
    raise AssertionError("post %d never accepted" % n)


def post_and_kill(targets, victim, total, clients):
    """Posts {"n": 0..total-1} from `clients` threads, alternating between targets (a load
    balancer that does not know one died); kills victim with -9 once half are accepted, with
    posts in flight. Returns ({n: id}, refusals retried)."""
    accepted, refused = {}, [0]
    lock = threading.Lock()
    half = threading.Event()
    errors = []

    def client(k):
        try:
            for n in range(k, total, clients):
                ident, nref = post_until_accepted(targets, n, {"n": n})
                with lock:
                    accepted[n] = ident
                    refused[0] += nref
                    if len(accepted) >= total // 2:
                        half.set()
        except AssertionError as e:
            errors.append(e)
            half.set()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    if not half.wait(120):
        raise AssertionError("half of the posts not accepted in 120 s")
    victim.kill9()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return accepted, refused[0]
