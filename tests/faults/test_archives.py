"""Archives through the real binary on the emulator: EICAR nested five containers deep is found
and named by its path; a gzip bomb and a zip bomb, built here, end Unscannable in bounded time
and memory; an encrypted member and a corrupt archive are handled as documented; a benign
archive of real files stays Clean. Containers that break or hide members never come out Clean
(a zip whose 2nd local header is broken, a tar whose 2nd header checksum is bad, two zips
concatenated, a zip after a PNG-like prefix: the EICAR behind each is found); objects stored
with a Content-Encoding are scanned decoded; a member that can never fit in memory settles its
object. (Every format, zstd and 7z included, and six levels, are in the unit tests of
src/inspect; 7z coders and the br and zstd encodings, which Python cannot write here, in
tests/integration/containers.rs.)"""

import bz2
import gzip
import lzma
import random
import resource
import time
import zipfile
import zlib

from tests.faults.support import EICAR, WEBSHELL, ProxyTestCase, World

from detection import (  # noqa: E402  (scripts/, on the path through support)
    bad_second_tar_checksum, broken_second_local_header, encrypted_flags, png_like, tar_of, zip_of)


def report_like(size):
    """`size` bytes of text that compress about 10 to 1, made the same on every run."""
    rng, lines, total, i = random.Random(20), [], 0, 0
    while total < size:
        line = b"line %08d of the report, nothing to see here %s\n" % (
            i, bytes(rng.choice(b"0123456789abcdef") for _ in range(3)))
        lines.append(line)
        total, i = total + len(line), i + 1
    return b"".join(lines)[:size]


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
        self.assertEqual(states["corrupt"].verdict, "Unscannable", context)
        self.assertIn("broken.zip", states["corrupt"].tags["scan-detail"], context)
        self.assertEqual(states["benign"].verdict, "Clean", context)

    def test_corrupt_archives_with_a_payload_that_matches_anywhere(self):
        """A zip cut after a stored member holding a web shell (whose rule matches at any
        offset): Infected, by its bytes and its member; bytes that only look like a zip are
        scanned as bytes, noted in the log, and the shell in them found."""
        w = World(self.proxy_url, self.control, versioned=True)
        cut = zip_of([("shell.php", WEBSHELL), ("b.txt", b"b" * 400)], zipfile.ZIP_STORED)[:150]
        w.put("cut.zip", cut, True, "cut after a member")
        w.put("fake.zip", b"PK\x03\x04 is no zip; " + WEBSHELL, True, "looks like a zip")
        states, context = self.settle(w, ACTION="tag")
        cut_state = states["cut after a member"]
        self.assertEqual(cut_state.verdict, "Infected", context)
        self.assertIn("cut.zip/shell.php:Webshell_PHP_Request_Eval",
                      cut_state.tags["scan-matches"], context)
        self.assertEqual(states["looks like a zip"].verdict, "Infected", context)
        self.assertIn("ZIP fake.zip not read", context, "noted in the log")

    def test_containers_that_break_or_hide_members_never_hide_eicar(self):
        """Each archive hides EICAR behind a break or after another archive; each comes out
        Infected (it was Clean when only the first error or the last directory was read)."""
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("bad-local.zip", broken_second_local_header(
            [("a.txt", b"first"), ("b.txt", b"second"), ("eicar.com", EICAR)]),
            True, "zip, 2nd local header broken")
        w.put("bad-sum.tar", bad_second_tar_checksum(
            [("a.txt", b"a" * 600), ("b.txt", b"second"), ("eicar.com", EICAR)]),
            True, "tar, 2nd header checksum bad")
        w.put("two.zip", zip_of([("eicar.com", EICAR)]) + zip_of([("clean.txt", b"clean")]),
              True, "two zips, EICAR in the first")
        w.put("x.png", png_like() + zip_of([("a.com", EICAR)]), True, "zip after a PNG prefix")
        states, context = self.settle(w, ACTION="tag")
        expected = {
            "zip, 2nd local header broken": "bad-local.zip/eicar.com:EICAR_Test_File",
            "tar, 2nd header checksum bad": "bad-sum.tar/eicar.com:EICAR_Test_File",
            "two zips, EICAR in the first": "two.zip/eicar.com:EICAR_Test_File",
            "zip after a PNG prefix": "x.png/@108.zip/a.com:EICAR_Test_File",
        }
        for kind, match in expected.items():
            self.assertEqual(states[kind].verdict, "Infected", f"{kind}: {context}")
            self.assertIn(match, states[kind].tags["scan-matches"], kind)
        # Without the EICAR, the break makes them Unscannable, never Clean.
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("bad-local.zip", broken_second_local_header([("a.txt", b"1"), ("b.txt", b"2")]),
              False, "zip")
        w.put("bad-sum.tar", bad_second_tar_checksum([("a.txt", b"1"), ("b.txt", b"2")]),
              False, "tar")
        states, context = self.settle(w, ACTION="tag")
        self.assertIn("ZIP bad-local.zip_b.txt is damaged", states["zip"].tags["scan-detail"])
        self.assertIn("TAR bad-sum.tar is damaged", states["tar"].tags["scan-detail"])

    def test_objects_stored_with_a_content_encoding_are_scanned_decoded(self):
        """What browsers and HTTP clients decode is what is scanned: zlib and raw deflate,
        gzip; an encoding not decoded here, or one that does not decode, is Unscannable."""
        w = World(self.proxy_url, self.control, versioned=True)
        raw = zlib.compressobj(wbits=-15)
        raw_deflate = raw.compress(EICAR) + raw.flush()
        w.put("zlib.html", zlib.compress(EICAR), True, "deflate (zlib)", ContentEncoding="deflate")
        w.put("raw.html", raw_deflate, True, "deflate (raw)", ContentEncoding="deflate")
        w.put("gz.html", gzip.compress(EICAR), True, "gzip", ContentEncoding="gzip")
        w.put("odd.html", b"<html>", False, "unknown", ContentEncoding="compress")
        w.put("bad.html", b"not zlib at all", False, "broken", ContentEncoding="deflate")
        states, context = self.settle(w, ACTION="tag")
        for kind, key in (("deflate (zlib)", "zlib.html"), ("deflate (raw)", "raw.html"),
                          ("gzip", "gz.html")):
            self.assertEqual(states[kind].verdict, "Infected", f"{kind}: {context}")
            coding = "gzip" if kind == "gzip" else "deflate"
            self.assertIn(f"{key}/Content-Encoding={coding}:EICAR_Test_File",
                          states[kind].tags["scan-matches"], kind)
        self.assertEqual(states["unknown"].verdict, "Unscannable", context)
        self.assertIn("Content-Encoding _compress_ is not one the scanner decodes",
                      states["unknown"].tags["scan-detail"])
        self.assertEqual(states["broken"].verdict, "Unscannable", context)
        self.assertIn("Content-Encoding deflate of bad.html could not be decoded",
                      states["broken"].tags["scan-detail"])

    def test_a_member_that_can_never_fit_in_memory_settles_its_object(self):
        """The issue's case: a zip holding a ~4 MiB stored zip holding a ~4 MiB member, under
        MAX_OBJECT_SIZE=8MiB, never settled (no room, retried until the DLQ). The member is
        spooled and scanned (the EICAR after it found); with SPOOL_DIR=off it is Unscannable
        naming MAX_OBJECT_SIZE."""
        data = report_like((4 << 20) - 200)
        inner = zip_of([("data.bin", data), ("eicar.com", EICAR)], zipfile.ZIP_STORED)
        inner_clean = zip_of([("data.bin", data)], zipfile.ZIP_STORED)
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("nested.zip", zip_of([("inner.zip", inner)]), True, "spooled")
        states, context = self.settle(w, ACTION="tag", MAX_OBJECT_SIZE="8MiB",
                                      ARCHIVE_MAX_MEMBER_SIZE="5MiB")
        self.assertEqual(states["spooled"].verdict, "Infected", context)
        self.assertIn("nested.zip/inner.zip/eicar.com:EICAR_Test_File",
                      states["spooled"].tags["scan-matches"])
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("nested.zip", zip_of([("inner.zip", inner_clean)]), False, "no spool")
        states, context = self.settle(w, ACTION="tag", MAX_OBJECT_SIZE="8MiB",
                                      ARCHIVE_MAX_MEMBER_SIZE="5MiB", SPOOL_DIR="off")
        self.assertEqual(states["no spool"].verdict, "Unscannable", context)
        self.assertIn("MAX_OBJECT_SIZE", states["no spool"].tags["scan-detail"], context)
