"""The demo: the full pipeline on a local emulator, wired as in production.

    scripts/demo            (builds the release binary, then runs this)

Creates a protected bucket, a quarantine bucket, an SNS topic and an SQS queue (S3
notification -> SNS -> SQS), uploads a clean file, the EICAR test file and a file whose key has
a space, receives the messages, runs `s3-yara-scan handle` on them, deletes the acknowledged
messages and prints where each object is now. Exits non-zero if anything is not as expected.
"""

import json
import os
import subprocess
import sys

from emulator import EICAR, ROOT, clients, dump, emulator_env, moto_server, receive, sqs_event, wire

PROTECTED = "demo-uploads"
QUARANTINE = "demo-quarantine"
UPLOADS = [
    # key, body, user tags, expected verdict, expected place
    ("reports/summary.txt", b"Quarterly summary: all good.\n", "owner=finance", "Clean", PROTECTED),
    ("inbox/eicar.com", EICAR, "", "Infected", QUARANTINE),
    ("inbox/annual report.txt", b"An ordinary report.\n", "", "Clean", PROTECTED),
]


def main(binary):
    with moto_server() as endpoint:
        s3, sns, sqs = clients(endpoint)
        s3.create_bucket(Bucket=QUARANTINE)
        # Versioned, as the function requires (and the SAM template's quarantine bucket is).
        s3.put_bucket_versioning(Bucket=QUARANTINE,
                                 VersioningConfiguration={"Status": "Enabled"})
        queue_url = wire(s3, sns, sqs, PROTECTED, "demo")["sns"]
        for key, body, tagging, _, _ in UPLOADS:
            s3.put_object(Bucket=PROTECTED, Key=key, Body=body, Tagging=tagging,
                          ContentType="text/plain", Metadata={"uploaded-by": "demo"})
        # One s3:TestEvent (sent when the notification was configured) plus one per upload.
        records = receive(sqs, queue_url, 1 + len(UPLOADS))
        event_file = os.path.join(ROOT, "target", "demo-event.json")
        dump(event_file, sqs_event(records))

        env = dict(os.environ, **emulator_env(endpoint), QUARANTINE_BUCKET=QUARANTINE,
                   RUST_LOG=os.environ.get("RUST_LOG", "warn"))
        print(f"$ {os.path.relpath(binary, ROOT)} handle {os.path.relpath(event_file, ROOT)}")
        out = subprocess.run([binary, "handle", event_file], env=env, capture_output=True,
                             text=True)
        # The handler's own log (the infected object's line, the metrics) goes to a file: the
        # demo's output is the table and the verdict.
        log_file = os.path.join(ROOT, "target", "demo-handle.log")
        with open(log_file, "w") as f:
            f.write(out.stderr)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            sys.exit(f"demo: the handler failed with exit code {out.returncode}")
        response = json.loads(out.stdout)
        retried = len(response["batchItemFailures"])
        print(f"handler: {len(records)} messages, {retried} to retry "
              f"(its log: {os.path.relpath(log_file, ROOT)})")
        retry = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for r in records:
            if r["messageId"] not in retry:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=r["receiptHandle"])
        left = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]

        rows, problems = [], []
        for key, _, tagging, want_verdict, want_place in UPLOADS:
            place, tags = locate(s3, key)
            verdict = tags.get("scan-result", "-")
            rows.append((key, verdict, tags, place))
            if verdict != want_verdict or place != want_place:
                problems.append(f"{key}: {verdict} in {place}, expected {want_verdict} in {want_place}")
            for pair in filter(None, tagging.split("&")):
                k, v = pair.split("=")
                if tags.get(k) != v:
                    problems.append(f"{key}: user tag {k}={v} was not kept")
        if retry:
            problems.append(f"messages to retry: {sorted(retry)}")
        print_table(rows)
        print(f"queue after acknowledging: {left['ApproximateNumberOfMessages']} waiting, "
              f"{left['ApproximateNumberOfMessagesNotVisible']} in flight")
        if problems:
            sys.exit("demo: NOT as expected:\n  " + "\n  ".join(problems))
        print("demo: as expected (clean files tagged Clean in place, EICAR quarantined)")


def locate(s3, key):
    """Where the object is now, and its tags there."""
    for bucket, k in ((PROTECTED, key), (QUARANTINE, f"{PROTECTED}/{key}")):
        try:
            tags = s3.get_object_tagging(Bucket=bucket, Key=k)["TagSet"]
            return bucket, {t["Key"]: t["Value"] for t in tags}
        except s3.exceptions.NoSuchKey:
            continue
        except s3.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
                continue
            raise
    return "nowhere", {}


def print_table(rows):
    header = ("key", "verdict", "tags", "where it is now")
    cells = [header] + [
        (key, verdict, ", ".join(f"{k}={v}" for k, v in sorted(tags.items())), place)
        for key, verdict, tags, place in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: demo.py PATH/TO/s3-yara-scan")
    main(os.path.abspath(sys.argv[1]))
