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
        self.assertGreater(sum(result["faults_injected"].values()), 0, "no fault was injected")
        self.assertEqual(c["double_quarantine"], 0, context)
        self.assertEqual(result["violations"], [], context)
        # Every object is accounted for.
        self.assertGreater(result["config"]["hostile_rate"], 0)
        self.assertGreater(c["superseded"], 0, "no hostile overwrite was made")
        self.assertEqual(c["clean"] + c["quarantined"] + c["dlq"] + c["unscannable_or_error"]
                         + c["infected_in_place"] + c["superseded"], c["objects"], context)
