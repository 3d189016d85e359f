"""False positives: the binary's `scan --json` over 450 MB of this machine's own files
(programs, shared libraries, the Python standard library, package documentation, locales) and
over archives of them built here (zip, tar.gz, tar.xz, tar.bz2, .gz, .bz2 and a zip of
archives) finds nothing: no Infected, no Suspicious, and every archive looked into (Clean, not
Unscannable). A positive control (EICAR among the same files, and every EICAR variant of the
detection table) makes sure the scan it reads is a real one. The corpus and archives are
scripts/detection.py's, which builds the 1 GB table of scripts/bench."""

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import detection  # noqa: E402
import invariants  # noqa: E402

MB = detection.MB
CORPUS_MB = 450
REQUIRED_BYTES = 200 * MB


class BenignCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.binary = invariants.binary()
        cls.files, cls.total = detection.corpus(CORPUS_MB)
        cls.tmp = tempfile.TemporaryDirectory(prefix="s3-yara-scan-benign-")
        cls.archives, _ = detection.archives(cls.files, cls.tmp.name)
        cls.results, _ = detection.ours(cls.binary, cls.files + sorted(cls.archives.values()))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_corpus_is_large_enough_and_every_file_was_scanned(self):
        self.assertGreaterEqual(self.total, REQUIRED_BYTES, f"only {self.total / MB:.0f} MB under {detection.ROOTS}")
        missing = [f for f in self.files if f not in self.results]
        self.assertEqual(missing[:5], [], f"{len(missing)} files without a verdict")
        print(f"\nbenign corpus: {len(self.files)} files, {self.total / MB:.0f} MB, {len(self.archives)} archives")

    def test_no_file_of_the_machine_is_infected_or_suspicious(self):
        self.assertEqual(detection.flagged(self.results), {}, "false positives (verdict, matches) by path")

    def test_archives_of_them_are_looked_into_and_clean(self):
        verdicts = {name: self.results[path][0] for name, path in self.archives.items()}
        self.assertEqual(verdicts, {name: "Clean" for name in verdicts})

    def test_the_same_scan_finds_eicar_among_them_and_in_every_variant(self):
        # The positive control: a scan that reported everything Clean would pass the tests above.
        with tempfile.TemporaryDirectory() as tmp:
            variants = detection.eicar_variants(tmp)
            results, _ = detection.ours(self.binary, [self.files[0], *variants.values()])
        self.assertEqual(results.pop(self.files[0])[0], "Clean")
        verdicts = {os.path.basename(p): r[0] for p, r in results.items()}
        expected = {name: "Infected" for name in variants}
        expected["encrypted.zip"] = "Unscannable"
        self.assertEqual(verdicts, expected)
        nested = results[variants["six-deep.zip"]][1]
        # Named by its path through all six containers (streams keep the name less its suffix).
        self.assertEqual(nested, ["six-deep.zip>l5.tar>l4.gz>l4>l4>l4>eicar.com:EICAR_Test_File"])


if __name__ == "__main__":
    unittest.main()
