"""Trust boundaries (issue 20): what an attacker who is not the scanner can send or write, tried
through the real `s3-yara-scan handle` on the emulator, each followed by the invariant checker.

- a tag change whose principal only names the scanner's role id as its session name;
- tag changes of one version by two principals in one batch (a forged "own change" must not
  absorb a genuine one);
- a skipped object left untagged (`SKIPPED_ACTION=ignore`) uploaded with a forged verdict;
"""

from tests.faults.support import EICAR, ProxyTestCase, World, edit_records
from invariants import forged_tagging

SIGNING = {"SIGNING_KEY": "k" * 40}
TAG_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectTagging:*")
SCANNER_ROLE_ID = "AROATESTSCANNER0001"


def event_names(records):
    names = []
    edit_records(records, lambda rec: names.append(rec["eventName"]))
    return names


def by_principal(records, principal):
    """The records as S3 sends them when `principal` made the change (moto names nobody)."""
    return edit_records(records, lambda rec: rec.update(userIdentity={"principalId": principal}))


class Principals(ProxyTestCase):
    """Issue 20, item 2: the own-tag-change shortcut trusts only the principal's role id field,
    never the session name, and never spares the check of a verdict that is not signed."""

    def setUp(self):
        self.control.clear()

    def tags(self, w, key):
        return {t["Key"]: t["Value"]
                for t in w.s3.get_object_tagging(Bucket=w.bucket, Key=key)["TagSet"]}

    def settle(self, w, records, **env):
        runs = []
        dlq = w.deliver(records, runs=runs, **env)
        context = "\n".join(r.stderr[-3000:] for r in runs)
        self.assertInvariants(w.check(dlq, action=env.get("ACTION", "quarantine")), context)
        self.assertEqual(dlq, [], context)
        return context

    def retag_clean(self, w, key):
        """An attacker's tag write: the scanner's result key set to `Clean`, the rest kept."""
        tags = self.tags(w, key)
        tags["scan-result"] = "Clean"
        w.s3.put_object_tagging(Bucket=w.bucket, Key=key, Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]})
        (event,) = w.drain()
        return [event]

    def infected_and_tagged(self, env):
        w = World(self.proxy_url, self.control, versioned=True, events=TAG_EVENTS)
        w.put("eicar.com", EICAR, True, "eicar")
        created = w.drain()
        self.settle(w, created, **env)
        own = w.drain()
        self.assertEqual(event_names(own), ["ObjectTagging:Put"], "the scanner's own write")
        return w, own

    def assert_session_name_is_not_the_scanner(self, env):
        w, _ = self.infected_and_tagged(env)
        forged = by_principal(self.retag_clean(w, "eicar.com"),
                              f"AWS:AROAATTACKER00001:{SCANNER_ROLE_ID}")
        context = self.settle(w, forged, **env)
        self.assertEqual(self.tags(w, "eicar.com")["scan-result"], "Infected", context)

    def test_a_session_named_after_the_scanners_role_id_is_not_the_scanner(self):
        self.assert_session_name_is_not_the_scanner(
            dict(ACTION="tag", SCANNER_ROLE_ID=SCANNER_ROLE_ID))

    def test_with_a_key_even_the_scanners_role_id_does_not_spare_the_check(self):
        env = dict(SIGNING, ACTION="tag", SCANNER_ROLE_ID=SCANNER_ROLE_ID)
        self.assert_session_name_is_not_the_scanner(env)
        w, _ = self.infected_and_tagged(env)
        # Whoever made it, an unsigned Clean is checked: the principal is only S3's word.
        claimed = by_principal(self.retag_clean(w, "eicar.com"), f"AWS:{SCANNER_ROLE_ID}:fn")
        context = self.settle(w, claimed, **env)
        self.assertEqual(self.tags(w, "eicar.com")["scan-result"], "Infected", context)

    def test_tag_changes_by_two_principals_in_one_batch_are_each_checked(self):
        env = dict(ACTION="tag", SCANNER_ROLE_ID=SCANNER_ROLE_ID)
        w, own = self.infected_and_tagged(env)
        theirs = self.retag_clean(w, "eicar.com")
        batch = (by_principal(own, f"AWS:{SCANNER_ROLE_ID}:s3-yara-scan")
                 + by_principal(theirs, "AWS:AROAATTACKER00001:x"))
        context = self.settle(w, batch, **env)
        self.assertEqual(self.tags(w, "eicar.com")["scan-result"], "Infected", context)


class Skipped(ProxyTestCase):
    """Issue 20, item 6: whatever SKIPPED_ACTION says, scanner keys the scanner did not sign are
    taken off a skipped object."""

    def setUp(self):
        self.control.clear()

    def test_ignore_takes_a_forged_clean_off_a_skipped_object(self):
        for env in ({}, SIGNING):
            w = World(self.proxy_url, self.control, versioned=True)
            w.put("evil.log", EICAR, True, "eicar named .log",
                  Tagging=forged_tagging("Clean", [("owner", "ops")]))
            w.put("variant.log", EICAR, True, "case variant",
                  Tagging=forged_tagging("Clean", case=str.upper))
            runs = []
            dlq = w.deliver(w.records(), runs=runs, SKIP_KEY_SUFFIXES=".log",
                            SKIPPED_ACTION="ignore", **env)
            context = "\n".join(r.stderr[-3000:] for r in runs)
            self.assertEqual(dlq, [], context)
            for key, left in (("evil.log", {"owner": "ops"}), ("variant.log", {})):
                tags = {t["Key"]: t["Value"] for t in
                        w.s3.get_object_tagging(Bucket=w.bucket, Key=key)["TagSet"]}
                self.assertEqual(tags, left, f"{key} with {sorted(env)}: {context}")
            self.assertEqual([e["op"] for e in self.control.log() if e["op"] == "GetObject"], [],
                             "a skipped object is still never read")
            self.control.clear()
