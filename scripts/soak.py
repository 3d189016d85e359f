"""The soak run: many uploads through the production wiring, random S3 faults, the Lambda SQS
event source emulated, then a reconciliation with the invariant checker of the fault tests.

    scripts/soak [--objects 10000] [--fault-rate 0.05] [--workers 4] [--seed 1]
                 [--max-seconds 1800] [--bin PATH] [--json target/soak.json]

1. Starts moto (or uses --endpoint), creates a versioned quarantine bucket and a protected
   bucket wired S3 -> SNS -> SQS as in production; the queue has a redrive policy to a DLQ
   (maxReceiveCount --max-receives). moto honours redrive policies; that is checked at start on
   a probe queue, and if it did not, the redrive is emulated from ApproximateReceiveCount.
2. Starts scripts/faultproxy.py in front of moto with --fault-rate random faults (seeded),
   spread evenly over 500, 503, timeout (3 s hold), reset and partial, on every S3 operation.
3. Uploads --objects objects straight to moto (mixed sizes 0 B - 1 MB, a few up to 4 MB; ~5 %
   detected by the rules: EICAR, EICAR with trailing whitespace, a PHP web shell inside other
   bytes; plus a few EICARs inside other bytes, which the EICAR rule rightly does not match
   (it wants the test file itself) and so must end Clean; and ~1.5 % broken, encrypted and
   hiding containers: EICAR after a broken zip local header or tar header, in the first of two
   zips or in a zip after a PNG prefix, which must be Infected, and encrypted zips).
4. Meanwhile --workers threads each receive up to 10 messages, run `s3-yara-scan handle` on
   them through the proxy, delete the acknowledged ones and make the failed ones visible again
   after --retry-delay seconds (standing in for a short visibility timeout).
5. When the queue is drained (or --max-seconds pass) reconciles: clean / quarantined / DLQ /
   pending / lost (must be 0) / wrong verdicts (must be 0) / double quarantine, explains each
   DLQ message, prints a table and writes JSON. Exits 1 if any invariant is broken, or if the
   DLQ holds more than it may (`dlq_bound`: the clean uploads with 10 tags of their own, which
   must all be there, plus what the fault rate can explain).

Hostile uploads (--hostile-rate, default 5 %) are mixed in: objects uploaded with a forged
`scan-result=Clean` (and a forged date and ruleset), with 10 tags of their own, with scanner keys
in another letter case, keys of an unversioned bucket overwritten 2-3 times in a row, and
objects of a versioning-suspended bucket (answered with version id `null`, as S3 does; the
emulator sends none). All buckets notify the same topic, which by default also carries
`s3:ObjectTagging:*` events (--no-tag-events to leave them out). The signing key is on unless
--env SIGNING_KEY= says otherwise.

A user rule set from S3 (`RULES`, one rule that matches a marker; ~1 % of the objects carry it and
must be quarantined) is in force, and every --swap-every seconds (default 5; 0: never) a thread
swaps its compiled cache (`.s3-yara-scan-cache/`) for a hostile one, in turn: the cache of
another set (`rule never { condition: false }`, sealed for its own place), that cache's yara-x
bytes without the seal, and noise. Every `handle` run is a cold start that reads the cache: each
swap must be refused (logged at error, counted) and no marker object may come out Clean.
"""

import argparse
import json
import math
import os
import random
import re
import sys
import threading
import time
import uuid
import zlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from emulator import EICAR, ROOT, clients, lambda_record, moto_server, notify, queue, wire
import faultproxy
import invariants
from invariants import WEBSHELL, check, run_handle, scanner_env
from detection import (bad_second_tar_checksum, broken_second_local_header, encrypted_flags,
                       png_like, zip_of)

KINDS = ("500", "503", "timeout", "reset", "partial")  # the faults; `headers` is S3 behaviour
# The SDK's attempts per S3 request (its standard retry mode; docs/failures.md).
SDK_ATTEMPTS = 3
# A soak run may exceed the DLQ bound by chance this rarely.
DLQ_BOUND_TAIL = 1e-4
HOSTILE = ("forged-clean", "ten-tags", "case-variant", "overwrite", "suspended")
# Broken, encrypted and hiding containers (issue 20): never Clean; EICAR behind each break.
CONTAINERS = ("zip-broken-eicar", "tar-badsum-eicar", "two-zips-eicar", "png-zip-eicar",
              "zip-encrypted")
