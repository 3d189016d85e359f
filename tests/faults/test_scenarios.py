"""Each fault kind on each S3 operation the scanner uses, for a clean object and an EICAR object
in the same batch, through the real `s3-yara-scan handle` and the fault proxy, with SQS
redelivery emulated. After each scenario the shared invariant checker runs.

Two strengths per fault: `once` (the first request fails; the SDK's own retries absorb it) and
`persistent` (the first 3 requests fail, as many as the SDK's 3 attempts, so the message fails
and the redelivery has to finish the job). Faults `*-after` forward the request first and then
fail the answer: the operation took effect at S3 but the scanner does not know it. Each scenario
checks, from the proxy's counters, that its rule fired exactly as often as configured on every
operation the scanner sends for that object (and never on one it does not), and, from the runs,
that each message was received exactly as often as those faults force: a short GetObject body
fails its delivery at once (a stream is not retried by the SDK), other faults only when all 3
attempts of one request fail. Two exceptions (docs/failures.md): a lost CopyObject answer (the
copy was made; the scanner finds and reuses it, so that rule fires once and forces no
redelivery), and tagging an infected object, which the quarantine goes ahead without (its copy
carries the verdict).

The `timeout` fault holds a request 3 s and then closes the connection without an answer. handle
runs with S3_TIMEOUT_SECS=2, so a scanner that has that setting gives up first and retries; one
without it waits for the close, which the SDK retries too. FAULTS_SCANNER_ENV (a JSON object)
replaces these extra variables.
"""

import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

from tests.faults.support import EICAR, ProxyTestCase, World, invariants

OPS = ("GetObject", "PutObjectTagging", "CopyObject", "DeleteObject", "HeadObject")
KINDS = ("500", "503", "timeout", "reset", "partial")
# Faults after the operation took effect, on operations that change something.
AFTER_KINDS = ("500-after", "reset-after")
AFTER_OPS = ("PutObjectTagging", "CopyObject", "DeleteObject")
HOLD_SECONDS = 3
PARALLEL = int(os.environ.get("FAULTS_PARALLEL", "4"))
# The SDK's attempts per request (docs/failures.md), and the scanner's own tries of a CopyObject,
# which it sends without SDK retries.
SDK_ATTEMPTS = 3
EXTRA_ENV = json.loads(os.environ.get("FAULTS_SCANNER_ENV", '{"S3_TIMEOUT_SECS": "2"}'))


def expected(s, infected):
    """(fires, receives): how often scenario `s`'s rule must fire for that object and how many
    times its message must be received (1 + the deliveries the faults made fail)."""
    if not touched(s.op, infected, s.versioned):
        return 0, 1
    times = 3 if s.persistent else 1
    if copy_answer_lost(s):
        return 1, 1  # the copy exists; found and reused, never sent again
    if s.op == "PutObjectTagging" and infected:
        return times, 1  # the quarantine copy carries the verdict: the move goes ahead
    if s.kind == "partial" and s.op == "GetObject":
        return times, 1 + times  # each short body fails its delivery
    return times, 1 + times // SDK_ATTEMPTS


def touched(op, infected, versioned):
    """Whether the scanner sends `op` for such an object (so the fault must fire)."""
    if infected:
        return True  # read, tag, check the quarantine key, copy, verify (HEAD), delete
    if op in ("GetObject", "PutObjectTagging"):
        return True
    # A clean object in an unversioned bucket is checked (HEAD) after tagging.
    return op == "HeadObject" and not versioned


