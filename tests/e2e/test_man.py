"""sluice(1): `sluice config man` writes the manual page from the --help texts and the property
tables: every command of `sluice --help` with its own --help, every section and key of
`sluice config docs`; groff and man(1) render it without warnings; the build writes the same
page (SLUICE_BUILD/sluice.1, installed to share/man/man1)."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import BUILD, SLUICE, main  # noqa: E402


def run(*args, env=None):
    p = subprocess.run([SLUICE] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60, env=env)
    assert p.returncode == 0, (args, p.stderr)
    return p.stdout.decode()


def roff(text):
    """text as the page writes it (man.c: '-' as '\\-', Markdown code spans without '`')."""
    return text.replace("\\", "\\e").replace("-", "\\-")


class Man(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.page = run("config", "man")
        cls.lines = cls.page.splitlines()

    def commands(self):
        out, names, on = run("--help"), [], False
        for line in out.splitlines():
            if line.startswith("commands:"):
                on = True
            elif on and not line.strip():
                break
            elif on:
                m = re.match(r"  (\S+) +(.+)$", line)
                self.assertIsNotNone(m, line)
                names.append((m.group(1), m.group(2)))
        return names

    def test_every_command_with_its_help(self):
        names = self.commands()
        self.assertEqual([n for n, _ in names],
                         ["run", "validate", "init", "dlq", "mappings", "reload", "config",
                          "version"])
        self.assertTrue(self.page.startswith(".\\\""))
        self.assertIn('.TH SLUICE 1 ""', self.page)
        section = self.page[self.page.index(".SH COMMANDS"):self.page.index(".SH CONFIGURATION")]
        tagged = re.findall(r"^\.TP\n\.B (\S+)\n(.*)$", section, re.M)
        self.assertEqual(tagged, [(n, roff(s)) for n, s in names])
        for name, _ in names:
            if name == "version":
                continue
            help_text = subprocess.run([SLUICE, name, "--help"], stdout=subprocess.PIPE,
                                       timeout=60).stdout.decode()
            for line in help_text.splitlines():
                if line:
                    self.assertIn("\n" + roff(line) + "\n", section, (name, line))
            first = help_text.splitlines()[0]
            self.assertIn(".B sluice\n" + roff(first[len("usage: sluice "):]) + "\n", self.page)

    def test_every_config_section_and_key(self):
        md = run("config", "docs")
        page = self.page
        section = page[page.index(".SH CONFIGURATION"):page.index(".SH ENVIRONMENT")]
        headings = re.findall(r"^## (.+)$", md, re.M)
        self.assertGreater(len(headings), 10)
        subsections = re.findall(r"^\.SS (.+)$", section, re.M)
        self.assertEqual(subsections, [roff(h.replace("`", "")) for h in headings])
        keys = re.findall(r"^\| `([^`]+)` \|", md, re.M)
        self.assertGreater(len(keys), 50)
        tagged = re.findall(r"^\.TP\n\.B (.+)$", section, re.M)
        self.assertEqual(tagged, [roff(k) for k in keys])

    def test_renders_without_warnings(self):
        path = os.path.join(BUILD, "sluice.1")
        with open(path) as f:
            self.assertEqual(f.read(), self.page, "the built sluice.1 is stale")
        groff = shutil.which("groff")
        man = shutil.which("man")
        if not groff and not man:
            self.skipTest("neither groff (groff-base) nor man (man-db) is installed")
        if groff:
            p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", path],
                               stderr=subprocess.PIPE, timeout=60)
            self.assertEqual(p.returncode, 0)
            self.assertEqual(p.stderr.decode(), "", "groff warnings")
        if man:
            env = dict(os.environ, MANWIDTH="80", MAN_DISABLE_SECCOMP="1")
            p = subprocess.run([man, "--warnings", "-l", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=60, env=env)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr.decode(), "", "man warnings")
            text = p.stdout.decode()
            for word in ("SYNOPSIS", "COMMANDS", "CONFIGURATION", "store.dir"):
                self.assertIn(word, text)


if __name__ == "__main__":
    main()