TAG_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectTagging:*")
SIGNING_KEY = "soak-signing-key-0123456789abcdef0123456789"
# The user rule the soak loads from S3, and the marker that it matches (split so that this file
# itself holds no match).
USER_MARKER = b"S3-YARA-SCAN-SOAK-" + b"USER-RULE-MARKER"
USER_RULE = b'rule Soak_User_Rule { strings: $m = "S3-YARA-SCAN-SOAK-' + \
    b'USER-RULE-MARKER" condition: $m }\n'
DECOY_RULE = b"rule never { condition: false }\n"
CACHE_FOLDER = ".s3-yara-scan-cache/"
CACHE_REFUSED = "compiled rules cache refused before loading"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def redrive_works(sqs):
    """True when the emulator moves a message to the DLQ after maxReceiveCount receives."""
    dlq_url, dlq_arn = queue(sqs, f"soak-probe-dlq-{uuid.uuid4().hex[:8]}")
    url = sqs.create_queue(QueueName=f"soak-probe-{uuid.uuid4().hex[:8]}", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})[
        "QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="probe")
    for _ in range(3):
        for m in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []):
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                          VisibilityTimeout=0)
    moved = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=1).get("Messages", [])
    for u in (url, dlq_url):
        sqs.delete_queue(QueueUrl=u)
    return len(moved) == 1


def make_objects(n, rng, pool, hostile_rate=0.0):
    """[(key, body-spec, infected, kind, hostile)] with a body spec cheap to keep: (offset,
    size) into `pool` plus an optional payload at a position; `hostile` is one of HOSTILE or
    None."""
    objs = []
    for i in range(n):
        hostile = rng.choice(HOSTILE) if rng.random() < hostile_rate else None
        r = rng.random()
        if r < 0.10:
            size = rng.randint(0, 100)
        elif r < 0.50:
            size = rng.randint(100, 10_000)
        elif r < 0.85:
            size = rng.randint(10_000, 100_000)
        elif r < 0.995:
            size = rng.randint(100_000, 1_048_576)
        else:
            size = rng.randint(1_048_577, 4 * 1_048_576)
        d = rng.random()
        if d < 0.02:
            kind, infected = "eicar", True
        elif d < 0.03:
            kind, infected = "eicar+whitespace", True
        elif d < 0.05:
            kind, infected = "webshell-inside", True
        elif d < 0.06:
            kind, infected = "eicar-inside (no match)", False
        elif d < 0.07:
            kind, infected = "user-rule-inside", True
        elif d < 0.085:
            kind = rng.choice(CONTAINERS)
            infected = kind != "zip-encrypted"
        else:
            kind, infected = "random", False
        name = f"{i:05d}-{kind.split(' ')[0]}.bin"
        if i % 50 == 7:
            name = f"dir with space/ü-{name}"
        objs.append((f"soak/{name}", (rng.randrange(len(pool) - size + 1), size,
                                      rng.random()), infected, kind, hostile))
    return objs


def container(kind, filler):
    """A broken, encrypted or hiding container of `kind` (one of CONTAINERS); EICAR behind the
    break or after the first archive, `filler` in the other members."""
    e, a, b = ("eicar.com", EICAR), ("a.bin", filler), ("b.txt", b"second member")
    return {
        "zip-broken-eicar": lambda: broken_second_local_header([a, b, e]),
        "tar-badsum-eicar": lambda: bad_second_tar_checksum([a, b, e]),
        "two-zips-eicar": lambda: zip_of([e]) + zip_of([a]),
        "png-zip-eicar": lambda: png_like() + zip_of([a, e]),
        "zip-encrypted": lambda: encrypted_flags(zip_of([a])),
    }[kind]()


