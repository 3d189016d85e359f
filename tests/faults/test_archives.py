"""Archives through the real binary on the emulator: EICAR nested five containers deep is found
and named by its path; a gzip bomb and a zip bomb, built here, end Unscannable in bounded time
and memory; an encrypted member and a corrupt archive are handled as documented; a benign
archive of real files stays Clean. Containers that break or hide members never come out Clean
(a zip whose 2nd local header is broken, a tar whose 2nd header checksum is bad, two zips
concatenated, a zip after a PNG-like prefix: the EICAR behind each is found); objects stored
with a Content-Encoding are scanned decoded; a member that can never fit in memory settles its
object. (Every format, zstd and 7z included, and six levels, are in the unit tests of
src/inspect; 7z coders and the br and zstd encodings, which Python cannot write here, in
tests/integration/containers.rs.) What a hostile review then hid is found too: a member in the
room a zip's directory gives another, archives in the extent a 7z, a sparse tar or a stream
inside other bytes declares, tar entries of every type and V7 tars, zip entries whose mode or
name says they are no file, an xz stream whose dictionary is over the limit (Unscannable),
each member of a gzip file alone, a directory crowded out by false records; copies of
archives that compressors keep as they are stay Clean."""

import bz2
import gzip
import io
import lzma
import random
import resource
import struct
import tarfile
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


def hidden_member(hidden):
    """A zip of a.txt whose directory says its compressed data runs on over a member no
    directory lists (eicar.com holding `hidden`): Java's ZipInputStream reads it after a.txt's
    stream ends (the review's hide.zip)."""
    z = zip_of([("a.txt", b"hello world, hello world"), ("eicar.com", hidden)])
    end = len(z) - 22
    directory = struct.unpack_from("<I", z, end + 16)[0]
    first = 46 + sum(struct.unpack_from("<HHH", z, directory + 28))
    data = 30 + sum(struct.unpack_from("<HH", z, 26))
    entry = bytearray(z[directory:directory + first])
    struct.pack_into("<I", entry, 20, directory - data)
    record = bytearray(z[end:])
    struct.pack_into("<HHI", record, 8, 1, 1, first)
    return z[:directory] + bytes(entry) + bytes(record)


def poly_7z(inner):
    """An empty 7z whose next header lies after `inner` (the review's poly.7z)."""
    following = b"\x01\x00"
    start = struct.pack("<QQI", len(inner), len(following), zlib.crc32(following))
    head = b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<I", zlib.crc32(start)) + start
    return head + inner + following


def with_checksum(header):
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def blocks(data):
    return data + bytes(-len(data) % 512)


def sparse_tar(name, chunk, size):
    """A GNU sparse tar of `name`: `chunk`, then a hole up to `size` (only the chunk stored)."""
    info = tarfile.TarInfo(name)
    info.size, info.type = len(chunk), tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    # The sparse map (offset, length): the chunk, then an empty one where the file ends;
    # then the size of the file written out.
    for at, number in ((386, 0), (398, len(chunk)), (410, size), (422, 0), (483, size)):
        header[at:at + 12] = b"%011o\0" % number
    return with_checksum(header) + blocks(chunk) + bytes(1024)


def v7_tar(name, data):
    """A tar without the `ustar` magic, as `tar --format=v7` writes it."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.uid, info.gid = len(data), 1_700_000_000, 1000, 1000
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[257:] = bytes(512 - 257)
    return with_checksum(header) + blocks(data) + bytes(1024)


def typed_tar(kind, data):
    """A tar of eicar.com whose entry type is `kind` (b"7" contiguous, b"Z" unknown...)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo("eicar.com")
        info.size, info.type = len(data), kind
        t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def moded_zip(name, data, unix_mode=None):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        if unix_mode is not None:
            info.create_system, info.external_attr = 3, unix_mode << 16
        z.writestr(info, data)
    return out.getvalue()


def big_dictionary_xz(data):
    """`data` in xz, its block's LZMA2 dictionary said to be 1 GiB (`xz -dc` decodes it)."""
    x = bytearray(lzma.compress(data, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32))
    size = (x[12] + 1) * 4
    header = x[12:12 + size]
    header[header.index(b"\x21\x01") + 2] = 36
    header[-4:] = struct.pack("<I", zlib.crc32(bytes(header[:-4])))
    x[12:12 + size] = header
    return bytes(x)


class Unseekable(io.RawIOBase):
    """Where zipfile writes members with data descriptors (it cannot go back)."""

    def __init__(self):
        self.written = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.written += b
        return len(b)


