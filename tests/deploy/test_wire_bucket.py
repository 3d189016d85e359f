"""scripts/wire-bucket against the emulator: it adds the scanner's topic, keeps the bucket's
other notifications, is idempotent, and the wired bucket really notifies the topic."""

import importlib.machinery
import importlib.util
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))
from emulator import clients, queue, receive  # noqa: E402

loader = importlib.machinery.SourceFileLoader("wire_bucket", os.path.join(HERE, "..", "..", "scripts", "wire-bucket"))
spec = importlib.util.spec_from_loader("wire_bucket", loader)
wire_bucket = importlib.util.module_from_spec(spec)
loader.exec_module(wire_bucket)


class WireBucket(unittest.TestCase):
    def test_wiring_keeps_other_notifications_and_is_idempotent(self):
        s3, sns, sqs = clients(os.environ["AWS_ENDPOINT_URL"])
        s3.create_bucket(Bucket="wired-existing")
        other_url, other_arn = queue(sqs, "wired-other")
        s3.put_bucket_notification_configuration(Bucket="wired-existing", NotificationConfiguration={
            "QueueConfigurations": [{"Id": "theirs", "QueueArn": other_arn, "Events": ["s3:ObjectRemoved:*"]}]})
        receive(sqs, other_url, 1)  # its s3:TestEvent
        topic = sns.create_topic(Name="wired-topic")["TopicArn"]
        scan_url, scan_arn = queue(sqs, "wired-scan")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=scan_arn)

        for _ in range(2):
            self.assertEqual(wire_bucket.main(["wired-existing", topic]), 0)
        config = s3.get_bucket_notification_configuration(Bucket="wired-existing")
        self.assertEqual([q["Id"] for q in config["QueueConfigurations"]], ["theirs"])
        self.assertEqual([(t["Id"], t["TopicArn"], t["Events"]) for t in config["TopicConfigurations"]],
                         [("s3-yara-scan", topic, ["s3:ObjectCreated:*"])])

        receive(sqs, scan_url, 1)  # the TestEvent of the new configuration
        s3.put_object(Bucket="wired-existing", Key="new.txt", Body=b"x")
        body = json.loads(receive(sqs, scan_url, 1)[0]["body"])
        self.assertIn("ObjectCreated", body["Message"])

        self.assertEqual(wire_bucket.main(["wired-existing", topic, "--remove"]), 0)
        config = s3.get_bucket_notification_configuration(Bucket="wired-existing")
        self.assertNotIn("TopicConfigurations", config)
        self.assertEqual(len(config["QueueConfigurations"]), 1)

    def test_tag_events_are_a_second_configuration(self):
        merged = wire_bucket.merged({}, "arn:t", tag_events=True)
        self.assertEqual([(t["Id"], t["Events"]) for t in merged["TopicConfigurations"]],
                         [("s3-yara-scan", ["s3:ObjectCreated:*"]),
                          ("s3-yara-scan-tags", ["s3:ObjectTagging:*"])])
        self.assertNotIn("TopicConfigurations", wire_bucket.merged(merged, "arn:t", remove=True))

    def test_merge_replaces_an_older_entry_for_the_same_topic(self):
        current = {"TopicConfigurations": [
            {"Id": "old", "TopicArn": "arn:t", "Events": ["s3:ObjectCreated:*"]},
            {"Id": "keep", "TopicArn": "arn:other", "Events": ["s3:ObjectCreated:*"],
             "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "logs/"}]}}}]}
        merged = wire_bucket.merged(current, "arn:t")
        self.assertEqual([t["Id"] for t in merged["TopicConfigurations"]], ["keep", "s3-yara-scan"])


if __name__ == "__main__":
    unittest.main()
