"""Objects/s of one invocation against MAX_CONCURRENCY and the batch size, with S3 answering at
real S3's pace: the fault proxy (scripts/faultproxy.py, fault `latency`) in front of the
emulator delays every request 20-60 ms and relays bodies at most 90 MB/s per stream. Each cell
runs the real `s3-yara-scan handle` on one batch and reports objects/s, the process's CPU use
(user + system time over wall time: 1.0 keeps one vCPU busy) and CPU ms per object.

    .venv/bin/python scripts/emulator.py run -- .venv/bin/python scripts/latency_sweep.py \\
        --binary target/release/s3-yara-scan [--size 102400] [--json out.json]

Objects are clean and untagged in a versioned bucket (ACTION=tag: GetObject + PutObjectTagging
each), so the figures are the main path's.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from cost import handle, upload  # noqa: E402
from emulator import clients, emulator_env  # noqa: E402
from faultproxy import fault_proxy  # noqa: E402

CONCURRENCY = (1, 2, 4, 8, 16, 32, 64)
BATCHES = (10, 100)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/s3-yara-scan")
    ap.add_argument("--size", type=int, default=100 * 1024)
    ap.add_argument("--json")
    args = ap.parse_args()
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    s3 = clients(endpoint)[0]
    bucket = f"sweep-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    rows = []
    with fault_proxy(endpoint) as (url, control):
        control.add({"op": "*", "fault": "latency", "ms": [20, 60], "mbps": 90})
        env = dict(os.environ, **emulator_env(url), ACTION="tag", METRICS="off",
                   RUST_LOG="warn")
        empty_wall, empty_cpu, _ = handle(args.binary, [], env)
        for batch in BATCHES:
            for concurrency in CONCURRENCY:
                if concurrency > batch:
                    continue
                records = upload(s3, bucket, batch, args.size, f"b{batch}-c{concurrency}")
                wall, cpu, _ = handle(args.binary, records,
                                      dict(env, MAX_CONCURRENCY=str(concurrency)))
                work_wall, work_cpu = wall - empty_wall, cpu - empty_cpu
                row = {"batch": batch, "concurrency": concurrency,
                       "objects_per_s": round(batch / work_wall, 1),
                       "cpu_busy": round(work_cpu / work_wall, 2),
                       "cpu_ms_per_object": round(work_cpu * 1000 / batch, 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    print(f"start-up (empty batch): {empty_wall * 1000:.0f} ms wall, {empty_cpu * 1000:.0f} ms CPU")
    print("| batch | MAX_CONCURRENCY | objects/s | CPU busy (1.0 = one vCPU) | CPU ms/object |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['batch']} | {r['concurrency']} | {r['objects_per_s']} | {r['cpu_busy']} "
              f"| {r['cpu_ms_per_object']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "empty_cpu_ms": round(empty_cpu * 1000, 1),
                       "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