def crowded_out(data):
    """A zip streamed with data descriptors holding `data`, then a zip whose stored member
    holds 17 end-of-central-directory records (the review's cat2.zip)."""
    out = Unseekable()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("eicar.com", data)
    junk = b"hello" + (b"PK\x05\x06" + bytes(18)) * 17
    return bytes(out.written) + zip_of([("readme.txt", junk)], zipfile.ZIP_STORED)


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

    def test_what_containers_declare_hides_no_member(self):
        """Each was Clean: a member in the room a zip's directory gives another's compressed
        data, a zip inside the extent an empty 7z declares, a zip after a sparse tar whose
        file says it is 200,000 bytes, a zip after a gzip stream inside text, each entry type
        of tar, V7 tars, zip entries with a symlink mode or a name ending in a backslash, a
        gzip file whose first member is EICAR, a zip crowded out by 17 false directory
        records. Copies of archives that compressors keep as they are stay Clean."""
        text = b"text, a gzip stream: " + gzip.compress(b"nothing") + b", then a zip: "
        hole = sparse_tar("hole.bin", b"hello", 200_000)
        inner = zip_of([(f"m{i}.bin", random.Random(i).randbytes(60_000 + 40_000 * i))
                        for i in range(4)])
        cases = {
            "hide.zip": (hidden_member(EICAR), "hide.zip/eicar.com"),
            "poly.7z": (poly_7z(zip_of([("eicar.com", EICAR)])), "poly.7z/@32.zip/eicar.com"),
            "tarzip.bin": (hole + zip_of([("a.com", EICAR)]), f"tarzip.bin/@{len(hole)}.zip/a.com"),
            "d.txt": (text + zip_of([("a.com", EICAR)]), f"d.txt/@{len(text)}.zip/a.com"),
            "cont.tar": (typed_tar(tarfile.CONTTYPE, EICAR), "cont.tar/eicar.com"),
            "unk.tar": (typed_tar(b"Z", EICAR), "unk.tar/eicar.com"),
            "sparse.tar": (sparse_tar("eicar.com", EICAR, 100), "sparse.tar/eicar.com"),
            "v7.tar": (v7_tar("eicar.com", EICAR), "v7.tar/eicar.com"),
            "v7.tgz": (gzip.compress(v7_tar("eicar.com", EICAR)), "v7.tgz/v7.tar/eicar.com"),
            "link.zip": (moded_zip("eicar.com", EICAR, 0o120777), "link.zip/eicar.com"),
            "bs.zip": (moded_zip("eicar.com\\", EICAR), "bs.zip/eicar.com_"),
            "cat.gz": (gzip.compress(EICAR) + gzip.compress(b" " * 200), "cat.gz/cat_1"),
            "cat2.zip": (crowded_out(EICAR), "cat2.zip/eicar.com"),
        }
        w = World(self.proxy_url, self.control, versioned=True)
        for key, (body, _) in cases.items():
            w.put(key, body, True, key)
        w.put("cat.html", gzip.compress(EICAR) + gzip.compress(b" " * 200), True, "cat.html",
              ContentEncoding="gzip")
        w.put("zipzip.zip", zip_of([("inner.zip", inner)]), False, "zipzip.zip")
        w.put("inner.tar.gz", gzip.compress(tar_of([("inner.zip", inner)], "w")), False,
              "inner.tar.gz")
        w.put("inner.tar.xz", lzma.compress(tar_of([("inner.zip", inner)], "w")), False,
              "inner.tar.xz")
        w.put("clean-hide.zip", hidden_member(b"nothing to see"), False, "clean-hide.zip")
        states, context = self.settle(w, ACTION="tag")
        for key, (_, member) in cases.items():
            self.assertEqual(states[key].verdict, "Infected", f"{key}: {context}")
            self.assertIn(f"{member}:EICAR_Test_File", states[key].tags["scan-matches"], key)
        self.assertIn("cat.html/Content-Encoding=gzip_1:EICAR_Test_File",
                      states["cat.html"].tags["scan-matches"], context)
        for key in ("zipzip.zip", "inner.tar.gz", "inner.tar.xz", "clean-hide.zip"):
            self.assertEqual(states[key].verdict, "Clean", f"{key}: {context}")

    def test_a_stream_a_decoders_limit_refuses_is_unscannable(self):
        """An xz stream whose dictionary is 1 GiB (xz -dc decodes it; the decoder's limit is
        256 MiB) was Clean, alone and in a zip: it is Unscannable, naming why. A gzip header
        with nothing that decodes after it is still only noted (Clean)."""
        big = big_dictionary_xz(EICAR)
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("big.xz", big, True, "xz")
        w.put("big.zip", zip_of([("big.xz", big)]), True, "in a zip")
        w.put("head.gz", bytes([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff]), False, "head")
        states, context = self.settle(w, ACTION="tag")
        for kind, at in (("xz", "big.xz_big"), ("in a zip", "big.zip_big.xz_big")):
            self.assertEqual(states[kind].verdict, "Unscannable", f"{kind}: {context}")
            self.assertIn(f"{at} could not be decoded in full: needed memory",
                          states[kind].tags["scan-detail"], kind)
        self.assertEqual(states["head"].verdict, "Clean", context)
