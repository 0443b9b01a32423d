"""`sluice validate` on mappings sharing a source (docs/ARCHITECTURE.md, "Fan-out"): a pull
source's readers per mapping are checked (a clash of groups, a bad reader key, each naming the
mapping's key path and line); `reader` on a type without readers and a second mapping of a
postgres-queue source are refused with why. No server is contacted."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SLUICE, SluiceTest, main  # noqa: E402

HEAD = """store: {dir: ./data}
functions:
  - {name: fn, type: http, url: "http://127.0.0.1:9/"}
sources:
"""


class ReadersValidate(SluiceTest):
    def validate(self, sources, mappings):
        path = os.path.join(self.workdir, "cfg.yaml")
        with open(path, "w") as f:
            f.write(HEAD + sources + "mappings:\n" + mappings)
        p = subprocess.run([SLUICE, "validate", "-c", path], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return p.returncode, p.stdout.decode() + p.stderr.decode()

    def test_kafka_group_clash_names_both_mappings_and_the_line(self):
        src = "  - {name: ev, type: kafka, bootstrap_servers: 127.0.0.1:9, topics: [t]}\n"
        rc, out = self.validate(src, "  - {name: a, source: ev, function: fn}\n"
                                     "  - name: b\n    source: ev\n    function: fn\n"
                                     "    reader: {group: sluice-ev}\n")
        self.assertEqual(rc, 78, out)
        self.assertIn('cfg.yaml:11: mappings[1].reader.group: mappings "a" and "b" both read '
                      'source "ev" with group_id "sluice-ev" (allowed: a group_id of its own per '
                      'mapping', out)
        rc, out = self.validate(src, "  - {name: a, source: ev, function: fn}\n"
                                     "  - {name: b, source: ev, function: fn, reader: {group: b}}\n")
        self.assertEqual(rc, 0, out)

    def test_bad_reader_value_names_the_mapping_key(self):
        src = "  - {name: ev, type: kafka, bootstrap_servers: 127.0.0.1:9, topics: [t]}\n"
        rc, out = self.validate(src, "  - name: a\n    source: ev\n    function: fn\n"
                                     "    reader: {starting_position: at}\n")
        self.assertEqual(rc, 78, out)
        self.assertIn("mappings[0].reader.starting_timestamp", out)
        rc, out = self.validate(src, "  - name: a\n    source: ev\n    function: fn\n"
                                     "    reader: {starting_position: sometime}\n")
        self.assertIn('mappings[0].reader.starting_position: "sometime"', out)
        self.assertNotIn("sources[0].starting_position", out)

    def test_reader_refused_on_a_type_without_readers(self):
        rc, out = self.validate("  - {name: hook, type: http}\n",
                                "  - {name: a, source: hook, function: fn, reader: {group: g}}\n")
        self.assertEqual(rc, 78, out)
        self.assertIn('mappings[0].reader: source "hook" is of type http, which has no reader of '
                      'its own per mapping (allowed: reader with a source of type redis, kafka, '
                      'postgres-cdc)', out)

    def test_postgres_queue_keeps_one_mapping(self):
        rc, out = self.validate(
            "  - {name: jobs, type: postgres-queue, conninfo: 'host=127.0.0.1 port=9', "
            "table: jobs}\n",
            "  - {name: a, source: jobs, function: fn}\n"
            "  - {name: b, source: jobs, function: fn}\n")
        self.assertEqual(rc, 78, out)
        self.assertIn('mappings[1].source: "jobs" is already read by mapping "a" (allowed: one '
                      "mapping per postgres-queue source: a queue's rows are claimed once", out)

    def test_cdc_slots_per_mapping(self):
        src = ("  - {name: cdc, type: postgres-cdc, conninfo: 'host=127.0.0.1 port=9', "
               "publication: pub}\n")
        rc, out = self.validate(src, "  - {name: a, source: cdc, function: fn}\n"
                                     "  - {name: b, source: cdc, function: fn}\n")
        self.assertEqual(rc, 78, out)
        self.assertIn('with slot "sluice_cdc"', out)
        rc, out = self.validate(src, "  - {name: a, source: cdc, function: fn}\n"
                                     "  - {name: b, source: cdc, function: fn, "
                                     "reader: {group: slot_b}}\n")
        self.assertEqual(rc, 0, out)
        rc, out = self.validate(src, "  - {name: a, source: cdc, function: fn}\n"
                                     "  - {name: b, source: cdc, function: fn, "
                                     "reader: {group: Slot-B}}\n")
        self.assertIn("mappings[1].reader.group", out)


if __name__ == "__main__":
    main()
