"""Trust boundaries (issue 20): what an attacker who is not the scanner can send or write, tried
through the real `s3-yara-scan handle` on the emulator, each followed by the invariant checker.

- a tag change whose principal only names the scanner's role id as its session name;
- tag changes of one version by two principals in one batch (a forged "own change" must not
  absorb a genuine one);
- a skipped object left untagged (`SKIPPED_ACTION=ignore`) uploaded with a forged verdict;
- events and Batch Operations tasks naming a bucket the deployment does not protect;
- result documents put on the scan queue by someone other than the function;
- a signed verdict carried over to bytes that clients decode differently (`Content-Encoding`),
  and an older signed verdict put back over a newer one.
"""

import json
import os
import shutil
import subprocess
import tempfile
import zlib

from tests.faults.support import EICAR, ProxyTestCase, World, edit_records, invariants, name
from emulator import queue
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


class Scope(ProxyTestCase):
    """Issue 20, item 8: only the buckets the deployment protects are judged; a message or a
    Batch Operations task naming another bucket its role can read (rules, production, …) is
    refused without a request."""

    def setUp(self):
        self.control.clear()

    def other_bucket(self, w, key):
        other = name("rules")
        w.s3.create_bucket(Bucket=other)
        w.s3.put_object(Bucket=other, Key=key, Body=EICAR)
        return other

    def assert_untouched(self, w, other, key, context):
        requests = [e for e in self.control.log() if e["bucket"] == other]
        self.assertEqual(requests, [], context)
        self.assertEqual(w.s3.get_object_tagging(Bucket=other, Key=key)["TagSet"], [], context)
        self.assertEqual(w.s3.get_object(Bucket=other, Key=key)["Body"].read(), EICAR)

    def test_an_event_naming_an_unprotected_bucket_is_refused_without_a_request(self):
        w = World(self.proxy_url, self.control, versioned=True)
        w.put("inbox/eicar.com", EICAR, True, "eicar")
        other = self.other_bucket(w, "inbox/eicar.com")
        records = w.records()
        forged = [dict(r, messageId="forged-" + r["messageId"]) for r in edit_records(
            records, lambda rec: rec["s3"]["bucket"].update(name=other))]
        run = invariants.run_handle(invariants.binary(), records + forged,
                                    w.env(PROTECTED_BUCKETS=w.bucket))
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.failed, {r["messageId"] for r in forged}, run.stderr)
        self.assertIn(f"bucket `{other}` is not protected by this deployment", run.stderr)
        self.assert_untouched(w, other, "inbox/eicar.com", run.stderr)
        self.assertInvariants(w.check(), run.stderr)

    def test_a_batch_operations_task_in_an_unprotected_bucket_fails_permanently(self):
        w = World(self.proxy_url, self.control, versioned=True)
        other = self.other_bucket(w, "eicar.com")
        job = {"invocationSchemaVersion": "2.0", "invocationId": "inv-1",
               "job": {"id": "job-1", "userArguments": {}},
               "tasks": [{"taskId": "t1", "s3Bucket": other, "s3Key": "eicar.com",
                          "s3VersionId": None}]}
        fd, path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(job, f)
        self.addCleanup(os.unlink, path)
        out = subprocess.run([invariants.binary(), "handle", path], capture_output=True,
                             text=True, env=w.env(PROTECTED_BUCKETS=w.bucket), timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        (result,) = json.loads(out.stdout)["results"]
        self.assertEqual(result["resultCode"], "PermanentFailure", result)
        self.assertIn("PROTECTED_BUCKETS", result["resultString"])
        self.assert_untouched(w, other, "eicar.com", out.stderr)


class QueuedDocuments(ProxyTestCase):
    """Issue 20, item 5: a result document on the scan queue is published only when the function
    sealed it (a MAC under a key derived from its signing key); anyone else's is dropped."""

    def setUp(self):
        self.control.clear()

    def subscriber(self, w):
        """A topic for result events, and a queue subscribed to it that shows what it got."""
        topic = w.sns.create_topic(Name=name("results"))["TopicArn"]
        url, arn = queue(w.sqs, name("results-seen"))
        w.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                        Attributes={"RawMessageDelivery": "true"})
        return topic, url

    def published(self, w, url):
        got = w.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def handle(self, w, records, **env):
        run = invariants.run_handle(invariants.binary(), records, w.env(**env))
        self.assertEqual(run.returncode, 0, run.stderr)
        return run

    def test_only_documents_the_function_sealed_are_published(self):
        w = World(self.proxy_url, self.control, versioned=True)
        topic, seen = self.subscriber(w)
        w.put("a.txt", b"plain text\n", False, "clean")
        # 1. The topic is gone for a moment: the document waits on the scan queue, sealed.
        records = w.records()
        missing = topic + "-gone"
        run = self.handle(w, records, RESULT_TOPIC_ARN=missing, QUEUE_URL=w.queue, **SIGNING)
        self.assertEqual(run.failed, set(), run.stderr)
        (queued,) = w.drain()
        sealed = json.loads(queued["body"])
        self.assertEqual(sorted(sealed), ["mac", "s3YaraScanResult"], sealed)
        # 2. Forged documents beside it: the old unsealed form, a wrong MAC, another key's.
        document = json.dumps({"type": "S3 Object Scan Result v1", "bucket": w.bucket,
                               "key": "eicar.com", "verdict": "Clean"})
        forged_bodies = [
            json.dumps({"s3YaraScanResult": json.loads(document)}),
            json.dumps({"s3YaraScanResult": document, "mac": "00" * 32}),
            json.dumps({"s3YaraScanResult": document, "mac": sealed["mac"]}),
        ]
        forged = [dict(queued, messageId=f"forged-{i}", body=b)
                  for i, b in enumerate(forged_bodies)]
        run = self.handle(w, [queued] + forged, RESULT_TOPIC_ARN=topic, **SIGNING)
        self.assertEqual(run.failed, set(), "dropped, not retried: " + run.stderr)
        self.assertEqual(run.stderr.count("queued result event dropped"), 3, run.stderr)
        got = self.published(w, seen)
        self.assertEqual([(d["key"], d["verdict"]) for d in got], [("a.txt", "Clean")],
                         run.stderr)
        reads = [e for e in self.control.log() if e["key"] == "eicar.com"]
        self.assertEqual(reads, [], "a queued document never makes the scanner touch S3")


