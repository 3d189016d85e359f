"""`cargo lambda watch` + `cargo lambda invoke --data-file`: the function as Lambda runs it,
locally, on events the emulator really sent, for one clean and one infected object."""

import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from emulator import (EICAR, ROOT, clients, dump, emulator_env, free_port, moto_server,  # noqa: E402
                      receive, sqs_event, stop, wire)

CARGO_LAMBDA = [os.path.join(os.path.dirname(sys.executable), "cargo-lambda"), "lambda"]


class CargoLambdaInvoke(unittest.TestCase):
    def test_watch_and_invoke_scan_clean_and_infected_events(self):
        with moto_server() as endpoint:
            s3, sns, sqs = clients(endpoint)
            s3.create_bucket(Bucket="invoke-quarantine")
            s3.put_bucket_versioning(Bucket="invoke-quarantine",
                                     VersioningConfiguration={"Status": "Enabled"})
            queue = wire(s3, sns, sqs, "invoke-uploads", "invoke")["sns"]
            receive(sqs, queue, 1)  # s3:TestEvent
            s3.put_object(Bucket="invoke-uploads", Key="ok.txt", Body=b"fine\n")
            s3.put_object(Bucket="invoke-uploads", Key="bad.com", Body=EICAR)
            records = {json.loads(json.loads(r["body"])["Message"])["Records"][0]["s3"]["object"]["key"]: r
                       for r in receive(sqs, queue, 2)}
            files = {}
            for key, record in records.items():
                files[key] = os.path.join(ROOT, "target", f"invoke-{key}.json")
                dump(files[key], sqs_event([record]))

            port = free_port()
            env = dict(os.environ, **emulator_env(endpoint))
            # The function judges only the buckets it protects: these, and the sample events'.
            # The topic onboarded buckets notify, as the template sets it, for the CloudTrail
            # samples (onboarding by tag).
            variables = dict(emulator_env(endpoint), QUARANTINE_BUCKET="invoke-quarantine",
                             PROTECTED_BUCKETS="invoke-uploads,scan-demo-uploads,scan-demo-versioned",
                             NOTIFICATION_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:scan",
                             RUST_LOG="info")
            # A file, not --env-var: cargo lambda splits --env-var values at commas.
            env_file = os.path.join(ROOT, "target", "cargo-lambda-watch.env")
            with open(env_file, "w") as f:
                f.writelines(f"{k}={v}\n" for k, v in variables.items())
            log = open(os.path.join(ROOT, "target", "cargo-lambda-watch.log"), "w")
            watch = subprocess.Popen(
                CARGO_LAMBDA + ["watch", "--ignore-changes", "--invoke-port", str(port), "--timeout", "120",
                                "--env-file", env_file],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                clean = self.invoke(port, files["ok.txt"], env)
                infected = self.invoke(port, files["bad.com"], env)
                samples = {name: self.invoke(port, os.path.join(ROOT, "events", name), env)
                           for name in sorted(os.listdir(os.path.join(ROOT, "events")))
                           if name.endswith(".json")}
            finally:
                stop(watch, 20)

            # Every sample event works with `cargo lambda invoke --data-file`. Their buckets do not
            # exist here, so objects are "gone" and acknowledged; only malformed records fail.
            self.assertGreaterEqual(len(samples), 10)
            for name, response in samples.items():
                if name == "s3-batch-operations.json":
                    # An S3 Batch Operations job: answered per task; its bucket does not exist.
                    codes = [r["resultCode"] for r in response["results"]]
                    self.assertEqual(codes, ["PermanentFailure"] * 2, response)
                    continue
                if name.startswith("cloudtrail-"):
                    # Onboarding by tag: the bucket does not exist, so there is nothing to wire.
                    self.assertEqual(response["outcome"], "Gone", f"{name}: {response}")
                    continue
                failed = sorted(f["itemIdentifier"] for f in response["batchItemFailures"])
                expected = (["poison-missing-key", "poison-not-json", "poison-not-s3",
                             "poison-sns-message-not-json", "poison-wrong-type"]
                            if name == "sqs-batch-one-poison.json" else [])
                self.assertEqual(failed, expected, name)

            self.assertEqual(clean, {"batchItemFailures": []})
            self.assertEqual(infected, {"batchItemFailures": []})
            tags = {t["Key"]: t["Value"] for t in
                    s3.get_object_tagging(Bucket="invoke-uploads", Key="ok.txt")["TagSet"]}
            self.assertEqual(tags["scan-result"], "Clean")
            listed = s3.list_objects_v2(Bucket="invoke-uploads").get("Contents", [])
            self.assertEqual([o["Key"] for o in listed], ["ok.txt"])
            tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(
                Bucket="invoke-quarantine", Key="invoke-uploads/bad.com")["TagSet"]}
            self.assertEqual(tags["scan-result"], "Infected")
            self.assertEqual(tags["scan-matches"], "EICAR_Test_File")

    def invoke(self, port, data_file, env, seconds=900):
        """Invokes through the watch server; the first call waits for its build."""
        deadline = time.time() + seconds
        while True:
            out = subprocess.run(
                CARGO_LAMBDA + ["invoke", "s3-yara-scan", "--invoke-port", str(port),
                                "--data-file", data_file, "--output-format", "json"],
                cwd=ROOT, env=env, capture_output=True, text=True)
            if out.returncode == 0:
                return json.loads(out.stdout)
            if time.time() > deadline:
                self.fail(f"cargo lambda invoke failed: {out.stderr}")
            time.sleep(3)


if __name__ == "__main__":
    unittest.main()
