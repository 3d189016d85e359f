"""SSE-KMS objects: read, tagged and quarantined like any other, the quarantine copy taking the
quarantine bucket's own encryption; promoted to production (PROMOTE) with their own key, never
turned into the production bucket's SSE-S3; a function that may not use the object's KMS key
tags it `Error` naming the key, and does not retry (retrying cannot grant a permission)."""

import boto3

from tests.faults.support import EICAR, ProxyTestCase, World, endpoint, name
from faultproxy import DENIED_KMS_KEY


class Kms(ProxyTestCase):
    def setUp(self):
        self.control.clear()
        kms = boto3.client("kms", endpoint_url=endpoint(), region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        self.key = kms.create_key(Description="s3-yara-scan test")["KeyMetadata"]["Arn"]

    def kms_world(self, prefix):
        w = World(self.proxy_url, self.control, versioned=True)
        w.s3.put_bucket_encryption(Bucket=w.quarantine, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        kw = dict(ServerSideEncryption="aws:kms", SSEKMSKeyId=self.key)
        w.put(f"{prefix}/clean.txt", b"quarterly numbers", False, **kw)
        w.put(f"{prefix}/eicar.com", EICAR, True, **kw)
        return w

    def test_sse_kms_objects_are_scanned_tagged_and_quarantined(self):
        w = self.kms_world("kms")
        dlq = w.deliver(w.records())
        self.assertInvariants(w.check(dlq))
        tags = {t["Key"]: t["Value"] for t in w.s3.get_object_tagging(
            Bucket=w.bucket, Key="kms/clean.txt")["TagSet"]}
        self.assertEqual(tags["scan-result"], "Clean")
        copy = w.s3.head_object(Bucket=w.quarantine, Key=f"{w.bucket}/kms/eicar.com")
        self.assertEqual(copy.get("ServerSideEncryption"), "AES256",
                         "the copy takes the quarantine bucket's encryption, not the source's key")

    def test_promoted_sse_kms_objects_keep_their_key(self):
        w = self.kms_world("promote")
        production = name("prod")
        w.s3.create_bucket(Bucket=production)
        w.s3.put_bucket_versioning(Bucket=production,
                                   VersioningConfiguration={"Status": "Enabled"})
        # As the stack's production bucket: SSE-S3 by default.
        w.s3.put_bucket_encryption(Bucket=production, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        dlq = w.deliver(w.records(), PROMOTE=f"{w.bucket}={production}")
        report = w.check(dlq, production=production)
        self.assertInvariants(report)
        self.assertEqual({st.upload.key: st.status for st in report.objects},
                         {"promote/clean.txt": "promoted", "promote/eicar.com": "quarantined"})
        copy = w.s3.head_object(Bucket=production, Key="promote/clean.txt")
        self.assertEqual((copy.get("ServerSideEncryption"), copy.get("SSEKMSKeyId")),
                         ("aws:kms", self.key), "the production copy keeps the source's key")
        quarantined = w.s3.head_object(Bucket=w.quarantine, Key=f"{w.bucket}/promote/eicar.com")
        self.assertEqual(quarantined.get("ServerSideEncryption"), "AES256")

    def test_missing_kms_permission_is_an_error_naming_the_key(self):
        w = self.kms_world("denied")
        self.control.add({"op": "GetObject", "fault": "kms-denied"})
        runs = []
        dlq = w.deliver(w.records(), runs=runs)
        self.assertEqual(len(runs), 1, "a missing permission is not retried")
        self.assertEqual(dlq, [])
        for key in ("denied/clean.txt", "denied/eicar.com"):
            tags = {t["Key"]: t["Value"] for t in w.s3.get_object_tagging(
                Bucket=w.bucket, Key=key)["TagSet"]}
            self.assertEqual(tags["scan-result"], "Error", key)
            self.assertIn(DENIED_KMS_KEY, tags["scan-detail"], key)
