"""One large object through the agent (`s3-yara-scan poll`), as the large-object queue hands it
over: throughput and peak memory (BENCHMARKS.md, "Objects of any size").

    .venv/bin/python scripts/agent_bench.py --binary target/release/s3-yara-scan \
        --size 20GiB --spool-dir /work/spool [--json target/bench-agent.json]

moto keeps every object in memory, so the object's bytes come from the fault proxy's
`synthetic` rule: a small object in moto answered as though it held `--size` bytes (its
version, ETag and tags are moto's), made of the first 64 MiB of `--source` repeated (by default
this machine's /usr/bin programs and /usr/share/doc texts, concatenated: code, data and text,
not zeros). The notification the function would have
forwarded goes on the queue; the agent reads the object in ranged GETs, spools it to
`--spool-dir`, scans it through a memory map, tags it and deletes the message. Memory is read
from /proc every 100 ms: the peak of the agent's own memory (RssAnon: heap, stacks, buffers) and
of the spool file's pages mapped in (RssFile: page cache the kernel takes back under pressure,
which getrusage's maximum resident set counts too).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import emulator  # noqa: E402
import faultproxy  # noqa: E402

UNITS = {"GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10}


def size(text):
    for unit, factor in UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def notification(bucket, key, length, etag, version):
    obj = {"key": key, "size": length, "eTag": etag}
    if version:
        obj["versionId"] = version
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "eventTime": "2026-12-06T00:00:00.000Z",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket,
                                                   "arn": f"arn:aws:s3:::{bucket}"},
               "object": obj}}]})


def benign_block(path, limit=64 << 20):
    """`path`, filled with this machine's programs and texts up to `limit` bytes."""
    with open(path, "wb") as out:
        for root in ("/usr/bin", "/usr/share/doc"):
            for dirpath, _, files in os.walk(root):
                for name in sorted(files):
                    full = os.path.join(dirpath, name)
                    if os.path.isfile(full) and not os.path.islink(full):
                        with open(full, "rb") as f:
                            out.write(f.read(limit - out.tell()))
                    if out.tell() >= limit:
                        return path
    return path


def watch(proc, peaks, stop):
    """Keeps the peaks of `proc`'s RssAnon and RssFile (kB) in `peaks` until `stop` is set."""
    while not stop.is_set():
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    name, _, value = line.partition(":")
                    if name in peaks:
                        peaks[name] = max(peaks[name], int(value.split()[0]))
        except (FileNotFoundError, ProcessLookupError):
            return
        stop.wait(0.1)


def measure(args, endpoint):
    s3, _, sqs = emulator.clients(endpoint)
    bucket, key = "agent-bench", "disk.img"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"placeholder")
    url, _ = emulator.queue(sqs, "agent-bench-large")
    sqs.send_message(QueueUrl=url, MessageBody=notification(
        bucket, key, args.size, put["ETag"].strip('"'), put.get("VersionId")))
    with faultproxy.fault_proxy(endpoint) as (proxy, control):
        control.add({"op": ["GetObject", "HeadObject"], "bucket": bucket, "key": key,
                     "fault": "synthetic", "size": args.size, "source": args.source})
        env = dict(os.environ, **emulator.emulator_env(endpoint), AWS_ENDPOINT_URL_S3=proxy,
                   ACTION="tag", PROTECTED_BUCKETS=bucket, SPOOL_DIR=args.spool_dir,
                   SCAN_TIMEOUT_SECS=str(args.scan_timeout), RUST_LOG="info")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        peaks, stop = {"RssAnon": 0, "RssFile": 0}, threading.Event()
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen([args.binary, "poll", "--queue-url", url, "--max-batches",
                                     "1", "--batch-size", "1"], env=env, stderr=log,
                                    stdout=subprocess.DEVNULL)
            watcher = threading.Thread(target=watch, args=(proc, peaks, stop))
            watcher.start()
            proc.wait()
            stop.set()
            watcher.join()
            seconds = time.monotonic() - started
            log.seek(0)
            text = log.read().decode(errors="replace")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        gets = [e for e in control.state()["log"] if e.get("fault") == "synthetic"]
    if proc.returncode != 0:
        sys.exit(f"the agent failed ({proc.returncode}):\n{text[-4000:]}")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(
        Bucket=bucket, Key=key, VersionId=put.get("VersionId"))["TagSet"]}
    line = next((l for l in text.splitlines() if "object processed" in l), "")
    return {
        "bytes": args.size,
        "seconds": round(seconds, 1),
        "mb_per_s": round(args.size / 1e6 / seconds, 1),
        "peak_anon_mib": round(peaks["RssAnon"] / 1024, 1),
        "peak_file_mapped_mib": round(peaks["RssFile"] / 1024, 1),
        "peak_rss_mib": round(after.ru_maxrss / 1024, 1),
        "cpu_seconds": round(after.ru_utime + after.ru_stime
                             - before.ru_utime - before.ru_stime, 1),
        "ranged_gets": len(gets),
        "verdict": tags.get("scan-result"),
        "log": line[-600:],
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--binary", default="target/release/s3-yara-scan")
    p.add_argument("--size", type=size, default=size("20GiB"))
    p.add_argument("--spool-dir", default=tempfile.gettempdir())
    p.add_argument("--source", help="file whose first 64 MiB make up the object")
    p.add_argument("--scan-timeout", type=int, default=3600,
                   help="SCAN_TIMEOUT_SECS, as the template's AgentScanTimeoutSecs")
    p.add_argument("--json")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as scratch, emulator.moto_server() as endpoint:
        args.source = args.source or benign_block(os.path.join(scratch, "block"))
        result = measure(args, endpoint)
    print(json.dumps(result, indent=2))
    if args.json:
        emulator.dump(args.json, result)


if __name__ == "__main__":
    main()
