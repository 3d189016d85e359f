"""No fail-open path: each way an object could end up looking `Clean` without a scan of its bytes,
or an upload never be scanned, tried through the real `s3-yara-scan handle` on the emulator
(the fault proxy holding requests to force the races), followed by the invariant checker.

Each test names the defect of issue 10 it covers."""

import re
import time

from tests.faults.support import EICAR, WEBSHELL, ProxyTestCase, World, edit_records, invariants
from invariants import FORGED_DATE, forged_tagging

SIGNING = {"SIGNING_KEY": "k" * 40}
TAG_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectTagging:*")


def with_null_version(records):
    """As real S3 sends events of a versioning-suspended bucket: `versionId` is `null`."""
    return edit_records(records, lambda rec: rec["s3"]["object"].update(versionId="null"))


def event_names(records):
    names = []
    edit_records(records, lambda rec: names.append(rec["eventName"]))
    return names


class FailOpen(ProxyTestCase):
    def setUp(self):
        self.control.clear()

    def tags(self, w, key, version=None):
        kw = {"VersionId": version} if version else {}
        return {t["Key"]: t["Value"]
                for t in w.s3.get_object_tagging(Bucket=w.bucket, Key=key, **kw)["TagSet"]}

    def settle(self, w, records, **env):
        runs = []
        dlq = w.deliver(records, runs=runs, **env)
        context = "\n".join(r.stderr[-3000:] for r in runs)
        self.assertInvariants(w.check(dlq, action=env.get("ACTION", "quarantine")), context)
        return dlq, context

    def gets(self, key):
        return [e for e in self.control.log() if e["op"] == "GetObject"
                and (e["key"] or "").endswith(key)]

    # --- 1. no room for the verdict ------------------------------------------------------------

    def test_1_no_room_unscannable_verdict_replaces_a_forged_clean(self):
        w = World(self.proxy_url, self.control, versioned=False)
        user = [(f"u{i}", f"v{i}") for i in range(6)]
        w.put("big.bin", b"x" * 4096, False, "too large",
              Tagging=forged_tagging("Clean", user))
        dlq, context = self.settle(w, w.records(), MAX_OBJECT_SIZE="2048", SPOOL_DIR="off",
                                   **SIGNING)
        self.assertEqual(dlq, [], context)
        tags = self.tags(w, "big.bin")
        self.assertEqual(tags["scan-result"], "Unscannable", context)
        self.assertNotEqual(tags["scan-date"], FORGED_DATE)
        self.assertIn("scan-signature", tags)
        # The verdict needs five tags with a signature: one of the six user tags had to go.
        self.assertEqual(len(tags), 10)
        self.assertEqual(sum(1 for k in tags if k.startswith("u")), 5)

    def test_1_no_room_infected_tag_only_replaces_a_forged_clean(self):
        w = World(self.proxy_url, self.control, versioned=True)
        user = [(f"u{i}", f"v{i}") for i in range(6)]
        w.put("eicar.com", EICAR, True, "eicar", Tagging=forged_tagging("Clean", user))
        dlq, context = self.settle(w, w.records(), ACTION="tag", **SIGNING)
        self.assertEqual(dlq, [], context)
        tags = self.tags(w, "eicar.com")
        self.assertEqual(tags["scan-result"], "Infected", context)
        self.assertEqual(tags["scan-matches"], "EICAR_Test_File")

    def test_1_no_room_clean_removes_the_forged_verdict_and_dead_letters(self):
        w = World(self.proxy_url, self.control, versioned=True)
        user = [(f"u{i}", f"v{i}") for i in range(7)]
        w.put("crowded.txt", b"plain text\n", False, "clean", Tagging=forged_tagging("Clean", user))
        records = w.records()
        dlq, context = self.settle(w, records, **SIGNING)
        self.assertEqual(dlq, records, "absent is not clean: the message ends in the DLQ")
        tags = self.tags(w, "crowded.txt")
        self.assertEqual(tags, dict(user), "the forged verdict is gone, the user's tags stay")

    # --- 2. two uploads of one unversioned key in one batch ------------------------------------

    def test_2_every_upload_of_an_unversioned_key_in_one_batch_is_scanned(self):
        w = World(self.proxy_url, self.control, versioned=False)
        first = w.put("same/key.bin", b"a harmless first upload\n", False, "clean first")
        w.put("same/key.bin", EICAR, True, "eicar second")
        first.superseded = True
        records = w.records()
        runs = []
        dlq = w.deliver(records, runs=runs)
        context = "\n".join(r.stderr[-3000:] for r in runs)
        report = w.check(dlq)
        self.assertInvariants(report, context)
        self.assertEqual(dlq, [], context)
        states = {s.upload.kind: s.status for s in report.objects}
        self.assertEqual(states["eicar second"], "quarantined", context)

    # --- 3. versioning-suspended buckets: the null version is not immutable --------------------

    def suspended(self):
        """A versioning-suspended bucket, answering reads of its objects as S3 does: with
        version id `null` (the emulator sends none)."""
        w = World(self.proxy_url, self.control, versioned=True)
        w.suspend()
        self.control.add({"op": ["GetObject", "HeadObject"], "bucket": re.escape(w.bucket) + "$",
                          "fault": "headers", "headers": {"x-amz-version-id": "null"}})
        return w

    def test_3_suspended_bucket_late_clean_never_lands_on_a_newer_upload(self):
        w = self.suspended()
        first = w.put("doc.txt", b"a clean first version\n", False, "clean")
        records = with_null_version(w.records())
        self.control.add({"op": "PutObjectTagging", "key": "doc.txt$", "fault": "hold",
                          "times": 1, "seconds": 30})
        proc, path = invariants.start_handle(invariants.binary(), records, w.env())
        try:
            self.control.wait_held("PutObjectTagging", seconds=30)
            w.put("doc.txt", EICAR, True, "eicar replacing it")
            first.superseded = True
        finally:
            self.control.release()
        run = invariants.finish_handle(proc, path, records)
        self.assertEqual(run.failed, set(), run.stderr)
        report = w.check()
        self.assertInvariants(report, run.stderr)
        states = {s.upload.kind: s for s in report.objects}
        self.assertNotEqual(states["eicar replacing it"].verdict, "Clean", run.stderr)
        self.assertEqual(states["eicar replacing it"].status, "quarantined", run.stderr)

    def test_3_suspended_bucket_newer_clean_upload_is_never_deleted(self):
        w = self.suspended()
        first = w.put("doc.txt", EICAR, True, "eicar")
        records = with_null_version(w.records())
        self.control.add({"op": "DeleteObject", "key": "doc.txt$", "fault": "hold",
                          "times": 1, "seconds": 30})
        proc, path = invariants.start_handle(invariants.binary(), records, w.env())
        try:
            self.control.wait_held("DeleteObject", seconds=30)
            w.put("doc.txt", b"a clean replacement\n", False, "clean replacing it")
            first.superseded = True
        finally:
            self.control.release()
        run = invariants.finish_handle(proc, path, records)
        self.assertEqual(run.failed, set(), run.stderr)
        # The replacement's own event, and the copy of the infected version, settle the rest.
        dlq, context = self.settle(w, with_null_version(w.records(1)))
        report = w.check(dlq)
        states = {s.upload.kind: s for s in report.objects}
        self.assertTrue(states["clean replacing it"].in_place, run.stderr + context)
        self.assertEqual(states["clean replacing it"].verdict, "Clean", context)
        self.assertEqual(len(states["eicar"].copies), 1, run.stderr)

    # --- 4. unversioned replacement window ----------------------------------------------------

    def race_tagging(self, w, key, replace, records, env):
        """Holds the tag write of `key` while `replace()` uploads over it, then holds the next
        read of `key` (the rescan) and returns the key's tags at that moment (None when no
        second read came) and the finished run."""
        self.control.add({"op": "PutObjectTagging", "key": re.escape(key) + "$",
                          "fault": "hold", "times": 1, "seconds": 30})
        self.control.add({"op": "GetObject", "key": re.escape(key) + "$", "fault": "hold",
                          "skip": 1, "times": 1, "seconds": 30})
        proc, path = invariants.start_handle(invariants.binary(), records, w.env(**env))
        seen = None
        try:
            self.control.wait_held("PutObjectTagging", seconds=30)
            replace()
            self.control.release()
            try:
                self.control.wait_held("GetObject", seconds=10)
                seen = self.tags(w, key)
            except TimeoutError:
                pass
        finally:
            self.control.release()
        return seen, invariants.finish_handle(proc, path, records)

    def test_4_a_replacement_never_carries_the_verdict_of_the_bytes_it_replaced(self):
        w = World(self.proxy_url, self.control, versioned=False)
        first = w.put("r.txt", b"clean at first\n", False, "clean")

        def replace():
            w.put("r.txt", EICAR, True, "eicar replacing it")
            first.superseded = True
        seen, run = self.race_tagging(w, "r.txt", replace, w.records(), {})
        self.assertIsNotNone(seen, "the replacement was not read again: " + run.stderr)
        self.assertNotIn("scan-result", seen,
                         "while it waits for its rescan, the replacement carries no verdict")
        self.assertEqual(run.failed, set(), run.stderr)
        report = w.check()
        self.assertInvariants(report, run.stderr)
        states = {s.upload.kind: s.status for s in report.objects}
        self.assertEqual(states["eicar replacing it"], "quarantined", run.stderr)

    def test_4_a_same_size_md5_twin_uploaded_while_tagging_is_rescanned(self):
        w = World(self.proxy_url, self.control, versioned=False)
        body = b"the same bytes twice\n"
        first = w.put("twin.txt", body, False, "first")

        def replace():
            time.sleep(1.1)  # S3 times are whole seconds: a later upload has a later one
            w.put("twin.txt", body, False, "twin")
            first.superseded = True
        seen, run = self.race_tagging(w, "twin.txt", replace, w.records(), SIGNING)
        self.assertIsNotNone(seen, "same ETag and size, but a later upload: it must be read "
                                   "again, not trusted: " + run.stderr)
        self.assertNotIn("scan-result", seen)
        self.assertEqual(run.failed, set(), run.stderr)
        self.assertInvariants(w.check(), run.stderr)
        self.assertEqual(self.tags(w, "twin.txt")["scan-result"], "Clean")

    # --- 5. the deadline covers every step -----------------------------------------------------

    def test_5_slow_objects_are_abandoned_and_the_answer_comes_before_the_timeout(self):
        w = World(self.proxy_url, self.control, versioned=True)
        for i in range(3):
            w.put(f"slow/{i}.txt", b"slow to read\n", False, f"clean {i}")
        records = w.records()
        self.control.add({"op": "GetObject", "key": "slow/", "fault": "hold", "seconds": 8})
        started = time.time()
        proc, path = invariants.start_handle(invariants.binary(), records, w.env(), timeout=4)
        try:
            run = invariants.finish_handle(proc, path, records, timeout=30)
        finally:
            self.control.release()
        elapsed = time.time() - started
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertLess(elapsed, 4.0, "the response must leave before the function's timeout")
        self.assertEqual(run.failed, {r["messageId"] for r in records},
                         "what did not finish is retried, not acknowledged")
        self.assertIn("before the function's timeout", run.stderr)
        self.control.clear()
        dlq, context = self.settle(w, records)
        self.assertEqual(dlq, [], context)

    def test_5_room_is_reserved_before_the_read(self):
        w = World(self.proxy_url, self.control, versioned=True)
        for i in range(2):
            w.put(f"budget/{i}.bin", bytes([65 + i]) * 700_000, False, f"clean {i}")
        records = w.records()
        self.control.add({"op": "GetObject", "key": "budget/", "fault": "hold", "seconds": 10})
        env = w.env(MAX_OBJECT_SIZE="1MiB", SPOOL_DIR="off")
        proc, path = invariants.start_handle(invariants.binary(), records, env)
        most = 0
        try:
            self.control.wait_held("GetObject", seconds=30)
            for _ in range(20):  # 2 s: the second read would be in flight by then
                time.sleep(0.1)
                most = max(most, len(self.control.state()["held"]))
        finally:
            self.control.clear()
        run = invariants.finish_handle(proc, path, records)
        self.assertEqual(most, 1, "one object's room at a time: the second waits before its GET")
        self.assertEqual(run.failed, set(), run.stderr)
        self.assertInvariants(w.check(), run.stderr)

    # --- 6. Unscannable can fail closed ----------------------------------------------------------

    def test_6_unscannable_objects_can_be_quarantined(self):
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("huge.bin", b"y" * 4096, False, "too large")
        dlq, context = self.settle(w, w.records(), ACTION="tag", UNSCANNABLE_ACTION="quarantine",
                                   MAX_OBJECT_SIZE="2048", SPOOL_DIR="off")
        self.assertEqual(dlq, [], context)
        report = w.check()
        (state,) = report.objects
        self.assertFalse(state.in_place, context)
        self.assertEqual(len(state.copies), 1, context)
        self.assertEqual(state.copies[0][2]["scan-result"], "Unscannable")

    # --- 7. tag tampering after the scan -------------------------------------------------------

    def test_7_a_verdict_retagged_by_someone_else_is_rescanned(self):
        w = World(self.proxy_url, self.control, versioned=True, events=TAG_EVENTS)
        w.put("eicar.com", EICAR, True, "eicar")
        env = dict(SIGNING, ACTION="tag")
        dlq, context = self.settle(w, w.drain(), **env)
        self.assertEqual(dlq, [], context)
        # The scanner's own tag write announced itself: acknowledged without reading the object.
        own = w.drain()
        self.assertIn("ObjectTagging:Put", event_names(own))
        reads = len(self.gets("eicar.com"))
        dlq, context = self.settle(w, own, **env)
        self.assertEqual(len(self.gets("eicar.com")), reads, "own tag change: no scan")

        tags = self.tags(w, "eicar.com")
        tags["scan-result"] = "Clean"
        w.s3.put_object_tagging(Bucket=w.bucket, Key="eicar.com", Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        dlq, context = self.settle(w, w.drain(), **env)
        self.assertEqual(dlq, [], context)
        self.assertEqual(self.tags(w, "eicar.com")["scan-result"], "Infected", context)
        self.assertEqual(len(self.gets("eicar.com")), reads + 1, "tampered: scanned again")
        # The rescan's own tag write does not start another (no loop).
        dlq, context = self.settle(w, w.drain(), **env)
        self.assertEqual(len(self.gets("eicar.com")), reads + 1, context)

    def test_7_own_tag_changes_named_by_s3_cost_no_request(self):
        w = World(self.proxy_url, self.control, versioned=True, events=TAG_EVENTS)
        w.put("own.txt", b"plain\n", False, "clean")
        records = [r for r in w.drain() if "ObjectCreated" in event_names([r])[0]]
        self.settle(w, records)
        tagging = [r for r in w.drain() if "ObjectTagging" in event_names([r])[0]]
        self.assertTrue(tagging)
        named = edit_records(tagging, lambda rec: rec.update(
            userIdentity={"principalId": "AWS:AROATESTSCANNER0001:s3-yara-scan"}))
        before = len(self.control.log())
        dlq, context = self.settle(w, named, SCANNER_ROLE_ID="AROATESTSCANNER0001")
        self.assertEqual(dlq, [], context)
        own_requests = [e for e in self.control.log()[before:] if (e["key"] or "") == "own.txt"]
        self.assertEqual(own_requests, [], "the scanner's own tag change needs no S3 request")

    # --- 8. case variants of scanner keys ------------------------------------------------------

    def test_8_case_variants_of_scanner_keys_are_removed(self):
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("eicar.com", EICAR, True, "eicar", Tagging=forged_tagging("Clean", case=str.title))
        w.put("clean.txt", b"fine\n", False, "clean",
              Tagging=forged_tagging("Infected", [("owner", "ops")], case=str.upper))
        dlq, context = self.settle(w, w.records(), ACTION="tag")
        self.assertEqual(dlq, [], context)
        self.assertEqual(sorted(self.tags(w, "eicar.com")),
                         ["scan-date", "scan-matches", "scan-result", "scan-rules"], context)
        self.assertEqual(sorted(self.tags(w, "clean.txt")),
                         ["owner", "scan-date", "scan-result", "scan-rules"], context)

    # --- 9. a quarantine bucket that is also protected -----------------------------------------

    def test_9_a_protected_quarantine_bucket_is_refused_at_start_up(self):
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("x.txt", b"x", False)
        records = w.records()
        env = w.env(PROTECTED_BUCKETS=f"other-bucket,{w.quarantine}")
        run = invariants.run_handle(invariants.binary(), records, env)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn(f"QUARANTINE_BUCKET=`{w.quarantine}` is also in PROTECTED_BUCKETS",
                      run.stderr)
        self.assertEqual(self.control.log(), [], "refused before any S3 request")


class HostileUploads(ProxyTestCase):
    """The hostile uploads of the soak, small: each settles with only the scanner's verdicts."""

    def test_forged_crowded_and_case_variant_uploads_settle_with_true_verdicts(self):
        w = World(self.proxy_url, self.control, versioned=True)
        ten = [(f"t{i}", "v") for i in range(10)]
        w.put("forged-clean.com", EICAR, True, "forged", Tagging=forged_tagging("Clean"))
        w.put("ten-tags.txt", b"ten\n", False, "ten tags", Tagging="&".join(
            f"{k}={v}" for k, v in ten))
        w.put("ten-tags.php", b"x " + WEBSHELL, True, "ten tags, infected",
              Tagging="&".join(f"{k}={v}" for k, v in ten))
        w.put("variant.txt", b"ok\n", False, "variant",
              Tagging=forged_tagging("Clean", case=str.upper))
        records = w.records()
        runs = []
        dlq = w.deliver(records, runs=runs, ACTION="tag", **SIGNING)
        context = "\n".join(r.stderr[-3000:] for r in runs)
        report = w.check(dlq, action="tag")
        self.assertInvariants(report, context)
        states = {s.upload.kind: s for s in report.objects}
        self.assertEqual(states["forged"].verdict, "Infected", context)
        self.assertEqual(states["ten tags, infected"].verdict, "Infected", context)
        self.assertTrue(states["ten tags"].in_dlq, "a Clean with no room goes to the DLQ")
        self.assertEqual(states["variant"].verdict, "Clean", context)

