"""The schedule source's own time zone reader and cron search, checked against an independent
implementation: Python's zoneinfo over the same system tz database. Offsets of every zone at
instants from 1906 to 2190 (past the files' last transitions, where their POSIX rule applies),
and the fire times of random cron expressions in zones with daylight saving (including 30- and
45-minute offsets and southern-hemisphere rules) found by walking every minute: a wall time a
change skips does not fire, one it repeats fires at its first occurrence only (fold 0)."""
import datetime as dt
import os
import random
import subprocess
import sys
import unittest
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import harness  # noqa: E402

TOOL = os.path.join(harness.BUILD, "tests", "lib", "schedule_tool")
DST_ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "Australia/Lord_Howe",
             "America/Santiago", "Europe/London", "Pacific/Chatham", "America/Havana", "UTC"]


def transitions(zone, year):
    """Instants (Unix seconds, to the minute) at which the zone's offset changes in year."""
    z = zoneinfo.ZoneInfo(zone)
    t = int(dt.datetime(year, 1, 1, tzinfo=dt.timezone.utc).timestamp())
    end, out = t + 366 * 86400, []
    off = dt.datetime.fromtimestamp(t, tz=z).utcoffset()
    while t < end:
        nxt = dt.datetime.fromtimestamp(t + 3600, tz=z).utcoffset()
        if nxt != off:
            m = t
            while dt.datetime.fromtimestamp(m, tz=z).utcoffset() == off:
                m += 60
            out.append(m)
            off = nxt
        t += 3600
    return out


def tool(*args, stdin):
    p = subprocess.run([TOOL] + list(args), input=stdin, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


class Oracle(unittest.TestCase):
    def test_offsets_of_every_zone(self):
        zones = sorted(z for z in zoneinfo.available_timezones()
                       if not z.startswith(("posix/", "right/")))
        start, step, count = -2000000000, 61 * 86400 + 3607, 1700  # 1906 .. 2190
        lines = tool("offsets", str(start), str(step), str(count), stdin="\n".join(zones))
        self.assertEqual(len(lines), len(zones))
        mismatches = []
        for line in lines:
            name, *offs = line.split()
            self.assertNotEqual(offs[0], "ERR", line)
            z = zoneinfo.ZoneInfo(name)
            for i, off in enumerate(offs):
                t = start + i * step
                want = int(dt.datetime.fromtimestamp(t, tz=z).utcoffset().total_seconds())
                if int(off) != want:
                    mismatches.append((name, t, int(off), want))
        self.assertEqual(mismatches[:10], [])

    def test_random_crons_against_a_minute_walk(self):
        rnd = random.Random(20261130)

        def field(lo, hi):
            k = rnd.random()
            if k < 0.3:
                return "*", set(range(lo, hi + 1))
            if k < 0.5:
                a, step = rnd.randint(lo, hi), rnd.randint(1, max(1, (hi - lo) // 2))
                return "%d/%d" % (a, step), set(range(a, hi + 1, step))
            if k < 0.75:
                a = rnd.randint(lo, hi)
                b = rnd.randint(a, hi)
                return "%d-%d" % (a, b), set(range(a, b + 1))
            vals = sorted({rnd.randint(lo, hi) for _ in range(rnd.randint(1, 3))})
            return ",".join(map(str, vals)), set(vals)

        cases = []
        for _ in range(120):
            mi, mins = field(0, 59)
            h, hours = field(0, 23)
            mo, months = field(1, 12)
            if rnd.random() < 0.5:
                (dom, doms), (dow, dows) = field(1, 31), ("?", None)
            else:
                (dom, doms), (dow, dows) = ("?", None), field(1, 7)
            if rnd.random() < 0.5:  # every hour and month: fires around the change itself
                (h, hours), (mo, months) = ("*", set(range(24))), ("*", set(range(1, 13)))
            zone = rnd.choice(DST_ZONES)
            # Start up to six hours before one of the zone's changes in 2027, if it has any.
            changes = transitions(zone, 2027)
            start = (rnd.choice(changes) if changes else 1800000000) - rnd.randint(0, 6 * 3600)
            cases.append(("cron(%s %s %s %s %s *)" % (mi, h, dom, mo, dow), zone,
                          start * 1000, (mins, hours, doms, months, dows)))
        lines = tool("next", stdin="\n".join("%s|%s|%d|6" % c[:3] for c in cases))
        self.assertEqual(len(lines), len(cases))
        for (expr, zone, start, (mins, hours, doms, months, dows)), line in zip(cases, lines):
            got = [int(x) for x in line.split()]
            z, want = zoneinfo.ZoneInfo(zone), []
            u = (start // 60000 + 1) * 60
            end = u + 2 * 366 * 86400
            while len(want) < 6 and u < end:
                t = dt.datetime.fromtimestamp(u, tz=z)
                if (t.second == 0 and t.fold == 0 and t.minute in mins and t.hour in hours
                        and t.month in months and (doms is None or t.day in doms)
                        and (dows is None or t.isoweekday() % 7 + 1 in dows)):
                    want.append(u * 1000)
                u += 60
            self.assertEqual(got[:len(want)], want, "%s in %s from %d" % (expr, zone, start))


if __name__ == "__main__":
    unittest.main(verbosity=2)
