"""What one object costs: CPU time and S3 requests per object through the real
`s3-yara-scan handle`, over plain HTTP and over TLS, and the price per million objects and per
GB they come to at published prices (scripts/prices.json), beside GuardDuty Malware Protection
for S3 and a ClamAV Lambda.

    .venv/bin/python scripts/emulator.py run -- .venv/bin/python scripts/cost.py \\
        --binary target/release/s3-yara-scan [--json target/bench-cost.json] [--smoke]

How it measures. Objects are clean and untagged in a versioned bucket, the main path
(ACTION=tag: GetObject + PutObjectTagging each). Each cell uploads fresh objects, runs one
`handle` on a batch of them and one on twice as many, at the default MAX_CONCURRENCY (at
most the first batch's size, so that both run on as many connections), and
takes the difference of the two processes' CPU time (user + system) over the objects added:
what a warm function pays per object, without start-up, first connections and TLS handshakes
(the first batch's cost over an empty batch's is reported beside it); the median of several
rounds. Requests are counted twice: on the wire by operation (the fault proxy's log, no faults
set) and by the binary itself (the `S3Requests` of its EMF line); the two must agree. The proxy
also gives the SDK keep-alive connections, as real S3 does (the emulator closes each one).
TLS is Debian's stunnel4 in front of the proxy with a throwaway CA the SDK is told to trust
(SSL_CERT_FILE); without stunnel only HTTP is measured.

How it prices. Lambda gives one vCPU at 1,769 MB and CPU in proportion below: a function of
M MB has M/1769 of a vCPU, so an object's CPU time c takes c x 1769/M of wall time when the CPU
is the bottleneck, and (S3 latency per object) / (objects in flight: MAX_CONCURRENCY, at most
the batch) when S3 is (`--latency-ms`, default 40 ms a request as in the latency sweep,
bodies at 90 MB/s). The billed duration is the larger of the two; S3 requests at their class's
price; one Lambda request per batch; the event's SNS publish and SQS requests. Priced twice:
for full batches (`--batch`, the busy case) and for one object per invocation (low traffic,
where each object waits on S3 alone and the memory size is billed for the wait). Not priced:
the storage of the verdict tags (S3's $0.01 per 10,000 tags a month, 3-5 tags an object).

TLS is also measured apart (`tls`): CPU once per process, per new connection's handshake, per
request on an open connection, from runs of 1 and 64 objects over HTTP and TLS.
"""

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from emulator import clients, emulator_env, free_port, stop  # noqa: E402
from faultproxy import fault_proxy  # noqa: E402

SIZES = (("1 KB", 1024), ("100 KB", 100 * 1024), ("10 MB", 10 * 1024 * 1024))
MEMORY_MB = (128, 256, 512, 1024, 1769, 3008)
# The scanner's own requests (the proxy logs any other under its own name).
GET_CLASS = {"GetObject", "HeadObject", "GetObjectTagging", "GetBucketVersioning"}
FREE = {"DeleteObject"}


def upload(s3, bucket, n, size, prefix):
    """`n` fresh objects of `size` bytes; the SQS records a direct notification would give."""
    records = []
    body = os.urandom(size)
    for i in range(n):
        key = f"{prefix}/{i:05}"
        r = s3.put_object(Bucket=bucket, Key=key, Body=body[:-8] + b"%08d" % i)
        event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
            "bucket": {"name": bucket},
            "object": {"key": key, "size": size, "eTag": r["ETag"].strip('"'),
                       "versionId": r.get("VersionId")}}}]}
        records.append({"messageId": f"m{i}", "body": json.dumps(event),
                        "eventSource": "aws:sqs"})
    return records


Run = namedtuple("Run", "wall cpu requests")


