"""Shared setup of the fault tests: a moto server (AWS_ENDPOINT_URL, as the test command
provides), one fault proxy in front of it for the whole module, and "worlds": a protected
bucket wired S3 -> SNS -> SQS as in production, plus a versioned quarantine bucket.

Run:  .venv/bin/python scripts/emulator.py run -- .venv/bin/python -m unittest discover -s tests/faults -t .
"""

import json
import os
import sys
import time
import unittest
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

from emulator import EICAR, clients, lambda_record, receive, wire  # noqa: E402
from faultproxy import fault_proxy  # noqa: E402
import invariants  # noqa: E402
from invariants import WEBSHELL, check, deliver, scanner_env, upload  # noqa: E402,F401

def edit_records(records, edit):
    """The records with `edit(s3_record)` applied to every S3 record of every body (SNS
    envelope or direct): to make the emulator's events look like S3's."""
    out = []
    for r in records:
        body = json.loads(r["body"])
        envelope = "Message" in body and "Records" not in body
        event = json.loads(body["Message"]) if envelope else body
        for rec in event.get("Records", []):
            edit(rec)
        if envelope:
            body["Message"] = json.dumps(event)
        out.append(dict(r, body=json.dumps(body if envelope else event)))
    return out


def with_version_ids(records, uploads):
    """The records with the versionId that S3 puts in events of versioned buckets, which moto 5
    leaves out: taken from the upload with the event's bucket, key and ETag (uploads of equal
    bytes to one key are matched in upload order)."""
    unused = [u for u in uploads if u.version_id]

    def edit(rec):
        o = rec["s3"]["object"]
        if o.get("versionId"):
            return
        key = urllib.parse.unquote_plus(o["key"])
        etag = (o.get("eTag") or "").strip('"')
        for u in unused:
            if (u.bucket, u.key, u.etag) == (rec["s3"]["bucket"]["name"], key, etag):
                o["versionId"] = u.version_id
                unused.remove(u)
                return
    return edit_records(records, edit)


def endpoint():
    url = os.environ.get("AWS_ENDPOINT_URL")
    if not url:
        raise unittest.SkipTest("needs a moto server in AWS_ENDPOINT_URL "
                                "(scripts/emulator.py run -- python -m unittest ...)")
    return url


def name(prefix):
    """A bucket/queue name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class World:
    """A wired protected bucket and its quarantine bucket on moto, seen directly (s3, sqs) and
    through the proxy (proxy_url, control)."""

    def __init__(self, proxy_url, control, versioned=True, quarantine=None,
                 events=("s3:ObjectCreated:*",)):
        self.s3, self.sns, self.sqs = clients(endpoint())
        self.proxy_url, self.control = proxy_url, control
        self.bucket = name("prot")
        self.quarantine = quarantine or name("quar")
        if quarantine is None:
            self.s3.create_bucket(Bucket=self.quarantine)
            self.s3.put_bucket_versioning(Bucket=self.quarantine,
                                          VersioningConfiguration={"Status": "Enabled"})
        self.queue = wire(self.s3, self.sns, self.sqs, self.bucket, self.bucket,
                          events=events, versioned=versioned)["sns"]
        self.versioned = versioned
        receive(self.sqs, self.queue, 1)  # the s3:TestEvent of the new configuration
        self.uploads = []

    def suspend(self):
        """Suspends versioning: new uploads get the `null` version, which the next replaces."""
        self.s3.put_bucket_versioning(Bucket=self.bucket,
                                      VersioningConfiguration={"Status": "Suspended"})
        self.versioned = False

    def put(self, key, body, infected, kind="", **kw):
        u = upload(self.s3, self.bucket, key, body, infected, kind, **kw)
        self.uploads.append(u)
        return u

    def drain(self, seconds=3):
        """Every message the queue holds now (waiting up to `seconds` for the first)."""
        out, deadline = [], time.time() + seconds
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1, AttributeNames=["All"])
            msgs = got.get("Messages", [])
            arn = self.sqs.get_queue_attributes(
                QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            out += [lambda_record(m, arn) for m in msgs]
            if not msgs and (out or time.time() > deadline):
                return out

    def records(self, count=None, version_ids=True):
        """The SQS records for the uploads so far (received from the real queue). In a versioned
        bucket the versionId that S3 sends and moto leaves out is added (version_ids=False: as
        moto sends them)."""
        got = receive(self.sqs, self.queue, len(self.uploads) if count is None else count)
        if self.versioned and version_ids:
            got = with_version_ids(got, self.uploads)
        return got

    def env(self, **extra):
        return scanner_env(self.proxy_url, self.quarantine, **extra)

    def deliver(self, records, max_receives=3, runs=None, **env):
        return deliver(invariants.binary(), records, self.env(**env), max_receives, runs)

    def check(self, dlq=(), pending=(), action="quarantine", production=None):
        return check(self.s3, self.uploads, self.quarantine, dlq, pending, action=action,
                     production=production)


class ProxyTestCase(unittest.TestCase):
    """One proxy (to the moto server) for the whole test class."""

    @classmethod
    def setUpClass(cls):
        cls._proxy = fault_proxy(endpoint())
        cls.proxy_url, cls.control = cls._proxy.__enter__()
        invariants.binary()  # fail early when the binary is missing

    @classmethod
    def tearDownClass(cls):
        cls._proxy.__exit__(None, None, None)

    def assertInvariants(self, report, context=""):
        """THE invariant check (scripts/invariants.py check) for every scenario."""
        self.assertEqual(report.violations, [],
                         f"{context}: invariants broken ({report.summary()})")
