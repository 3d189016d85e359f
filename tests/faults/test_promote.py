"""The two-bucket system under faults: the real `s3-yara-scan handle` promotes clean objects from
the staging bucket to a production bucket (PROMOTE) through the fault proxy, with S3 errors on
each step of the move (before and after the operation took effect) and SQS redelivery emulated.
The invariant checker, with the production bucket, then requires: nothing lost, no infected
object promoted, exactly one production copy per clean upload, staging emptied of what was
promoted. A staging bucket without versioning (never enabled, or suspended) stops the function
at start-up: only a version id pins the bytes scanned. Each fault must have fired exactly as
configured (the proxy's counters) and made the clean object's message come back once (the
runs' receives): 3 failures are all of the SDK's attempts. A lost CopyObject answer is the
exception: the production copy was made, the scanner finds and reuses it, so the rule fires
once and nothing is redelivered.
"""

import re
from concurrent.futures import ThreadPoolExecutor

from tests.faults.support import EICAR, ProxyTestCase, World, invariants, name

OPS = ("CopyObject", "DeleteObject", "HeadObject", "PutObjectTagging")
KINDS = ("500", "reset-after", "500-after")
SIGNING_KEY = "promote-test-signing-key-0123456789abcdef"


def expected(kind, op):
    """(fires, receives): how often the rule on the clean object's `op` must fire, and how many
    times the clean object's message must be received."""
    if op == "CopyObject" and kind.endswith("-after"):
        return 1, 1  # the copy exists: found and reused, never sent again
    return 3, 2  # all 3 SDK attempts fail in the first delivery; the second finishes the move


class Promotion(ProxyTestCase):
    def scenario(self, kind, op, signed):
        w = World(self.proxy_url, self.control, versioned=True)
        production = name("prod")
        w.s3.create_bucket(Bucket=production)
        w.s3.put_bucket_versioning(Bucket=production,
                                   VersioningConfiguration={"Status": "Enabled"})
        tag = f"{kind}-{op}-{'signed' if signed else 'unsigned'}"
        clean = f"{tag}/clean.txt"
        w.put(clean, b"promote me\n" * 50, False, "clean")
        w.put(f"{tag}/eicar.com", EICAR, True, "eicar")
        fault, _, after = kind.partition("-")
        # Three failures: all of the SDK's attempts, so the redelivery has to finish the move.
        (rule,) = self.control.add({"op": op, "key": re.escape(clean) + "$", "fault": fault,
                                    "times": 3, "after": after == "after"})
        records = w.records()
        (message,) = [mid for mid, objects in invariants.decoded(records).items()
                      if [o[1] for o in objects] == [clean]]
        env = {"PROMOTE": f"{w.bucket}={production}", "S3_TIMEOUT_SECS": "2"}
        if signed:
            env["SIGNING_KEY"] = SIGNING_KEY
        runs = []
        dlq = w.deliver(records, max_receives=4, runs=runs, **env)
        fired = [r for r in self.control.state()["rules"] if r["id"] == rule][0]["fired"]
        received = invariants.receives(runs, message)
        return tag, w.check(dlq, production=production), dlq, runs, fired, received

    def test_every_step_of_the_move_failing_converges_on_one_production_copy(self):
        cases = [(k, op, signed) for k in KINDS for op in OPS for signed in (True, False)]
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda c: self.scenario(*c), cases))
        for (kind, op, _), (tag, report, dlq, runs, fired, received) in zip(cases, results):
            with self.subTest(tag):
                context = f"{tag}: DLQ {len(dlq)}\n" + "\n".join(r.stderr[-2000:] for r in runs)
                fires, receives = expected(kind, op)
                self.assertEqual(fired, fires, f"{tag}: times the fault on {op} fired\n{context}")
                self.assertEqual(received, receives,
                                 f"{tag}: receives of the clean object's message\n{context}")
                self.assertInvariants(report, context)
                self.assertEqual(dlq, [], context)
                states = {st.upload.kind: st for st in report.objects}
                self.assertEqual(states["clean"].status, "promoted", context)
                self.assertEqual(len(states["clean"].promoted), 1, context)
                self.assertEqual(states["eicar"].status, "quarantined", context)


class StagingVersioning(ProxyTestCase):
    """Copied by key and ETag, an unversioned staging object can be swapped after its scan for a
    twin of the same size and MD5, which would reach production unscanned: the function refuses
    to start, naming PROMOTE and the bucket, and touches nothing."""

    def refused(self, w):
        production = name("prod")
        w.s3.create_bucket(Bucket=production)
        w.s3.put_bucket_versioning(Bucket=production,
                                   VersioningConfiguration={"Status": "Enabled"})
        w.put("in/clean.txt", b"promote me\n", False, "clean")
        runs = []
        dlq = w.deliver(w.records(), max_receives=1, runs=runs,
                        PROMOTE=f"{w.bucket}={production}")
        (run,) = runs
        self.assertNotEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertIn(f"PROMOTE names the staging bucket `{w.bucket}`", run.stderr)
        self.assertIn("versioning", run.stderr)
        self.assertEqual(len(dlq), 1, "the batch is not acknowledged")
        self.assertNotIn("Contents", w.s3.list_objects_v2(Bucket=production))
        tags = w.s3.get_object_tagging(Bucket=w.bucket, Key="in/clean.txt")["TagSet"]
        self.assertEqual(tags, [], "nothing was touched")

    def test_unversioned_staging_is_refused_at_start_up(self):
        self.refused(World(self.proxy_url, self.control, versioned=False))

    def test_suspended_staging_is_refused_at_start_up(self):
        w = World(self.proxy_url, self.control, versioned=True)
        w.suspend()
        self.refused(w)

    def test_versioned_staging_starts_and_promotes(self):
        w = World(self.proxy_url, self.control, versioned=True)
        production = name("prod")
        w.s3.create_bucket(Bucket=production)
        w.s3.put_bucket_versioning(Bucket=production,
                                   VersioningConfiguration={"Status": "Enabled"})
        w.put("in/clean.txt", b"promote me\n", False, "clean")
        runs = []
        dlq = w.deliver(w.records(), runs=runs, PROMOTE=f"{w.bucket}={production}")
        self.assertEqual([r.returncode for r in runs], [0], runs[0].stderr[-2000:])
        report = w.check(dlq, production=production)
        self.assertInvariants(report)
        (state,) = report.objects
        self.assertEqual(state.status, "promoted")