def handle(binary, records, env):
    """One `s3-yara-scan handle` on `records`: its wall and CPU seconds (user + system) and the
    requests it counted itself (its EMF line's S3Requests). Fails unless every record settled."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"Records": records}, f)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run([binary, "handle", f.name], env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(f.name)
    if out.returncode != 0 or '"batchItemFailures": []' not in out.stdout:
        raise RuntimeError(f"handle failed: {out.stdout[-500:]} {out.stderr[-2000:]}")
    counted = 0
    for line in out.stderr.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "S3Requests" in doc:
            counted += doc["S3Requests"]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, counted)


@contextmanager
def tls_terminator(upstream_port):
    """stunnel4 on a free port in front of 127.0.0.1:`upstream_port`, with a certificate for
    localhost from a CA made here: yields (https URL, CA file), or None without stunnel."""
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if not stunnel:
        yield None
        return
    with tempfile.TemporaryDirectory() as d:
        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=cost test CA", "-keyout", "ca.key", "-out", "ca.pem")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                "-keyout", "server.key", "-out", "server.csr")
        with open(os.path.join(d, "san.ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.pem")
        port = free_port()
        conf = os.path.join(d, "stunnel.conf")
        with open(conf, "w") as f:
            f.write(f"foreground = yes\npid =\n[s3]\naccept = 127.0.0.1:{port}\n"
                    f"connect = 127.0.0.1:{upstream_port}\ncert = {d}/server.pem\n"
                    f"key = {d}/server.key\n")
        proc = subprocess.Popen([stunnel, conf], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            wait_for_port(port)
            yield f"https://localhost:{port}", os.path.join(d, "ca.pem")
        finally:
            stop(proc)


def wait_for_port(port, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"stunnel did not listen on {port}")


def measure(binary, s3, bucket, env, control, size, count, rounds, tag):
    """CPU ms per object over `rounds` pairs of batches, `count` and 2 x `count` objects: the
    median marginal cost (the second batch's CPU minus the first's, over the objects it added,
    which leaves out what a process pays once: its start-up, its first connections, TLS set-up,
    as a warm function does) and the median cost of the first batch over an empty one's; and
    the requests per object by operation (wire) and in all (the binary's own count)."""
    empty = statistics.median(handle(binary, [], env).cpu for _ in range(3))
    marginal, whole, ops, counted, objects = [], [], {}, 0, 0
    for r in range(rounds):
        control.clear()
        cpu = []
        for n in (count, 2 * count):
            records = upload(s3, bucket, n, size, f"{tag}/{size}/{r}/{n}")
            run = handle(binary, records, env)
            cpu.append(run.cpu)
            counted += run.requests
            objects += n
        marginal.append((cpu[1] - cpu[0]) * 1000 / count)
        whole.append((cpu[0] - empty) * 1000 / count)
        for entry in control.log():
            ops[entry["op"]] = ops.get(entry["op"], 0) + 1
    per_op = {op: round(n / objects, 2) for op, n in sorted(ops.items())}
    wire = round(sum(ops.values()) / objects, 2)
    if abs(wire - counted / objects) > 0.01:
        raise RuntimeError(f"requests on the wire {per_op} != counted {counted / objects}")
    return {"batch": count, "cpu_ms_per_object": round(statistics.median(marginal), 3),
            "cpu_ms_rounds": [round(c, 3) for c in marginal],
            "cpu_ms_per_object_first_batch": round(statistics.median(whole), 3),
            "empty_batch_cpu_ms": round(empty * 1000, 1),
            "requests_per_object": wire, "requests_by_operation": per_op}


def tls_costs(binary, s3, bucket, http, https, n, repeats):
    """What TLS adds, in CPU ms (medians of `repeats` runs of 1 KB objects): once per process
    (1 object over TLS against HTTP), per request on an established connection (`n` objects on
    one connection) and per new connection's handshake (`n` objects on `n` connections)."""
    def cpu(env, objects, concurrency, tag):
        env = dict(env, MAX_CONCURRENCY=str(concurrency))
        runs = [handle(binary, upload(s3, bucket, objects, 1024, f"tls/{tag}/{r}"), env).cpu
                for r in range(repeats)]
        return statistics.median(runs) * 1000
    one = {t: cpu(env, 1, 1, f"{t}-1") for t, env in (("http", http), ("https", https))}
    serial = {t: cpu(env, n, 1, f"{t}-serial") for t, env in (("http", http), ("https", https))}
    wide = {t: cpu(env, n, n, f"{t}-wide") for t, env in (("http", http), ("https", https))}
    once = one["https"] - one["http"]
    per_request = (serial["https"] - serial["http"] - once) / (2 * n)
    per_handshake = ((wide["https"] - wide["http"]) - (serial["https"] - serial["http"])) / (n - 1)
    return {"once_ms": round(once, 1), "per_request_ms": round(per_request, 3),
            "per_handshake_ms": round(per_handshake, 2), "objects": n,
            "cpu_ms": {"one": one, "serial": serial, "wide": wide}}


def priced_cells(http, tls):
    """The CPU figures to price: HTTP's, plus what TLS adds per request on an open connection.
    (The TLS cells' own marginal figures swing with how many connections each batch happens to
    open, at ~1 ms a handshake; they are reported, not priced.)"""
    if not tls:
        return http, "http"
    extra = max(0.0, tls["per_request_ms"])
    cells = {label: dict(cell, cpu_ms_per_object=round(
        cell["cpu_ms_per_object"] + extra * cell["requests_per_object"], 3))
        for label, cell in http.items()}
    return cells, f"http + TLS on open connections ({extra:.3f} ms a request)"


def price(prices, cell, size, memory_mb, batch, concurrency, latency_ms, mbps):
    """$ per million objects of `size` bytes at `memory_mb`: (Lambda, S3, events, total)."""
    ops = cell["requests_by_operation"]
    gets = sum(n for op, n in ops.items() if op in GET_CLASS)
    puts = sum(n for op, n in ops.items() if op not in GET_CLASS and op not in FREE)
    s3 = gets * prices["s3_get_per_1000"] / 1000 + puts * prices["s3_put_per_1000"] / 1000
    cpu_s = cell["cpu_ms_per_object"] / 1000
    share = min(1.0, memory_mb / prices["lambda_full_vcpu_mb"])
    latency_s = (latency_ms * cell["requests_per_object"] + size / (mbps * 1e6) * 1000) / 1000
    wall = max(cpu_s / share, latency_s / min(concurrency, batch))
    lam = (wall * memory_mb / 1024 * prices["lambda_arm_gb_second"]
           + prices["lambda_per_request"] / batch)
    events = prices["sns_publish"] + prices["sqs_request"] * prices["sqs_requests_per_message"]
    m = 1e6
    return {"lambda": lam * m, "s3": s3 * m, "events": events * m,
            "total": (lam + s3 + events) * m, "wall_ms": wall * 1000}


def peers(prices, size):
    """GuardDuty's and a ClamAV Lambda's $ per million objects of `size` bytes, each with the
    same GetObject and PutObjectTagging as ours (they read and tag too)."""
    gb = size / 2**30
    s3 = prices["s3_get_per_1000"] / 1000 + prices["s3_put_per_1000"] / 1000
    guardduty = prices["guardduty_per_gb"] * gb + prices["guardduty_per_1000_objects"] / 1000
    clam = [seconds * prices["clamav_memory_mb"] / 1024 * prices["lambda_x86_gb_second"]
            for seconds in prices["clamav_seconds_per_cold_file"]]
    return {"guardduty": (guardduty + s3) * 1e6, "clamav": [(c + s3) * 1e6 for c in clam]}


def money(x):
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.2f}" if x >= 0.01 else f"{x:.4f}"


