"""The local AWS emulator (moto server) and the production wiring on it.

Used by the demo, the fixture capture and the test command. Starts moto on a free loopback
port, and wires a protected bucket to SQS the way production does: S3 notification -> SNS
topic -> SQS queue (optionally also S3 -> SQS direct and SNS raw delivery).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "us-east-1"
EICAR = (
    b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$"  # split so this file is not detected itself
    + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def moto_server():
    """Runs moto on 127.0.0.1 for the duration of the block; yields its endpoint URL."""
    port = free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "moto_server")
    log = open(os.path.join(ROOT, "target", f"moto-{port}.log"), "w") if os.path.isdir(
        os.path.join(ROOT, "target")) else subprocess.DEVNULL
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_ready(endpoint, proc)
        yield endpoint
    finally:
        stop(proc)


def stop(proc, seconds=10):
    """Terminates `proc`, killing it if it has not exited after `seconds`."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_ready(endpoint, proc, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"moto_server did not answer on {endpoint} within {seconds}s")


def clients(endpoint):
    kw = dict(endpoint_url=endpoint, region_name=REGION,
              aws_access_key_id="test", aws_secret_access_key="test")
    return boto3.client("s3", **kw), boto3.client("sns", **kw), boto3.client("sqs", **kw)


def queue(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def wire(s3, sns, sqs, bucket, name, events=("s3:ObjectCreated:*",), versioned=False,
         direct=False, raw=False):
    """Creates `bucket` and its notification path; returns the queue URLs by kind."""
    s3.create_bucket(Bucket=bucket)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    topic = sns.create_topic(Name=f"{name}-topic")["TopicArn"]
    queues = {}
    queues["sns"], arn = queue(sqs, f"{name}-queue")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    if raw:
        queues["raw"], arn = queue(sqs, f"{name}-raw-queue")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                      Attributes={"RawMessageDelivery": "true"})
    queue_arn = None
    if direct:
        queues["direct"], queue_arn = queue(sqs, f"{name}-direct-queue")
    notify(s3, bucket, topic, events, queue_arn)
    return queues


def notify(s3, bucket, topic, events=("s3:ObjectCreated:*",), queue_arn=None):
    """`bucket`'s notifications: `events` to the SNS `topic` (and straight to the queue
    `queue_arn` too, when given), as production wires a protected bucket."""
    config = {"TopicConfigurations": [{"TopicArn": topic, "Events": list(events)}]}
    if queue_arn:
        config["QueueConfigurations"] = [{"QueueArn": queue_arn, "Events": list(events)}]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=config)


def receive(sqs, url, expect, seconds=10):
    """Receives at least `expect` messages (as Lambda's SQS records) from `url`."""
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records, deadline = [], time.time() + seconds
    while len(records) < expect and time.time() < deadline:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  AttributeNames=["All"], MessageAttributeNames=["All"])
        records += [lambda_record(m, arn) for m in got.get("Messages", [])]
    if len(records) < expect:
        raise RuntimeError(f"expected {expect} messages on {url}, got {len(records)}")
    return records


def lambda_record(m, queue_arn):
    """An SQS message as the Lambda SQS event source delivers it."""
    return {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def sqs_event(records):
    return {"Records": records}


def dump(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def run(argv):
    """`emulator.py run -- CMD ARGS...`: runs CMD with a fresh moto server and the AWS
    variables that point the SDKs at it; returns CMD's exit code."""
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit("usage: emulator.py run -- COMMAND [ARGS...]")
    with moto_server() as endpoint:
        env = dict(os.environ, **emulator_env(endpoint))
        print(f"emulator: moto server on {endpoint}", file=sys.stderr, flush=True)
        return subprocess.call(argv, env=env)


def emulator_env(endpoint):
    """Variables that send every AWS call to the emulator and never to AWS."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["run"]:
        sys.exit(run(sys.argv[2:]))
    sys.exit("usage: emulator.py run -- COMMAND [ARGS...]")
