"""scripts/faultproxy.py on its own: faithful forwarding (methods, keys needing escapes, query
strings, large and chunked bodies), the operation classification and log, and each fault."""

import http.client
import os
import socket
import time
import urllib.parse

import boto3
import botocore.config
import botocore.exceptions

from tests.faults.support import ProxyTestCase, name

Config = botocore.config.Config


class FaultProxy(ProxyTestCase):
    def setUp(self):
        self.control.clear()
        kw = dict(endpoint_url=self.proxy_url, region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
        self.s3 = boto3.client("s3", **kw)
        self.once = boto3.client("s3", config=Config(
            retries={"total_max_attempts": 1}, read_timeout=10, connect_timeout=5), **kw)
        self.bucket = name("proxy")
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.put_bucket_versioning(Bucket=self.bucket,
                                      VersioningConfiguration={"Status": "Enabled"})

    def test_forwards_faithfully(self):
        big = os.urandom(5 * 1024 * 1024 + 3)
        key = "dir/a b+c%ü.bin"
        v = self.s3.put_object(Bucket=self.bucket, Key=key, Body=big, Metadata={"m": "1"})
        got = self.s3.get_object(Bucket=self.bucket, Key=key, VersionId=v["VersionId"])
        self.assertEqual(got["Body"].read(), big)
        self.assertEqual(got["Metadata"], {"m": "1"})
        ranged = self.s3.get_object(Bucket=self.bucket, Key=key, Range="bytes=10-19")
        self.assertEqual(ranged["Body"].read(), big[10:20])
        self.s3.put_object_tagging(Bucket=self.bucket, Key=key,
                                   Tagging={"TagSet": [{"Key": "k", "Value": "v w"}]})
        self.assertEqual(self.s3.get_object_tagging(Bucket=self.bucket, Key=key)["TagSet"],
                         [{"Key": "k", "Value": "v w"}])
        self.s3.copy_object(Bucket=self.bucket, Key="copy",
                            CopySource={"Bucket": self.bucket, "Key": key})
        self.assertEqual(self.s3.head_object(Bucket=self.bucket, Key="copy")["ContentLength"],
                         len(big))
        self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=v["VersionId"])
        ops = [(e["op"], e["key"], e["status"]) for e in self.control.log()
               if e["bucket"] == self.bucket]
        for want in [("PutObject", key, 200), ("GetObject", key, 206),
                     ("PutObjectTagging", key, 200), ("GetObjectTagging", key, 200),
                     ("CopyObject", "copy", 200), ("HeadObject", "copy", 200),
                     ("DeleteObject", key, 204)]:
            self.assertIn(want, ops)
        deletes = [e for e in self.control.log() if e["op"] == "DeleteObject"]
        self.assertEqual(deletes[-1]["versionId"], v["VersionId"])

    def test_chunked_request_body(self):
        host = urllib.parse.urlsplit(self.proxy_url).netloc
        conn = http.client.HTTPConnection(host, timeout=10)
        conn.putrequest("PUT", f"/{self.bucket}/chunked")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        parts = [b"hello ", os.urandom(200_000), b"end"]
        for p in parts:
            conn.send(b"%x\r\n%s\r\n" % (len(p), p))
        conn.send(b"0\r\n\r\n")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        body = self.s3.get_object(Bucket=self.bucket, Key="chunked")["Body"].read()
        self.assertEqual(body, b"".join(parts))

    def test_keep_alive(self):
        host = urllib.parse.urlsplit(self.proxy_url).netloc
        conn = http.client.HTTPConnection(host, timeout=10)
        for _ in range(3):
            conn.request("GET", f"/{self.bucket}?versioning")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertFalse(r.will_close)
        conn.close()

    def test_each_fault(self):
        self.s3.put_object(Bucket=self.bucket, Key="obj", Body=b"x" * 100_000)
        expect = {"500": "InternalError", "503": "SlowDown", "reset": "EndpointConnectionError",
                  "timeout": "ReadTimeoutError", "partial": "ResponseStreamingError"}
        for fault, error in expect.items():
            with self.subTest(fault=fault):
                self.control.add({"op": "GetObject", "key": "^obj$", "fault": fault, "times": 1,
                                  "seconds": 12})
                t0 = time.time()
                with self.assertRaises(Exception) as e:
                    self.once.get_object(Bucket=self.bucket, Key="obj")["Body"].read()
                text = f"{type(e.exception).__name__} {e.exception}"
                if fault in ("500", "503"):
                    self.assertIn(error, text)
                elif fault == "timeout":
                    self.assertGreaterEqual(time.time() - t0, 9, text)
                elif fault == "partial":
                    self.assertIn("IncompleteRead", text)
                # `times` spent: the next request goes through.
                self.assertEqual(len(self.s3.get_object(Bucket=self.bucket, Key="obj")[
                    "Body"].read()), 100_000)
        kinds = [i["fault"] for i in self.control.injected()]
        self.assertEqual(kinds, list(expect))

    def test_reset_is_an_rst(self):
        self.control.add({"op": "HeadBucket", "fault": "reset", "times": 1})
        host, port = urllib.parse.urlsplit(self.proxy_url).netloc.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(f"HEAD /{self.bucket} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            with self.assertRaises(ConnectionResetError):
                s.recv(100)
                s.recv(100)

    def test_after_and_probability(self):
        self.s3.put_object(Bucket=self.bucket, Key="gone", Body=b"x")
        self.control.add({"op": "DeleteObject", "fault": "500", "after": True, "times": 1})
        with self.assertRaises(botocore.exceptions.ClientError):
            self.once.delete_object(Bucket=self.bucket, Key="gone")
        # The delete happened even though the client saw a 500.
        versions = self.s3.list_object_versions(Bucket=self.bucket, Prefix="gone")
        self.assertEqual(len(versions.get("DeleteMarkers", [])), 1)
        self.control.add({"op": "other", "fault": "503", "probability": 0.5, "seed": 3})
        outcomes = []
        for _ in range(40):
            try:
                self.once.list_objects_v2(Bucket=self.bucket)
                outcomes.append(True)
            except botocore.exceptions.ClientError:
                outcomes.append(False)
        self.assertTrue(5 < outcomes.count(False) < 35, outcomes)

    def test_hold_and_release(self):
        self.s3.put_object(Bucket=self.bucket, Key="held", Body=b"x")
        self.control.add({"op": "HeadObject", "fault": "hold", "times": 1, "seconds": 30})
        import threading
        result = {}
        t = threading.Thread(target=lambda: result.update(
            r=self.s3.head_object(Bucket=self.bucket, Key="held")))
        t.start()
        held = self.control.wait_held("HeadObject", seconds=10)
        self.assertEqual(held[0]["key"], "held")
        self.assertTrue(t.is_alive())
        self.assertEqual(self.control.release(), 1)
        t.join(10)
        self.assertEqual(result["r"]["ContentLength"], 1)

    def test_latency_delays_each_request_and_paces_the_body(self):
        body = os.urandom(2 * 1024 * 1024)
        self.s3.put_object(Bucket=self.bucket, Key="paced.bin", Body=body)
        self.control.add({"op": "GetObject", "fault": "latency", "ms": [300, 300], "mbps": 4})
        started = time.monotonic()
        got = self.once.get_object(Bucket=self.bucket, Key="paced.bin")["Body"].read()
        took = time.monotonic() - started
        self.assertEqual(got, body)
        # 0.3 s of delay, then 2 MiB at 4 MB/s: about half a second more.
        self.assertGreater(took, 0.3 + 0.45, took)
        self.assertLess(took, 5, took)
        started = time.monotonic()
        self.once.head_object(Bucket=self.bucket, Key="paced.bin")
        self.assertLess(time.monotonic() - started, 0.3, "other operations are not delayed")

    def test_synthetic_answers_as_though_the_object_held_size_bytes_of_the_source(self):
        import tempfile
        source = tempfile.NamedTemporaryFile(delete=False)
        block = os.urandom(1000)
        source.write(block)
        source.close()
        self.addCleanup(os.unlink, source.name)
        v = self.s3.put_object(Bucket=self.bucket, Key="big.img", Body=b"small")
        size = 10 * 1000 + 7
        self.control.add({"op": ["GetObject", "HeadObject"], "key": "big.img",
                          "fault": "synthetic", "size": size, "source": source.name})
        whole = (block * 11)[:size]
        head = self.s3.head_object(Bucket=self.bucket, Key="big.img")
        self.assertEqual((head["ContentLength"], head["VersionId"]), (size, v["VersionId"]))
        got = self.s3.get_object(Bucket=self.bucket, Key="big.img", VersionId=v["VersionId"])
        self.assertEqual(got["Body"].read(), whole)
        for wanted, expected in (("bytes=995-2004", whole[995:2005]),
                                 ("bytes=10000-", whole[10000:]), ("bytes=-3", whole[-3:])):
            ranged = self.s3.get_object(Bucket=self.bucket, Key="big.img", Range=wanted)
            self.assertEqual(ranged["Body"].read(), expected, wanted)
            self.assertTrue(ranged["ContentRange"].endswith(f"/{size}"), ranged["ContentRange"])
