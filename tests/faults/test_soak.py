"""A small soak run (scripts/soak.py) inside the test command: 200 objects (5 % of them hostile
uploads), 5 % random S3 faults, 4 workers, tag-change events, the queue's real redrive policy,
then the shared invariant checker."""

import os
import unittest

from tests.faults.support import endpoint, invariants

import soak  # scripts/soak.py (support put scripts/ on sys.path)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SmallSoak(unittest.TestCase):
    def test_200_objects_with_5_percent_faults(self):
        result = soak.soak([
            "--objects", "200", "--fault-rate", "0.05", "--workers", "4", "--seed", "7",
            "--max-seconds", "110", "--bin", invariants.binary(),
            "--json", os.path.join(ROOT, "target", "soak-test.json")], endpoint=endpoint())
        c = result["counts"]
        context = f"{c}\nDLQ: {result['dlq']}\nviolations: {result['violations'][:20]}"
        self.assertTrue(result["drained"], "the queue did not drain in time: " + context)
        self.assertGreaterEqual(c["objects"], 200, "200 objects and the overwritten uploads")
        self.assertEqual(c["lost"], 0, context)
        self.assertEqual(c["wrong_verdicts"], 0, context)
        # Real faults only: the `headers` rule that names the suspended bucket's `null` version
        # is S3's behaviour, not a fault. Every kind the soak draws must have been injected.
        self.assertEqual(sorted(result["faults_by_kind"]), sorted(soak.KINDS),
                         f"faults injected: {result['faults_injected']}")
        self.assertEqual(c["double_quarantine"], 0, context)
        self.assertEqual(result["violations"], [], context)
        self.assert_dlq_bounded(result, context)
        # The user rule's compiled cache was swapped for hostile ones while the soak ran, and
        # cold starts refused them (no marker object came out Clean: the checker above).
        runs = result["runs"]
        self.assertGreater(runs.get("caches swapped", 0), 0, runs)
        self.assertGreater(runs.get("swapped caches refused", 0), 0, runs)
        self.assertGreater(result["kinds"].get("user-rule-inside", 0), 0, result["kinds"])
        # Every object is accounted for.
        self.assertGreater(result["config"]["hostile_rate"], 0)
        self.assertGreater(c["superseded"], 0, "no hostile overwrite was made")
        self.assertEqual(c["clean"] + c["quarantined"] + c["dlq"] + c["unscannable_or_error"]
                         + c["infected_in_place"] + c["superseded"], c["objects"], context)

    def assert_dlq_bounded(self, result, context):
        """The DLQ holds what it must and no more than the fault rate explains (the bound is
        derived in scripts/soak.py `dlq_bound`): every clean upload with 10 tags of its own (S3
        leaves no room for `Clean`, so each of its deliveries fails), and at most the allowance
        of messages whose every delivery an injected fault made fail (with 5 % faults and 3
        receives about 0.001 such messages are expected, so the allowance is 1): dead-lettering
        everything, or clean objects without cause, fails here."""
        b = result["dlq_bound"]
        self.assertGreater(b["no_room_for_clean"], 0, "no clean upload with 10 tags was made")
        self.assertEqual(b["no_room_not_in_dlq"], [], "clean uploads with 10 tags of their own "
                         "acknowledged although no verdict fits: " + context)
        self.assertLessEqual(b["dlq_messages_by_faults"], b["fault_allowance"],
                             f"more messages dead-lettered than the faults explain ({b}): "
                             + context)
        self.assertTrue(b["ok"], b)