class Scenario:
    def __init__(self, case, kind, op, persistent, versioned):
        self.kind, self.op, self.persistent, self.versioned = kind, op, persistent, versioned
        self.case = case
        self.id = f"{kind}-{op}-{'persistent' if persistent else 'once'}-" \
                  f"{'versioned' if versioned else 'unversioned'}"

    def run(self):
        case = self.case
        w = World(case.proxy_url, case.control, versioned=self.versioned)
        keys = {False: f"{self.id}/clean.txt", True: f"{self.id}/eicar.com"}
        w.put(keys[False], b"an ordinary file\n" * 100, False, "clean")
        w.put(keys[True], EICAR, True, "eicar")
        times = 3 if self.persistent else 1
        fault, _, after = self.kind.partition("-")
        ids = {}
        for infected, key in keys.items():
            ids[infected] = case.control.add({
                "op": self.op, "key": re.escape(key) + "$", "fault": fault, "times": times,
                "seconds": HOLD_SECONDS, "after": after == "after"})[0]
        records = w.records()
        message = {infected: mid for mid, objects in invariants.decoded(records).items()
                   for infected, key in keys.items() if [o[1] for o in objects] == [key]}
        runs = []
        dlq = w.deliver(records, max_receives=times + 1, runs=runs, **EXTRA_ENV)
        report = w.check(dlq)
        rules = {r["id"]: r for r in case.control.state()["rules"]}
        fired = {infected: rules[i]["fired"] for infected, i in ids.items()}
        received = {infected: invariants.receives(runs, message[infected]) for infected in keys}
        return self, w, report, dlq, runs, fired, received


class FaultMatrix(ProxyTestCase):
    def run_matrix(self, scenarios):
        with ThreadPoolExecutor(PARALLEL) as pool:
            results = list(pool.map(lambda s: s.run(), scenarios))
        for s, w, report, dlq, runs, fired, received in results:
            with self.subTest(scenario=s.id):
                stderr = "\n".join(r.stderr[-3000:] for r in runs if r.stderr)
                context = f"{s.id}: {len(runs)} handle run(s), DLQ {len(dlq)}\n{stderr}"
                self.assertInvariants(report, context)
                for infected in (False, True):
                    what = f"{s.id}, the {'EICAR' if infected else 'clean'} object"
                    fires, receives = expected(s, infected)
                    self.assertEqual(fired[infected], fires,
                                     f"{what}: times the fault on {s.op} fired\n{context}")
                    self.assertEqual(received[infected], receives,
                                     f"{what}: receives of its message (1 + the deliveries the "
                                     f"faults made fail)\n{context}")
                # The faults stop before the redrive limit, so everything must settle.
                self.assertEqual(dlq, [], context)
                verdicts = {st.upload.kind: st.status for st in report.objects}
                self.assertEqual(verdicts, {"clean": "clean", "eicar": "quarantined"}, context)

    def matrix(self, versioned, kinds=KINDS, ops=OPS):
        return [Scenario(self, kind, op, persistent, versioned)
                for kind in kinds for op in ops for persistent in (False, True)]

    def test_faults_versioned_bucket(self):
        self.run_matrix([s for s in self.matrix(True) if not copy_answer_lost(s)])

    def test_faults_unversioned_bucket(self):
        self.run_matrix([s for s in self.matrix(False) if not copy_answer_lost(s)])

    def test_faults_after_the_operation_took_effect(self):
        scenarios = [s for s in self.matrix(True, AFTER_KINDS, AFTER_OPS) + self.matrix(
            False, AFTER_KINDS, AFTER_OPS) if not copy_answer_lost(s)]
        self.run_matrix(scenarios)

    def test_copy_answer_lost_makes_one_copy_only(self):
        """CopyObject succeeds at S3 but its answer is lost (500 or a reset after the copy was
        made, or a truncated response body). The scanner does not retry the copy blindly: it
        finds the copy it made and uses it, so one quarantine copy is left."""
        self.run_matrix([s for s in self.matrix(True, KINDS + AFTER_KINDS, ("CopyObject",))
                         + self.matrix(False, KINDS + AFTER_KINDS, ("CopyObject",))
                         if copy_answer_lost(s)])


def copy_answer_lost(s):
    return s.op == "CopyObject" and (s.kind == "partial" or s.kind.endswith("-after"))
