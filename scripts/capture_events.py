"""Regenerates the sample events in events/ from real moto notifications.

Each file is a Lambda SQS event whose records are messages that moto's S3 -> SNS -> SQS (or
S3 -> SQS, or SNS raw delivery) wiring really sent. Where moto falls short of S3 the script
says so and patches the capture, and events/README.md lists those patches.

    .venv/bin/python scripts/capture_events.py
"""

import copy
import json
import os

from emulator import EICAR, ROOT, clients, dump, moto_server, receive, sqs_event, wire

BUCKET = "scan-demo-uploads"
VERSIONED = "scan-demo-versioned"
OUT = os.path.join(ROOT, "events")


def main():
    with moto_server() as endpoint:
        s3, sns, sqs = clients(endpoint)
        q = wire(s3, sns, sqs, BUCKET, "capture",
                 events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"), direct=True, raw=True)
        save("sqs-sns-s3-test-event.json", receive(sqs, q["sns"], 1))
        receive(sqs, q["direct"], 1)  # the direct queue's own TestEvent
        receive(sqs, q["raw"], 1)

        s3.put_object(Bucket=BUCKET, Key="reports/q3.txt", Body=b"quarterly numbers\n",
                      ContentType="text/plain")
        save("sqs-sns-s3-put.json", receive(sqs, q["sns"], 1))
        save("sqs-s3-direct-put.json", receive(sqs, q["direct"], 1))
        save("sqs-sns-raw-put.json", receive(sqs, q["raw"], 1))

        keys = ["my file.txt", "a+b=c.txt", "100% done.txt", "café/naïve résumé.txt"]
        for key in keys:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"plain text\n")
        save("sqs-sns-s3-encoded-key.json", receive(sqs, q["sns"], len(keys)))
        drain(sqs, q)

        s3.put_object(Bucket=BUCKET, Key="inbox/clean.txt", Body=b"hello\n")
        s3.put_object(Bucket=BUCKET, Key="inbox/eicar.com", Body=EICAR)
        s3.put_object(Bucket=BUCKET, Key="inbox/notes.md", Body=b"# notes\n")
        batch = receive(sqs, q["sns"], 3)
        save("sqs-sns-s3-batch.json", batch)
        drain(sqs, q)

        s3.delete_object(Bucket=BUCKET, Key="reports/q3.txt")
        save("sqs-sns-s3-delete.json", receive(sqs, q["sns"], 1))
        drain(sqs, q)

        # One S3 event with two records. S3 itself sends one record per event, but the format
        # allows more and the decoder must handle every one: built from two real captures.
        multi = copy.deepcopy(batch[0])
        envelope = json.loads(multi["body"])
        first = json.loads(envelope["Message"])
        second = json.loads(json.loads(batch[1]["body"])["Message"])
        first["Records"] += second["Records"]
        envelope["Message"] = json.dumps(first)
        multi["body"] = json.dumps(envelope)
        save("sqs-sns-s3-multi-record.json", [multi])

        qv = wire(s3, sns, sqs, VERSIONED, "capture-versioned", versioned=True)
        receive(sqs, qv["sns"], 1)
        put = s3.put_object(Bucket=VERSIONED, Key="docs/v.txt", Body=b"version one\n")
        s3.put_object(Bucket=VERSIONED, Key="docs/v.txt", Body=b"version two\n")
        records = receive(sqs, qv["sns"], 2)
        # moto omits versionId from notifications; S3 sends it. Put back the version moto
        # returned for the first upload, so the event names the older version.
        first_put = records[0]
        envelope = json.loads(first_put["body"])
        message = json.loads(envelope["Message"])
        message["Records"][0]["s3"]["object"]["versionId"] = put["VersionId"]
        envelope["Message"] = json.dumps(message)
        first_put["body"] = json.dumps(envelope)
        save("sqs-sns-s3-versioned.json", [first_put])

        good = receive_one_fresh(s3, sqs, q)
        save("sqs-batch-one-poison.json", poison_batch(good))


def receive_one_fresh(s3, sqs, q):
    s3.put_object(Bucket=BUCKET, Key="inbox/after-poison.txt", Body=b"fine\n")
    good = receive(sqs, q["sns"], 1)[0]
    drain(sqs, q)
    return good


def poison_batch(good):
    """Malformed bodies around one good record: only the malformed ones must fail."""
    def bad(suffix, body):
        record = copy.deepcopy(good)
        record["messageId"] = f"poison-{suffix}"
        record["body"] = body
        return record

    envelope = json.loads(good["body"])
    not_json_message = dict(envelope, Message="{this is not json")
    message = json.loads(envelope["Message"])
    no_key = copy.deepcopy(message)
    del no_key["Records"][0]["s3"]["object"]["key"]
    wrong_type = copy.deepcopy(message)
    wrong_type["Records"][0]["s3"]["object"]["size"] = "big"
    return [
        bad("not-json", "<xml>not json</xml>"),
        bad("sns-message-not-json", json.dumps(not_json_message)),
        good,
        bad("missing-key", json.dumps(dict(envelope, Message=json.dumps(no_key)))),
        bad("wrong-type", json.dumps(dict(envelope, Message=json.dumps(wrong_type)))),
        bad("not-s3", json.dumps({"hello": "world"})),
    ]


def drain(sqs, q):
    for url in q.values():
        while sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            pass


def save(name, records):
    dump(os.path.join(OUT, name), sqs_event(records))
    print("wrote", os.path.join("events", name))


if __name__ == "__main__":
    main()