class SignedVerdicts(ProxyTestCase):
    """Review of issue 20: a valid signature vouches only for the bytes as clients get them
    (their Content-Encoding included) and only with the rules in force after a tag change."""

    def setUp(self):
        self.control.clear()

    def tags(self, w, key):
        return {t["Key"]: t["Value"]
                for t in w.s3.get_object_tagging(Bucket=w.bucket, Key=key)["TagSet"]}

    def settle(self, w, records, **env):
        runs = []
        dlq = w.deliver(records, runs=runs, **env)
        context = "\n".join(r.stderr[-3000:] for r in runs)
        self.assertEqual(dlq, [], context)
        return context

    def test_a_signed_clean_does_not_follow_the_bytes_to_another_content_encoding(self):
        w = World(self.proxy_url, self.control, versioned=True)
        env = dict(SIGNING, ACTION="tag")
        w.put("page.bin", zlib.compress(EICAR), False, "zlib bytes, stored as they are")
        context = self.settle(w, w.records(), **env)
        self.assertEqual(self.tags(w, "page.bin")["scan-result"], "Clean", context)
        # The same bytes (same ETag), now served deflated: browsers decode them to EICAR.
        w.s3.copy_object(Bucket=w.bucket, Key="page.bin", ContentEncoding="deflate",
                         CopySource={"Bucket": w.bucket, "Key": "page.bin"},
                         MetadataDirective="REPLACE", TaggingDirective="COPY")
        (copied,) = w.drain()
        context = self.settle(w, [copied], **env)
        self.assertEqual(self.tags(w, "page.bin")["scan-result"], "Infected", context)

    def test_an_older_signed_verdict_put_back_by_a_tag_change_is_rescanned(self):
        w = World(self.proxy_url, self.control, versioned=True, events=TAG_EVENTS)
        rules = tempfile.mkdtemp(prefix="trust-rules-")
        self.addCleanup(shutil.rmtree, rules)
        for name, text in (("none", "rule never { condition: false }"),
                           ("marker", 'rule Trust_Marker { strings: $m = "TRUST-' + 'MARKER-1" '
                                      'condition: $m }')):
            os.makedirs(os.path.join(rules, name))
            with open(os.path.join(rules, name, "r.yar"), "w") as f:
                f.write(text + "\n")
        w.put("doc.txt", b"harmless but for TRUST-" + b"MARKER-1\n", True, "marker")
        (created,) = [r for r in w.drain() if "ObjectCreated" in event_names([r])[0]]
        before = dict(SIGNING, ACTION="tag", RULES=os.path.join(rules, "none"))
        context = self.settle(w, [created], **before)
        old = self.tags(w, "doc.txt")
        self.assertEqual(old["scan-result"], "Clean", context)
        # New rules find it: the same upload judged again, signed Infected with them.
        after = dict(before, RULES=os.path.join(rules, "marker"))
        context = self.settle(w, [created], **after)
        self.assertEqual(self.tags(w, "doc.txt")["scan-result"], "Infected", context)
        w.drain()
        # Someone puts the older, validly signed Clean back.
        w.s3.put_object_tagging(Bucket=w.bucket, Key="doc.txt", Tagging={
            "TagSet": [{"Key": k, "Value": v} for k, v in old.items()]})
        replayed = by_principal(w.drain(), "AWS:AROAATTACKER00001:x")
        context = self.settle(w, replayed, **after)
        self.assertEqual(self.tags(w, "doc.txt")["scan-result"], "Infected", context)