def body_of(spec, kind, pool):
    offset, size, where = spec
    if kind in CONTAINERS:
        return container(kind, bytes(pool[offset:offset + min(size, 65536)]))
    if kind == "eicar":
        return EICAR
    if kind == "eicar+whitespace":
        return EICAR + b"\r\n" + b" " * int(where * 40)
    data = bytes(pool[offset:offset + size])
    payload = {"webshell-inside": WEBSHELL, "eicar-inside (no match)": EICAR,
               "user-rule-inside": USER_MARKER}.get(kind)
    if payload:
        at = int(where * len(data))
        data = data[:at] + payload + data[at:]
        if kind.startswith("eicar") and at == 0:
            data = b"\0" + data  # EICAR at offset 0 would be the test file itself
    return data


class Soak:
    def __init__(self, args, endpoint):
        self.args, self.endpoint = args, endpoint
        self.s3, self.sns, self.sqs = clients(endpoint)
        tag = uuid.uuid4().hex[:8]
        self.bucket, self.quarantine = f"soak-{tag}", f"soak-quarantine-{tag}"
        self.unversioned, self.suspended = f"soak-unversioned-{tag}", f"soak-suspended-{tag}"
        self.lock = threading.Lock()
        self.uploads, self.uploading = [], True
        self.stats = Counter()
        self.errors = {}   # messageId -> last error line of handle about it
        self.run_seconds = []
        self.stop = threading.Event()

    def setup(self):
        a = self.args
        self.s3.create_bucket(Bucket=self.quarantine)
        self.s3.put_bucket_versioning(Bucket=self.quarantine,
                                      VersioningConfiguration={"Status": "Enabled"})
        events = TAG_EVENTS if a.tag_events else TAG_EVENTS[:1]
        self.queue = wire(self.s3, self.sns, self.sqs, self.bucket, self.bucket, events=events,
                          versioned=not a.unversioned)["sns"]
        # The hostile buckets notify the same topic (create_topic returns the existing one).
        topic = self.sns.create_topic(Name=f"{self.bucket}-topic")["TopicArn"]
        for bucket, status in ((self.unversioned, None), (self.suspended, "Suspended")):
            self.s3.create_bucket(Bucket=bucket)
            if status:
                for st in ("Enabled", status):
                    self.s3.put_bucket_versioning(Bucket=bucket,
                                                  VersioningConfiguration={"Status": st})
            notify(self.s3, bucket, topic, events)
        self.rules_bucket = f"{self.bucket}-rules"
        self.s3.create_bucket(Bucket=self.rules_bucket)
        self.s3.put_object(Bucket=self.rules_bucket, Key="user/soak.yar", Body=USER_RULE)
        self.s3.put_object(Bucket=self.rules_bucket, Key="decoy/never.yar", Body=DECOY_RULE)
        self.queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.dlq, dlq_arn = queue(self.sqs, f"{self.bucket}-dlq")
        self.real_redrive = redrive_works(self.sqs)
        attrs = {"VisibilityTimeout": str(a.visibility)}
        if self.real_redrive:
            attrs["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(a.max_receives)})
        self.sqs.set_queue_attributes(QueueUrl=self.queue, Attributes=attrs)

    def upload_all(self):
        a = self.args
        rng = random.Random(a.seed)
        pool = memoryview(random.Random(a.seed + 1).randbytes(8 * 1_048_576))
        objs = make_objects(a.objects, rng, pool, a.hostile_rate)

        def put(o):
            key, spec, infected, kind, hostile = o
            body = body_of(spec, kind, pool)
            kw = {"Tagging": "owner=soak"} if zlib.crc32(key.encode()) % 10 == 0 else {}
            if hostile:
                uploads = self.put_hostile(hostile, key, body, infected, kind, spec)
            else:
                uploads = [invariants.upload(self.s3, self.bucket, key, body, infected, kind, **kw)]
            with self.lock:
                self.uploads.extend(uploads)
        try:
            with ThreadPoolExecutor(4) as pool_:
                list(pool_.map(put, objs))
        finally:
            self.uploading = False

    def put_hostile(self, hostile, key, body, infected, kind, spec):
        """Uploads one hostile object (see HOSTILE); returns its Uploads, superseded ones first."""
        up = invariants.upload
        label = f"{hostile}: {kind}"
        if hostile == "forged-clean":
            return [up(self.s3, self.bucket, key, body, infected, label,
                       Tagging=invariants.forged_tagging("Clean", [("owner", "soak")]))]
        if hostile == "ten-tags":
            tagging = "&".join(f"t{i}=v{i}" for i in range(10))
            return [up(self.s3, self.bucket, key, body, infected, label, Tagging=tagging)]
        if hostile == "case-variant":
            return [up(self.s3, self.bucket, key, body, infected, label,
                       Tagging=invariants.forged_tagging("Clean", case=str.title))]
        bucket = self.unversioned if hostile == "overwrite" else self.suspended
        times = 2 + int(spec[2] * 2) if hostile == "overwrite" else 1 + int(spec[2] * 2)
        uploads = []
        for n in range(times):
            last = n == times - 1
            # Earlier uploads differ from the last (and from each other): EICAR or text.
            data, bad = (body, infected) if last else (
                (EICAR, True) if n % 2 == 0 else (f"earlier upload {n}\n".encode(), False))
            uploads.append(up(self.s3, bucket, key, data, bad, label if last else
                              f"{hostile}: overwritten"))
        for u in uploads[:-1]:
            u.superseded = True
        return uploads

    def worker(self, env):
        a, sqs = self.args, self.sqs
        while not self.stop.is_set():
            got = sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
            if not got:
                continue
            if not self.real_redrive:  # emulated redrive
                over = [m for m in got if int(m["Attributes"]["ApproximateReceiveCount"]) > a.max_receives]
                for m in over:
                    sqs.send_message(QueueUrl=self.dlq, MessageBody=m["Body"])
                    sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=m["ReceiptHandle"])
                got = [m for m in got if m not in over]
            records = [lambda_record(m, self.queue_arn) for m in got]
            run = run_handle(self.exe, records, env, timeout=a.visibility - 10)
            self.note(run, records)
            acked = [r for r in records if r["messageId"] not in run.failed]
            for i in range(0, len(acked), 10):
                sqs.delete_message_batch(QueueUrl=self.queue, Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"]}
                    for n, r in enumerate(acked[i:i + 10])])
            failed = [r for r in records if r["messageId"] in run.failed]
            if failed:
                sqs.change_message_visibility_batch(QueueUrl=self.queue, Entries=[
                    {"Id": str(n), "ReceiptHandle": r["receiptHandle"],
                     "VisibilityTimeout": a.retry_delay} for n, r in enumerate(failed)])

    def note(self, run, records):
        with self.lock:
            self.stats["handle runs"] += 1
            self.stats["messages delivered"] += len(records)
            self.stats["messages failed (retried)"] += len(run.failed)
            if run.returncode != 0:
                self.stats["handle runs that failed as a whole"] += 1
            self.run_seconds.append(run.seconds)
            self.stats["swapped caches refused"] += run.stderr.count(CACHE_REFUSED)
            for line in run.stderr.splitlines():
                if "ERROR" in line or "retry=" in line:
                    for mid in UUID.findall(line):
                        if any(r["messageId"] == mid for r in records):
                            self.errors[mid] = strip_ansi(line)[:600]
            if run.returncode != 0:
                for r in records:
                    self.errors.setdefault(r["messageId"], f"handle exited {run.returncode}: "
                                           + strip_ansi(run.stderr[-300:]))

    def ruleset_in_force(self, env):
        """The identity of the rules the scanner judges with (the embedded set and the user's),
        as a cold start of the binary logs it: the `scan-rules` its verdicts carry."""
        run = run_handle(self.exe, [], dict(env, RUST_LOG="info", AWS_ENDPOINT_URL=self.endpoint))
        found = re.search(r'rules in force.*?ruleset="?(\w+)', strip_ansi(run.stderr))
        if run.returncode != 0 or not found:
            raise RuntimeError(f"no `rules in force` line from the binary:\n{run.stderr[-2000:]}")
        return found.group(1)

    def decoy_cache(self, env):
        """The bytes of another set's compiled cache (the decoy folder's, written by a cold
        start of the binary with RULES there), as an attacker who can write the cache folder
        could copy them; None without a signing key (no cache at all)."""
        decoy_env = dict(env, RULES=f"s3://{self.rules_bucket}/decoy/",
                         AWS_ENDPOINT_URL=self.endpoint)
        run = run_handle(self.exe, [], decoy_env)
        listed = self.s3.list_objects_v2(Bucket=self.rules_bucket,
                                         Prefix="decoy/" + CACHE_FOLDER).get("Contents", [])
        if run.returncode != 0 or not listed:
            print(f"soak: no decoy cache was written (exit {run.returncode}); swapping noise "
                  "only", file=sys.stderr, flush=True)
            return None
        return self.s3.get_object(Bucket=self.rules_bucket, Key=listed[0]["Key"])["Body"].read()

    def swapper(self, decoy):
        """Swaps the user set's compiled cache for a hostile one every --swap-every seconds."""
        hostile = [b"\x00noise" * 512]
        if decoy:
            # The decoy's own seal (a MAC for its place, not this one), and its bare yara-x bytes.
            hostile += [decoy, decoy[decoy.index(b"YARA-X\0\0"):]]
        turn = 0
        prefix = "user/" + CACHE_FOLDER
        while not self.stop.wait(self.args.swap_every):
            listed = self.s3.list_objects_v2(Bucket=self.rules_bucket, Prefix=prefix)
            for o in listed.get("Contents", []):
                self.s3.put_object(Bucket=self.rules_bucket, Key=o["Key"],
                                   Body=hostile[turn % len(hostile)])
                turn += 1
                with self.lock:
                    self.stats["caches swapped"] += 1

    def counts(self, url):
        at = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return int(at["ApproximateNumberOfMessages"]), int(at["ApproximateNumberOfMessagesNotVisible"])

    def drain(self, url):
        """All messages left on `url` (received with a long visibility timeout)."""
        out, empty = [], 0
        while empty < 2:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           VisibilityTimeout=600, AttributeNames=["All"]).get("Messages", [])
            empty = 0 if got else empty + 1
            out += [lambda_record(m, "") for m in got]
        return out

    def run(self):
        a = self.args
        self.exe = a.bin or invariants.binary(release_first=True)
        self.setup()
        server, proxy_url, state = faultproxy.start(self.endpoint)
        per_kind = a.fault_rate / len(KINDS)
        state.add([{"op": "*", "fault": k, "probability": per_kind, "seed": a.seed * 100 + i,
                    "seconds": 3} for i, k in enumerate(KINDS)] if a.fault_rate > 0 else [])
        # Checked after the faults: S3 names the `null` version of a suspended bucket's objects.
        state.add([{"op": ["GetObject", "HeadObject"], "bucket": re.escape(self.suspended) + "$",
                    "fault": "headers", "headers": {"x-amz-version-id": "null"}}])
        extra = dict({"SIGNING_KEY": SIGNING_KEY,
                      "RULES": f"s3://{self.rules_bucket}/user/",
                      "PROTECTED_BUCKETS": f"{self.bucket},{self.unversioned},{self.suspended}"},
                     **dict(kv.split("=", 1) for kv in a.env))
        env = scanner_env(proxy_url, self.quarantine, **{k: v for k, v in extra.items() if v})
        self.ruleset = self.ruleset_in_force(env)
        decoy = self.decoy_cache(env)
        t0 = time.time()
        print(f"soak: {a.objects} objects, fault rate {a.fault_rate:.1%}, {a.workers} workers, "
              f"seed {a.seed}, binary {os.path.relpath(self.exe, ROOT)}, redrive "
              f"{'by the emulator' if self.real_redrive else 'emulated'}", file=sys.stderr, flush=True)
        uploader = threading.Thread(target=self.upload_all)
        uploader.start()
        workers = [threading.Thread(target=self.worker, args=(env,)) for _ in range(a.workers)]
        if a.swap_every > 0:
            workers.append(threading.Thread(target=self.swapper, args=(decoy,)))
        for w in workers:
            w.start()
        quiet, timed_out, last = 0, False, 0
        while True:
            time.sleep(1)
            visible, invisible = self.counts(self.queue)
            if time.time() - last > 15:
                last = time.time()
                print(f"soak: {time.time() - t0:6.0f}s uploaded {len(self.uploads)}, queue "
                      f"{visible} waiting + {invisible} in flight, {self.stats['handle runs']} runs",
                      file=sys.stderr, flush=True)
            quiet = quiet + 1 if not self.uploading and visible + invisible == 0 else 0
            if quiet >= 3:
                break
            if time.time() - t0 > a.max_seconds:
                timed_out = True
                break
        self.stop.set()
        for w in workers:
            w.join()
        uploader.join()
        elapsed = time.time() - t0
        snapshot = state.snapshot()
        state.stopping.set()
        server.shutdown()
        server.server_close()
        dlq = self.drain(self.dlq)
        pending = self.drain(self.queue) if timed_out else []
        report = check(self.s3, self.uploads, self.quarantine, dlq, pending,
                       ruleset=self.ruleset)
        return self.summarise(report, dlq, pending, snapshot, elapsed, timed_out)

    def summarise(self, report, dlq, pending, snapshot, elapsed, timed_out):
        a = self.args
        real = [i for i in snapshot["injected"] if i["fault"] in KINDS]
        injected = Counter(f"{i['fault']} on {i['op']}" for i in real)
        emulated = Counter(f"{i['fault']} on {i['op']}" for i in snapshot["injected"]
                           if i["fault"] not in KINDS)
        by_key = {}
        for i in real:
            by_key.setdefault(i["key"], Counter())[f"{i['fault']} {i['op']}"] += 1
        states = {}
        named = invariants.decoded(dlq, self.exe)
        # What the DLQ's messages name, as named and without a version (moto names none), and
        # the uploads without one: one lookup for every identity compared below.
        rows = [o for objs in named.values() for o in objs]
        rows += [(b, k, None, e) for b, k, _, e in rows]
        idents = invariants.identities(rows + [st.upload.unversioned_row for st in report.objects])
        for st in report.objects:
            states[st.upload.ident] = st
            states[idents[st.upload.unversioned_row]] = st
        explained = []
        qkeys = invariants.quarantine_keys(
            [(b, k) for objs in named.values() for b, k, _, _ in objs], self.exe)
        for r in dlq:
            objs = named.get(r["messageId"], [])
            if not objs:
                explained.append({"messageId": r["messageId"], "object": None,
                                  "why": "not an S3 object event: "
                                         + self.errors.get(r["messageId"], r["body"][:200])})
                continue
            for b, k, v, e in objs:
                st = states.get(idents[(b, k, v, e)]) or states.get(idents[(b, k, None, e)])
                qkey = qkeys[(b, k)]
                faults = dict(by_key.get(k, Counter()) + by_key.get(qkey, Counter()))
                explained.append({
                    "messageId": r["messageId"], "object": f"{b}/{k}", "versionId": v,
                    "kind": st.upload.kind if st else None,
                    "no_room_for_clean": bool(st) and no_room_for_clean(st.upload),
                    "state": st.status if st else "unknown",
                    "in_place": st.in_place if st else None,
                    "verdict": st.verdict if st else None,
                    "quarantine_copies": len(st.copies) if st else None,
                    "faults_injected_on_it": faults,
                    "last_error": self.errors.get(r["messageId"], "(no error line logged)"),
                })
        log_status = Counter(f"{e['op']} {e['status']}" for e in snapshot["log"])
        runs = sorted(self.run_seconds)
        bound = dlq_bound(a, report, explained, self.stats, len(snapshot["log"]))
        result = {
            "config": {"objects": a.objects, "fault_rate": a.fault_rate, "workers": a.workers,
                       "seed": a.seed, "max_receives": a.max_receives,
                       "retry_delay": a.retry_delay, "binary": self.exe,
                       "versioned": not a.unversioned,
                       "hostile_rate": a.hostile_rate, "tag_events": a.tag_events,
                       "swap_every": a.swap_every,
                       "redrive": "emulator" if self.real_redrive else "emulated"},
            "elapsed_seconds": round(elapsed, 1),
            "drained": not timed_out,
            "counts": report.counts,
            "kinds": dict(Counter(st.upload.kind for st in report.objects).most_common()),
            "bytes_uploaded": sum(u.size for u in self.uploads),
            "runs": dict(self.stats, seconds_median=runs[len(runs) // 2] if runs else None,
                         seconds_max=runs[-1] if runs else None),
            "faults_injected": dict(injected.most_common()),
            "faults_by_kind": dict(Counter(i["fault"] for i in real)),
            "s3_behaviour_emulated": dict(emulated.most_common()),
            "s3_operations": dict(sorted(log_status.items())),
            "dlq": explained,
            "dlq_bound": bound,
            "violations": report.violations[:500],
            "ok": not report.violations and not timed_out and bound["ok"],
        }
        return result


def no_room_for_clean(upload):
    """A clean upload with 10 tags of its own: S3 has no room left for a `Clean` verdict, so
    every delivery of its message fails and it ends in the DLQ (docs/failures.md)."""
    return upload.kind.startswith("ten-tags:") and not upload.infected


def poisson_quantile(lam, tail):
    """The smallest k with P(X > k) <= tail for X ~ Poisson(lam) (terms in logs: e^-lam
    underflows for a large lam)."""
    if lam <= 0:
        return 0
    k, cdf = 0, 0.0
    while True:
        cdf += math.exp(k * math.log(lam) - lam - math.lgamma(k + 1))
        if 1 - cdf <= tail:
            return k
        k += 1


def dlq_bound(a, report, explained, stats, requests):
    """How many messages may end in the DLQ, and which must.

    Must: every clean upload with 10 tags of its own (no room for `Clean`, see
    `no_room_for_clean`). May, besides: messages whose `a.max_receives` deliveries in a row all
    failed on injected faults. A delivery fails on a fault in two ways only: its object's
    GetObject body is cut short (`partial`, one of the len(KINDS) kinds drawn at the fault
    rate: a body is a stream, which the SDK does not retry), or all SDK_ATTEMPTS attempts of
    one request fault (rate ** SDK_ATTEMPTS each). Every request of a handle run counts against
    each of its messages (a run-wide request such as the quarantine bucket's check fails the
    whole batch), so a delivery fails with probability at most
        q = rate / len(KINDS) + (requests / runs) * rate ** SDK_ATTEMPTS,
    and with `deliveries` (an upper bound on the messages) the count dead-lettered by faults is
    at most Poisson(deliveries * q ** max_receives); the allowance is its quantile at
    1 - DLQ_BOUND_TAIL. Dead-lettering everything, or clean objects without cause, exceeds it.
    """
    rate, runs = a.fault_rate, max(stats["handle runs"], 1)
    q = min(1.0, rate / len(KINDS) + requests / runs * rate ** SDK_ATTEMPTS)
    expected = stats["messages delivered"] * q ** a.max_receives
    allowance = poisson_quantile(expected, DLQ_BOUND_TAIL)
    must = sorted(f"{st.upload.bucket}/{st.upload.key}" for st in report.objects
                  if no_room_for_clean(st.upload))
    missing = sorted(set(must) - {e["object"] for e in explained if e.get("no_room_for_clean")})
    by_faults = sum(1 for e in explained if not e.get("no_room_for_clean"))
    return {"no_room_for_clean": len(must), "no_room_not_in_dlq": missing,
            "per_delivery_failure": q, "expected_by_faults": expected,
            "fault_allowance": allowance, "dlq_messages_by_faults": by_faults,
            "ok": not missing and by_faults <= allowance}


def strip_ansi(s):
    return re.sub(r"\x1b\[[0-9;]*m", "", s)


def print_table(r):
    c = r["counts"]
    rows = [
        ("objects uploaded", c["objects"]),
        ("  of which infected (by construction)", c["infected_uploaded"]),
        ("tagged Clean, in place", c["clean"]),
        ("quarantined (one copy, source gone)", c["quarantined"]),
        ("tagged Infected, still in place", c["infected_in_place"]),
        ("Unscannable / Error", c["unscannable_or_error"]),
        ("message in the DLQ", c["dlq"]),
        ("overwritten before their scan (hostile)", c["superseded"]),
        ("still queued at the time limit", c["pending"]),
        ("LOST (must be 0)", c["lost"]),
        ("WRONG VERDICTS (must be 0)", c["wrong_verdicts"]),
        ("double quarantine", c["double_quarantine"]),
        ("invariant violations", c["violations"]),
    ]
    w = max(len(k) for k, _ in rows)
    print(f"{'reconciliation':<{w}}  count")
    print(f"{'-' * w}  -----")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    runs = r["runs"]
    if r["config"]["swap_every"] > 0:
        print(f"compiled caches swapped for hostile ones: {runs.get('caches swapped', 0)}, "
              f"refused by cold starts: {runs.get('swapped caches refused', 0)}")
    print(f"\n{r['elapsed_seconds']}s, {'drained' if r['drained'] else 'NOT drained (time limit)'}; "
          f"{runs.get('handle runs', 0)} handle runs, {runs.get('messages delivered', 0)} deliveries, "
          f"{runs.get('messages failed (retried)', 0)} reported as failures; "
          f"{sum(r['faults_injected'].values())} faults injected")
    for k, v in list(r["faults_injected"].items())[:12]:
        print(f"  {v:6d}  {k}")
    b = r["dlq_bound"]
    print(f"DLQ: {b['no_room_for_clean']} clean uploads with 10 tags of their own (must be there"
          + (f"; missing: {b['no_room_not_in_dlq']}" if b["no_room_not_in_dlq"] else "")
          + f"), {b['dlq_messages_by_faults']} other messages (at most {b['fault_allowance']}: "
          f"{b['expected_by_faults']:.2g} expected from the fault rate)")
    if r["dlq"]:
        print("\nDLQ:")
        for d in r["dlq"]:
            print(f"  {d.get('object')}: {d.get('state')}, faults {d.get('faults_injected_on_it')}; "
                  f"{d.get('last_error', d.get('why', ''))[:300]}")
    if r["violations"]:
        print("\nviolations:")
        for v in r["violations"][:50]:
            print("  " + v)
    print("\nsoak: " + ("OK" if r["ok"] else "NOT OK"))


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--objects", type=int, default=10_000)
    p.add_argument("--fault-rate", type=float, default=0.05,
                   help="share of S3 requests that get a fault (default 0.05)")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=3600)
    p.add_argument("--max-receives", type=int, default=3, help="the redrive maxReceiveCount")
    p.add_argument("--retry-delay", type=int, default=2,
                   help="seconds before a failed message is visible again")
    p.add_argument("--visibility", type=int, default=60,
                   help="queue visibility timeout; a lost receive comes back after it")
    p.add_argument("--bin", help="the s3-yara-scan binary (default: release if built, else debug)")
    p.add_argument("--endpoint", help="an emulator already running (default: start moto)")
    p.add_argument("--unversioned", action="store_true", help="an unversioned protected bucket")
    p.add_argument("--hostile-rate", type=float, default=0.05,
                   help="share of hostile uploads (forged or crowded tags, case variants, "
                        "overwrites, a suspended bucket; default 0.05)")
    p.add_argument("--swap-every", type=float, default=5.0,
                   help="seconds between swaps of the user set's compiled cache for a hostile "
                        "one (default 5; 0: never)")
    p.add_argument("--no-tag-events", dest="tag_events", action="store_false",
                   help="do not subscribe to s3:ObjectTagging:* events")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra variable for handle (e.g. S3_TIMEOUT_SECS=5)")
    p.add_argument("--json", default=os.path.join(ROOT, "target", "soak.json"))
    return p


def soak(argv=None, endpoint=None):
    """Runs the soak; returns the result dict (also written to --json)."""
    args = parser().parse_args(argv)
    if endpoint or args.endpoint:
        result = Soak(args, endpoint or args.endpoint).run()
    else:
        with moto_server() as ep:
            result = Soak(args, ep).run()
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2, ensure_ascii=False)
    return result


def main(argv=None):
    result = soak(argv)
    print_table(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
