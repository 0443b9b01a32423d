"""The docs say what the code does: ARCHITECTURE.md's layout names every folder and file as
they are, FILTERS.md's example is valid and warns about nothing, REDIS.md claims no more than
the Redis source and sink do."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SRC, SluiceTest, main  # noqa: E402

MODULES = ("core", "config", "clients", "server", "sources", "dispatcher", "dlq", "mappings",
           "cli", "demo")


def tracked():
    out = subprocess.run(["git", "-C", SRC, "ls-files"], stdout=subprocess.PIPE, check=True)
    return [p for p in out.stdout.decode().splitlines() if "/corpus/" not in p]


def doc(name):
    with open(os.path.join(SRC, "docs", name)) as f:
        return f.read()


class Docs(SluiceTest):
    def layout(self):
        text = doc("ARCHITECTURE.md")
        block = text.split("## Layout", 1)[1].split("```", 2)[1]
        folders, current = {}, None
        for line in block.splitlines():
            m = re.match(r"^([a-z]+)/\s", line)
            if m:
                current = m.group(1)
                folders[current] = ""
            if current:
                folders[current] += line[len(current) + 1:] if m else line
                folders[current] += "\n"
        return block, folders

    def test_architecture_layout_is_current(self):
        block, folders = self.layout()
        files = tracked()
        if not files:
            self.skipTest("not a git checkout")
        top = {p.split("/")[0] for p in files if "/" in p and not p.startswith(".")}
        for p in files:
            if p.startswith(".") and "/" in p:
                self.assertIn(p, block)  # .ci/run
        self.assertEqual(top - set(folders), set(), "folders missing from the layout")
        for f in folders:
            self.assertIn(f, top, "the layout names a folder that does not exist: " + f)
        for f, text in folders.items():
            words = set(re.findall(r"[A-Za-z_][\w.-]*/?", text))
            under = [p[len(f) + 1:] for p in files if p.startswith(f + "/")]
            subdirs = {p.split("/")[0] + "/" for p in under if "/" in p}
            if f != "tests":
                self.assertEqual(subdirs - words, set(), "subfolders of %s/ not listed" % f)
            # Every file named with its extension exists in the folder.
            names = {os.path.basename(p) for p in under}
            for w in words:
                if re.search(r"\.(c|h|py|md|cmake|lua)$", w):
                    self.assertIn(w, names, "%s/ lists %s, which does not exist" % (f, w))
            # Every C file of a module folder is listed (as x, x.c or x.h).
            if f in MODULES:
                for p in under:
                    base = os.path.basename(p)
                    stem, ext = os.path.splitext(base)
                    if ext in (".c", ".h"):
                        self.assertTrue(base in words or stem in words,
                                        "%s/%s is not in the layout" % (f, p))

    def test_filters_example_is_valid_and_warns_about_nothing(self):
        example = doc("FILTERS.md").split("```yaml", 1)[1].split("```", 1)[0]
        path = os.path.join(self.workdir, "filters.yaml")
        with open(path, "w") as f:
            f.write("functions:\n  - {name: orders, type: http, url: 'http://127.0.0.1:1/'}\n")
            f.write(example)
        p = subprocess.run([SLUICE, "validate", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr, b"", "the example makes validate warn")

    def test_redis_doc_claims_what_the_code_does(self):
        text = doc("REDIS.md")
        # The event is Kinesis-shaped, not the AWS event field for field (eventSource,
        # eventSourceARN are sluice's), and no admin API route shows a sink's description.
        self.assertNotIn("Kinesis event, field for field", text)
        self.assertNotIn("DLQ description", text)
        self.assertIn('"eventSource": "sluice:redis"', text)


if __name__ == "__main__":
    main()
