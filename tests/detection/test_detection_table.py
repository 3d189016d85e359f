"""scripts/detection.py, the detection table of scripts/bench, in its small version: it runs to
the end on the binary, writes its JSON and table, and its embedded row says what the tests of
test_benign_corpus.py prove (no false positive, every EICAR variant but the encrypted one)."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
import detection  # noqa: E402
import invariants  # noqa: E402


class DetectionTable(unittest.TestCase):
    def test_the_smoke_table_has_the_embedded_row(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "detection.json")
            run = subprocess.run(
                [sys.executable, detection.__file__, "--smoke", "--benign-mb", "5", "--binary", invariants.binary(), "--json", out],
                capture_output=True,
                text=True,
                check=False,
            )
            self.assertEqual(run.returncode, 0, run.stderr[-3000:])
            with open(out) as f:
                report = json.load(f)
        row = report["rows"]["embedded"]
        self.assertEqual(row["benign_flagged"], [])
        self.assertEqual(len(row["eicar_found"]), report["inputs"]["eicar"] - 1)
        self.assertNotIn("encrypted.zip", row["eicar_found"])
        self.assertIn("| embedded | 0 (", run.stdout)
        if report["inputs"]["testfiles"]:
            # ClamAV's test file itself, and inside the zip and tar.gz it ships.
            self.assertTrue({"clam.exe", "clam.zip", "clam.tar.gz"} <= set(row["testfiles_found"]), row)


if __name__ == "__main__":
    unittest.main()
