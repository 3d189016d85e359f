"""False positives: the binary's `scan --json` over at least 200 MB of this machine's own files
(programs, shared libraries, the Python standard library, package documentation) and over
archives of them built here (zip, tar.gz, tar.xz, tar.bz2, .gz and a zip of archives) finds
nothing: no Infected, no Suspicious, and every archive looked into (Clean, not Unscannable).
A positive control (EICAR among the same files, and inside a built archive) makes sure the
scan it reads is a real one. Larger corpora and the third-party rule sets: scripts/bench."""

import bz2
import gzip
import io
import json
import os
import subprocess
import tarfile
import tempfile
import unittest
import sys
import zipfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
import invariants  # noqa: E402
from emulator import EICAR  # noqa: E402

MB = 1 << 20
# Where a machine with only Rust and Python has real files of every kind, and how many MB of each.
ROOTS = (
    ("/usr/share/doc", 60),
    ("/usr/lib/python3", 40),
    ("/usr/lib/python3.11", 40),
    ("/usr/share/perl", 20),
    ("/usr/bin", 120),
    ("/usr/sbin", 20),
    ("/usr/lib/x86_64-linux-gnu", 120),
    ("/usr/lib/aarch64-linux-gnu", 120),
)
REQUIRED_BYTES = 200 * MB
LARGEST_FILE = 48 * MB
CHUNK = 1500  # paths per `scan` run, far below the argument-list limit


def corpus():
    """Regular readable files under ROOTS, in a stable order, up to each root's share."""
    files, total = [], 0
    for root, share in ROOTS:
        taken = 0
        for dirpath, dirnames, names in os.walk(root):
            dirnames.sort()
            for name in sorted(names):
                path = os.path.join(dirpath, name)
                if os.path.islink(path) or not os.path.isfile(path) or not os.access(path, os.R_OK):
                    continue
                size = os.path.getsize(path)
                if size == 0 or size > LARGEST_FILE or taken >= share * MB:
                    continue
                files.append(path)
                taken += size
        total += taken
    return files, total


def scan(paths):
    """The binary's verdict for each path: {path: (verdict, matches, error)}."""
    results = {}
    for i in range(0, len(paths), CHUNK):
        run = subprocess.run(
            [invariants.binary(), "scan", "--json", *paths[i : i + CHUNK]],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode not in (0, 1, 2):
            raise AssertionError(f"scan exited {run.returncode}: {run.stderr[-2000:]}")
        for line in run.stdout.splitlines():
            item = json.loads(line)
            results[item["path"]] = (item["verdict"], item["matches"], item["error"])
    return results


def tar_of(paths, mode):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as t:
        for path in paths:
            t.add(path, arcname=path.lstrip("/"), recursive=False)
    return out.getvalue()


def zip_of(members, compression=zipfile.ZIP_DEFLATED):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def archives(files, into):
    """Archives of slices of the corpus, written under `into`: {file name: path}."""
    docs = [f for f in files if f.startswith("/usr/share/doc/")][:1500]
    python = [f for f in files if "/python3" in f][:1500]
    programs = [f for f in files if f.startswith(("/usr/bin/", "/usr/sbin/"))][:60]
    libs = [f for f in files if f.endswith(".so") or ".so." in f][:40]
    if not (docs and python and programs and libs):
        raise AssertionError(f"the corpus lacks docs, Python, programs or libraries: {ROOTS}")
    made = {
        "docs.zip": zip_of((f.lstrip("/"), read(f)) for f in docs),
        "python.tar.gz": tar_of(python, "w:gz"),
        "programs.tar.xz": tar_of(programs, "w:xz"),
        "libs.tar.bz2": tar_of(libs, "w:bz2"),
        "program.gz": gzip.compress(read(programs[0]), compresslevel=1),
        "library.bz2": bz2.compress(read(libs[0]), compresslevel=1),
    }
    made["nested.zip"] = zip_of(
        [("inner/docs.zip", made["docs.zip"]), ("inner/python.tar.gz", made["python.tar.gz"])],
        zipfile.ZIP_STORED,
    )
    paths = {}
    for name, data in made.items():
        paths[name] = os.path.join(into, name)
        with open(paths[name], "wb") as f:
            f.write(data)
    return paths


class BenignCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files, cls.total = corpus()
        cls.tmp = tempfile.TemporaryDirectory(prefix="s3-yara-scan-benign-")
        cls.archives = archives(cls.files, cls.tmp.name)
        cls.results = scan(cls.files + sorted(cls.archives.values()))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_the_corpus_is_large_enough_and_every_file_was_scanned(self):
        self.assertGreaterEqual(self.total, REQUIRED_BYTES, f"only {self.total / MB:.0f} MB under {ROOTS}")
        missing = [f for f in self.files if f not in self.results]
        self.assertEqual(missing[:5], [], f"{len(missing)} files without a verdict")
        print(f"\nbenign corpus: {len(self.files)} files, {self.total / MB:.0f} MB, {len(self.archives)} archives")

    def test_no_file_of_the_machine_is_infected_or_suspicious(self):
        found = {p: r for p, r in self.results.items() if r[0] in ("Infected", "Suspicious")}
        self.assertEqual(found, {}, "false positives (verdict, matches, error) by path")

    def test_archives_of_them_are_looked_into_and_clean(self):
        verdicts = {name: self.results[path] for name, path in self.archives.items()}
        self.assertEqual({n: v[0] for n, v in verdicts.items()}, {n: "Clean" for n in verdicts}, verdicts)

    def test_the_same_scan_finds_eicar_among_them_and_inside_an_archive(self):
        # The positive control: a scan that reported everything Clean would pass the tests above.
        with tempfile.TemporaryDirectory() as tmp:
            plain = os.path.join(tmp, "eicar.com")
            with open(plain, "wb") as f:
                f.write(EICAR)
            nested = os.path.join(tmp, "with-eicar.tar.gz")
            inner = zip_of([("docs/readme.txt", b"hello"), ("docs/eicar.com", EICAR)])
            with open(nested, "wb") as f:
                out = io.BytesIO()
                with tarfile.open(fileobj=out, mode="w:gz") as t:
                    info = tarfile.TarInfo("bundle/inner.zip")
                    info.size = len(inner)
                    t.addfile(info, io.BytesIO(inner))
                f.write(out.getvalue())
            results = scan([self.files[0], plain, nested])
        self.assertEqual(results[self.files[0]][0], "Clean")
        self.assertEqual(results[plain][0], "Infected", results[plain])
        self.assertEqual(results[nested][0], "Infected", results[nested])
        self.assertTrue(any("inner.zip>" in m for m in results[nested][1]), results[nested])


if __name__ == "__main__":
    unittest.main()
