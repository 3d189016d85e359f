"""The compiled rules cache on the wire, as the fault proxy sees the binary's requests: without a
signing key nothing could authenticate a cache, so the function never reads or writes one (every
cold start compiles the sources); with a key the first cold start writes it and the next reads it
instead of the sources. Either way the team's rule judges the uploads (THE invariant check)."""

import re

from tests.faults.support import ProxyTestCase, World, check, name

TEAM_RULE = b'rule Team_Marker { strings: $a = "team-marker-51c2" condition: $a }'
CACHE_FOLDER = ".s3-yara-scan-cache/"
SIGNING_KEY = "rules-cache-test-key-0123456789abcdef"


class RulesCache(ProxyTestCase):
    def setUp(self):
        self.control.clear()

    def world(self):
        """A wired bucket, and a rules bucket holding the team's rule under team/."""
        w = World(self.proxy_url, self.control, versioned=True)
        rules = name("rules")
        w.s3.create_bucket(Bucket=rules)
        w.s3.put_object(Bucket=rules, Key="team/team.yar", Body=TEAM_RULE)
        return w, rules

    def cold_starts(self, w, rules, **env):
        """Two cold starts (`handle` runs) of one upload each, with the team's rules; for each,
        the (operation, key) of its requests to the rules bucket."""
        seen, runs = [], []
        for n in range(2):
            self.control.clear()
            w.put(f"marker-{n}.txt", b"x team-marker-51c2 x", True)
            dlq = w.deliver(w.records(count=1), runs=runs, RULES=f"s3://{rules}/team/",
                            RUST_LOG="info", **env)
            self.assertEqual(dlq, [])
            seen.append([(e["op"], e["key"]) for e in self.control.log() if e["bucket"] == rules])
        # The verdicts name the embedded rules and the team's together, as the binary says.
        (ruleset,) = {m for r in runs for m in re.findall(r'rules in force ruleset="(\w+)"', r.stderr)}
        self.assertInvariants(check(w.s3, w.uploads, w.quarantine, ruleset=ruleset))
        return seen

    def test_without_a_signing_key_no_cache_is_read_or_written(self):
        w, rules = self.world()
        for n, requests in enumerate(self.cold_starts(w, rules)):
            touched = [r for r in requests if CACHE_FOLDER in (r[1] or "")]
            self.assertEqual(touched, [], f"cold start {n}")
            self.assertIn(("GetObject", "team/team.yar"), requests, f"cold start {n} compiles")
        self.assertEqual(
            [o["Key"] for o in w.s3.list_objects_v2(Bucket=rules).get("Contents", [])],
            ["team/team.yar"])

    def test_with_a_signing_key_the_first_cold_start_writes_the_cache_the_next_reads_it(self):
        w, rules = self.world()
        first, second = self.cold_starts(w, rules, SIGNING_KEY=SIGNING_KEY)
        written = [k for op, k in first if op == "PutObject"]
        self.assertEqual(len(written), 1, first)
        self.assertTrue(written[0].startswith(f"team/{CACHE_FOLDER}"), written)
        self.assertIn(("GetObject", "team/team.yar"), first)
        self.assertIn(("GetObject", written[0]), second)
        self.assertNotIn(("GetObject", "team/team.yar"), second, "loaded, not compiled")
        self.assertEqual([op for op, _ in second if op == "PutObject"], [])
