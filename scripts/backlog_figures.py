"""By-hand figures for `backlog` (docs/backlog.md): N objects uploaded to the emulator, a
backlog interrupted by SIGINT after T seconds, then the same command again.

    .venv/bin/python scripts/emulator.py run -- \
        .venv/bin/python scripts/backlog_figures.py 3000 15 target/debug/s3-yara-scan
"""
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
import boto3

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from emulator import EICAR  # noqa: E402
N, T, BIN = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
b, q = "manual-backlog", "manual-backlog-q"
s3.create_bucket(Bucket=b); s3.create_bucket(Bucket=q)
s3.put_bucket_versioning(Bucket=q, VersioningConfiguration={"Status": "Enabled"})
def put(i):
    body = EICAR if i % 1000 == 500 else (f"object {i}\n" * 20).encode()
    s3.put_object(Bucket=b, Key=f"obj/{i:05}", Body=body)
t = time.time()
with ThreadPoolExecutor(32) as ex: list(ex.map(put, range(N)))
print(f"uploaded {N} in {time.time()-t:.1f} s", flush=True)
env = dict(os.environ, QUARANTINE_BUCKET=q, SIGNING_KEY="manual-signing-key-of-at-least-32-bytes!!", RUST_LOG="warn")
state = os.path.join(os.environ.get("TMPDIR", "/tmp"), "backlog-figures-state.json")
if os.path.exists(state): os.remove(state)
cmd = [BIN, "backlog", f"s3://{b}/obj/", "--state", state, "--concurrency", "8"]
p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
time.sleep(T); p.send_signal(signal.SIGINT)
out, err = p.communicate()
print(f"--- first run, SIGINT after {T} s, exit {p.returncode}\n{err}{out}", flush=True)
p = subprocess.run(cmd, env=env, capture_output=True, text=True)
print(f"--- second run (resumed), exit {p.returncode}\n{p.stderr}{p.stdout}", flush=True)
