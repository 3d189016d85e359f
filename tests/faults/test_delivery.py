"""Duplicate and reordered deliveries (SQS is at-least-once and unordered; S3 can send an event
twice): the same message twice in one batch, two messages for one object in one batch, the same
message in separate runs (one after the other, and at the same time), and two versions of one
key delivered newest first."""

import re
import uuid

from tests.faults.support import EICAR, WEBSHELL, ProxyTestCase, World, invariants


def duplicate(record, new_id=False):
    """The record delivered again (SQS: same messageId, new receipt handle), or the event sent
    twice (new_id: another message with the same body)."""
    return dict(record, receiptHandle=uuid.uuid4().hex,
                messageId=str(uuid.uuid4()) if new_id else record["messageId"])


class Deliveries(ProxyTestCase):
    def world(self, tag, versioned=True):
        w = World(self.proxy_url, self.control, versioned=versioned)
        w.put(f"{tag}/eicar.com", EICAR, True, "eicar")
        w.put(f"{tag}/clean.txt", b"plain text\n", False, "clean")
        return w, w.records()

    def settled(self, w, dlq=(), context=""):
        report = w.check(dlq)
        self.assertInvariants(report, context)
        self.assertEqual(list(dlq), [], context)
        states = {s.upload.kind: s for s in report.objects}
        self.assertEqual(states["eicar"].status, "quarantined", context)
        self.assertEqual(len(states["eicar"].copies), 1, context)
        self.assertEqual(states["clean"].status, "clean", context)
        return report

    def test_same_message_twice_in_one_batch(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                w, records = self.world(f"dup-batch-{versioned}", versioned)
                batch = records + [duplicate(r) for r in records]
                runs = []
                self.settled(w, w.deliver(batch, runs=runs), runs[0].stderr)
                self.assertEqual(len(runs), 1, "a duplicate must not make the batch fail")

    def test_event_sent_twice_in_one_batch(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                w, records = self.world(f"dup-event-{versioned}", versioned)
                batch = records + [duplicate(r, new_id=True) for r in records]
                runs = []
                self.settled(w, w.deliver(batch, runs=runs), runs[0].stderr)
                self.assertEqual(len(runs), 1)

    def test_same_message_in_separate_runs(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                w, records = self.world(f"dup-runs-{versioned}", versioned)
                self.settled(w, w.deliver(records))
                again = [duplicate(r) for r in records]
                runs = []
                self.settled(w, w.deliver(again, runs=runs), runs[0].stderr)
                self.assertEqual(len(runs), 1, "the second delivery must be acknowledged")

    def test_same_message_in_concurrent_runs(self):
        """Two invocations at once with the same messages (no fault): whatever interleaving
        happens (and the redeliveries of what either run failed), both messages settle: nothing
        in the DLQ, the EICAR quarantined with exactly one copy, the clean file tagged Clean."""
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                w, records = self.world(f"dup-conc-{versioned}", versioned)
                exe, env = invariants.binary(), w.env()
                procs = [invariants.start_handle(exe, [duplicate(r) for r in records], env)
                         for _ in range(2)]
                runs = [invariants.finish_handle(p, path, records) for p, path in procs]
                failed = [r for r in records if any(r["messageId"] in run.failed for run in runs)]
                dlq = w.deliver(failed) if failed else []
                self.settled(w, dlq, "\n".join(r.stderr for r in runs))

    def test_concurrent_runs_both_reaching_the_copy_make_one_copy(self):
        """Two invocations handle the same infected object at once (SQS redelivery after a
        visibility timeout, or S3's duplicate event). Both check the quarantine key before
        either has copied, both find nothing, both copy; the proxy holds each CopyObject until
        both are waiting, which forces that interleaving. They converge on one copy."""
        w, records = self.world("dup-race", True)
        key = "dup-race/eicar.com"
        self.control.add({"op": "CopyObject", "key": re.escape(key) + "$", "fault": "hold",
                          "times": 2, "seconds": 20})
        exe, env = invariants.binary(), w.env()
        procs = [invariants.start_handle(exe, [duplicate(r) for r in records], env)
                 for _ in range(2)]
        try:
            # Both must be holding their copy at once, or the race this test is about did not
            # happen (wait_held raises TimeoutError, failing the test).
            self.control.wait_held("CopyObject", seconds=30, count=2)
        finally:
            self.control.release()
        runs = [invariants.finish_handle(p, path, records) for p, path in procs]
        failed = [r for r in records if any(r["messageId"] in run.failed for run in runs)]
        dlq = w.deliver(failed) if failed else []
        self.settled(w, dlq, "\n".join(r.stderr for r in runs))

    def reordered(self, tag, bodies, same_batch):
        """Uploads the versions of one key (oldest first), delivers their events newest first."""
        w = World(self.proxy_url, self.control, versioned=True)
        key = f"{tag}/file"
        for i, (body, infected) in enumerate(bodies):
            w.put(key, body, infected, f"v{i + 1}-{'infected' if infected else 'clean'}")
        records = w.records()
        order = {u.version_id: i for i, u in enumerate(w.uploads)}

        named = invariants.decoded(records)

        def version(r):
            return order[named[r["messageId"]][0][2]]
        newest_first = sorted(records, key=version, reverse=True)
        runs, dlq = [], []
        if same_batch:
            dlq = w.deliver(newest_first, runs=runs)
        else:
            for r in newest_first:
                dlq += w.deliver([r], runs=runs)
        report = w.check(dlq)
        context = "\n".join(r.stderr for r in runs)
        self.assertInvariants(report, context)
        self.assertEqual(dlq, [], context)
        for st in report.objects:
            want = "quarantined" if st.upload.infected else "clean"
            self.assertEqual(st.status, want, f"{st.upload.kind}: {context}")
            self.assertEqual(len(st.copies), 1 if st.upload.infected else 0, st.upload.kind)
        return w, report

    def test_two_versions_newest_first(self):
        cases = {
            "clean-then-infected": [(b"version one, clean\n", False), (EICAR, True)],
            "infected-then-clean": [(EICAR, True), (b"version two, clean\n", False)],
            "both-infected": [(EICAR, True), (b"junk " + WEBSHELL + b" junk", True)],
            "three-versions": [(b"one\n", False), (EICAR, True), (b"three\n", False)],
        }
        for name, bodies in cases.items():
            for same_batch in (False, True):
                with self.subTest(case=name, same_batch=same_batch):
                    self.reordered(f"reorder-{name}-{same_batch}", bodies, same_batch)
