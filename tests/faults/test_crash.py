"""The handle process killed (SIGKILL) in the middle of a quarantine, then the message
redelivered. The proxy holds the chosen request; once it is held the process is killed, the
request is released, and either dropped (it never reached S3) or forwarded (it reached S3 but
nobody saw the answer). The redelivery must finish the job with exactly one quarantine copy.
"""

import os
import re
import signal
import time

from tests.faults.support import EICAR, ProxyTestCase, World, invariants


class Crash(ProxyTestCase):
    def crash(self, op, on_release, versioned):
        w = World(self.proxy_url, self.control, versioned=versioned)
        tag = f"crash-{op}-{on_release}-{'v' if versioned else 'u'}"
        eicar = f"{tag}/eicar.com"
        w.put(eicar, EICAR, True, "eicar")
        w.put(f"{tag}/clean.txt", b"nothing to see\n", False, "clean")
        records = w.records()
        (rule,) = self.control.add({"op": op, "key": re.escape(eicar) + "$", "fault": "hold",
                                    "times": 1, "seconds": 60, "on_release": on_release})
        proc, path = invariants.start_handle(invariants.binary(), records, w.env())
        try:
            held = self.control.wait_held(op, seconds=60)
            self.assertTrue(any(h["key"].endswith(eicar) for h in held), held)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            run = invariants.finish_handle(proc, path, records)
        self.assertEqual(run.returncode, -signal.SIGKILL)
        self.control.release()
        self.wait_logged(op, eicar)
        before = w.check(dlq=records)  # mid-crash: nothing may be lost even now
        self.assertInvariants(before, f"{tag} right after the crash")

        runs = []
        dlq = w.deliver(records, runs=runs)
        report = w.check(dlq)
        context = f"{tag}: " + "\n".join(r.stderr[-2000:] for r in runs)
        self.assertInvariants(report, context)
        self.assertEqual(dlq, [], context)
        states = {s.upload.kind: s for s in report.objects}
        self.assertEqual(states["eicar"].status, "quarantined", context)
        self.assertEqual(len(states["eicar"].copies), 1, context)
        self.assertEqual(states["clean"].status, "clean", context)
        fired = [r for r in self.control.state()["rules"] if r["id"] == rule][0]["fired"]
        self.assertEqual(fired, 1)

    def wait_logged(self, op, key, seconds=30):
        """Waits until the proxy has dealt with the released request."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            if any(e["op"] == op and (e["key"] or "").endswith(key) and
                   (e.get("held") or e.get("dropped")) for e in self.control.log()):
                return
            time.sleep(0.05)
        self.fail(f"the held {op} of {key} was not released")

    # Killed between the quarantine copy and the source delete.
    def test_crash_before_the_delete_reaches_s3(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                self.crash("DeleteObject", "drop", versioned)

    def test_crash_after_the_delete_reached_s3(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                self.crash("DeleteObject", "forward", versioned)

    # Killed while copying to quarantine.
    def test_crash_before_the_copy_reaches_s3(self):
        self.crash("CopyObject", "drop", True)

    def test_crash_after_the_copy_reached_s3(self):
        for versioned in (True, False):
            with self.subTest(versioned=versioned):
                self.crash("CopyObject", "forward", versioned)

    # Killed while tagging the infected object in place.
    def test_crash_while_tagging(self):
        self.crash("PutObjectTagging", "forward", True)