def print_tables(result):
    if result["tls"]:
        t = result["tls"]
        print(f"\nTLS adds, in CPU: {t['once_ms']} ms once per process, {t['per_handshake_ms']} ms "
              f"per new connection, {t['per_request_ms']} ms per request on an open one")
    for transport, cells in result["measured"].items():
        print(f"\n{transport}: per object (batches of N then 2N objects, MAX_CONCURRENCY "
              f"{result['concurrency']} or N if lower)")
        print("| size | N | CPU ms/object | requests/object | by operation |")
        print("| --- | --- | --- | --- | --- |")
        for label, cell in cells.items():
            ops = ", ".join(f"{op} {n}" for op, n in cell["requests_by_operation"].items())
            print(f"| {label} | {cell['batch']} | {cell['cpu_ms_per_object']} "
                  f"| {cell['requests_per_object']} | {ops} |")
    labels = [label for label, _ in SIZES if label in result["prices_per_million"]]
    for table, title in (("prices_per_million", f"full batches of {result['batch']}"),
                         ("prices_per_million_alone", "one object per invocation (low traffic)")):
        print(f"\n$ per million objects, {title}, priced on the {result['priced_on']} figures: "
              "requests and compute (of which Lambda) [per GB]")
        print("| memory MB | " + " | ".join(labels) + " |")
        print("| --- |" + " --- |" * len(labels))
        for mb in MEMORY_MB:
            row = []
            for label in labels:
                p = result[table][label][str(mb)]
                row.append(f"{money(p['total'])} ({money(p['lambda'])}) [{money(p['per_gb'])}]")
            print(f"| {mb} | " + " | ".join(row) + " |")
    for name in ("guardduty", "clamav"):
        row = []
        for label in labels:
            v = result["peers"][label][name]
            row.append(money(v) if not isinstance(v, list) else
                       "–".join(money(x) for x in v))
        print(f"| {name} | " + " | ".join(row) + " |")
    print("(GuardDuty and ClamAV with the same GetObject + PutObjectTagging as ours.)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/s3-yara-scan")
    ap.add_argument("--json")
    ap.add_argument("--prices", default=os.path.join(HERE, "prices.json"))
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=40)
    ap.add_argument("--mbps", type=float, default=90)
    ap.add_argument("--smoke", action="store_true", help="few objects, one round")
    args = ap.parse_args()
    with open(args.prices) as f:
        prices = json.load(f)
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    s3 = clients(endpoint)[0]
    bucket = f"cost-{os.getpid()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    counts = {"1 KB": args.batch, "100 KB": args.batch, "10 MB": max(1, args.batch // 10)}
    rounds = 1 if args.smoke else args.rounds
    if args.smoke:
        counts = {label: max(1, n // 10) for label, n in counts.items()}
    measured, tls_cost = {}, None
    concurrency = default_concurrency(args.binary)
    with fault_proxy(endpoint) as (url, control):
        # Logs at the function's default level: one line per object, as Lambda would write.
        base = dict(os.environ, **emulator_env(url), ACTION="tag", RUST_LOG="info")
        port = int(url.rsplit(":", 1)[1].strip("/"))
        with tls_terminator(port) as tls:
            transports = {"http": base}
            if tls:
                transports["https"] = dict(base, AWS_ENDPOINT_URL=tls[0], SSL_CERT_FILE=tls[1])
            for transport, env in transports.items():
                measured[transport] = {}
                for label, size in SIZES:
                    # Both batches of a pair on as many connections: no more in flight than
                    # the smaller batch (the default for batches over MAX_CONCURRENCY).
                    paired = dict(env, MAX_CONCURRENCY=str(min(concurrency, counts[label])))
                    cell = measure(args.binary, s3, bucket, paired, control, size,
                                   counts[label], rounds, transport)
                    measured[transport][label] = cell
                    print(json.dumps({"transport": transport, "size": label, **cell}),
                          flush=True)
            if tls:
                n, repeats = (max(2, counts["1 KB"]), 1) if args.smoke else (64, 5)
                tls_cost = tls_costs(args.binary, s3, bucket, base, transports["https"], n,
                                     repeats)
                print(json.dumps({"tls": tls_cost}), flush=True)
    priced, priced_on = priced_cells(measured["http"], tls_cost)
    result = {"batch": counts["1 KB"], "concurrency": concurrency, "measured": measured,
              "priced_on": priced_on, "priced_cells": priced, "tls": tls_cost,
              "latency_ms": args.latency_ms, "mbps": args.mbps,
              "prices": prices, "peers": {}}
    for label, size in SIZES:
        for table, batch in (("prices_per_million", result["batch"]),
                             ("prices_per_million_alone", 1)):
            rows = {}
            for mb in MEMORY_MB:
                p = price(prices, priced[label], size, mb, batch, concurrency,
                          args.latency_ms, args.mbps)
                p["per_gb"] = p["total"] / 1e6 * (2**30 / size)
                rows[str(mb)] = {k: round(v, 4) for k, v in p.items()}
            result.setdefault(table, {})[label] = rows
        result["peers"][label] = peers(prices, size)
    print_tables(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


def default_concurrency(binary):
    """MAX_CONCURRENCY's default, as the binary's own contract states it."""
    contract = json.loads(subprocess.run([binary, "contract"], capture_output=True,
                                         text=True, check=True).stdout)
    for setting in contract.get("settings", []):
        if setting.get("name") == "MAX_CONCURRENCY":
            return int(setting["default"])
    raise RuntimeError("the contract names no MAX_CONCURRENCY default")


if __name__ == "__main__":
    main()
