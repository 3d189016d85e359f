"""Archives through the real binary on the emulator: EICAR nested five containers deep is found
and named by its path; a gzip bomb and a zip bomb, built here, end Unscannable in bounded time
and memory; an encrypted member and a corrupt archive are handled as documented; a benign
archive of real files stays Clean. (Every format, zstd and 7z included, and six levels, are in
the unit tests of src/inspect.)"""

import bz2
import gzip
import lzma
import resource
import time

from tests.faults.support import EICAR, ProxyTestCase, World

from detection import encrypted_flags, tar_of, zip_of  # noqa: E402  (scripts/, on the path through support)


class Archives(ProxyTestCase):
    def setUp(self):
        self.control.clear()

    def settle(self, w, **env):
        runs = []
        dlq = w.deliver(w.records(), runs=runs, **env)
        context = "\n".join(r.stderr[-3000:] for r in runs)
        report = w.check(dlq, action=env.get("ACTION", "quarantine"))
        self.assertInvariants(report, context)
        self.assertEqual(dlq, [], context)
        return {s.upload.kind: s for s in report.objects}, context

    def test_eicar_nested_five_deep_is_quarantined_and_named_by_its_path(self):
        w = World(self.proxy_url, self.control, versioned=True)
        inner = lzma.compress(EICAR)
        nested = zip_of([("b.tar", tar_of([("c.gz", gzip.compress(bz2.compress(inner)))], "w"))])
        w.put("in/a.zip", nested, True, "nested")
        states, context = self.settle(w)
        state = states["nested"]
        self.assertEqual(state.status, "quarantined", context)
        matches = state.copies[0][2]["scan-matches"]
        # S3 allows no `>` in tag values: there the levels are separated by `/`.
        self.assertEqual(matches, "a.zip/b.tar/c.gz/c/c/c:EICAR_Test_File", context)
        self.assertIn("a.zip>b.tar>c.gz>c>c>c:EICAR_Test_File", context, "the log keeps `>`")

    def test_bombs_are_unscannable_in_bounded_time_and_memory(self):
        w = World(self.proxy_url, self.control, versioned=True)
        zeros = bytes(256 << 20)
        w.put("gzip-bomb.gz", gzip.compress(zeros, 1), False, "gzip bomb")
        w.put("zip-bomb.zip", zip_of([(f"z{i}.bin", zeros) for i in range(4)]), False, "zip bomb")
        started = time.time()
        states, context = self.settle(w, ACTION="tag")
        elapsed = time.time() - started
        for kind in ("gzip bomb", "zip bomb"):
            self.assertEqual(states[kind].verdict, "Unscannable", context)
            self.assertIn("ARCHIVE_MAX_RATIO", states[kind].tags["scan-detail"], context)
        self.assertLess(elapsed, 60, context)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        self.assertLess(peak_mib, 512, "peak RSS of the handle processes")

    def test_encrypted_corrupt_and_benign_archives(self):
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("locked.zip", encrypted_flags(zip_of([("secret.txt", b"text")])), False, "encrypted")
        w.put("broken.zip", zip_of([("a.txt", b"hello " * 100)])[:120], False, "corrupt")
        sources = [(p, open(p, "rb").read()) for p in ("README.md", "Cargo.toml", "build.rs")]
        w.put("sources.tar.gz", gzip.compress(tar_of(sources, "w")), False, "benign")
        states, context = self.settle(w, ACTION="tag")
        self.assertEqual(states["encrypted"].verdict, "Unscannable", context)
        self.assertIn("encrypted member locked.zip_secret.txt",
                      states["encrypted"].tags["scan-detail"], "`>` is no tag character")
        self.assertEqual(states["corrupt"].verdict, "Clean", context)
        self.assertIn("archive not read in full", context)
        self.assertEqual(states["benign"].verdict, "Clean", context)
