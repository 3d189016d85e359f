"""A fault-injecting HTTP proxy for S3 traffic: the scanner talks to it, it talks to moto.

    python scripts/faultproxy.py --upstream http://127.0.0.1:5000 [--port 0]

prints the proxy's URL on stdout and runs until interrupted. As a library:

    with fault_proxy(upstream) as (url, control):
        control.add({"op": "GetObject", "fault": "500", "times": 1})
        ...  # point AWS_ENDPOINT_URL at `url`
        control.state()["log"]

Requests are forwarded as they are (method, path, query, headers including Host, body), one
upstream connection per request; request bodies (Content-Length, chunked, aws-chunked) and
response bodies are streamed in 64 KiB pieces, never held whole. Client connections are
keep-alive (HTTP/1.1) unless a fault closes them.

Each request is classified into an S3 operation (path-style URLs): GetObject, HeadObject,
GetObjectTagging, PutObjectTagging, CopyObject, UploadPartCopy, DeleteObject,
GetBucketVersioning; everything else is logged under its own name (PutObject, ListObjectVersions,
CreateMultipartUpload, ...) and matches the operation "other".

Control API, on the same port (paths no S3 bucket can have):

    POST   /__faults__          JSON rule or list of rules -> {"ids": [...]}; rules add up
    GET    /__faults__          {"rules", "injected", "log", "held"}
    DELETE /__faults__          clears rules, injected, log; releases anything held
    POST   /__faults__/release  releases held requests ({"id": N} for one, else all)

A rule:

    {"op": "GetObject" | ["GetObject", ...] | "*" | "other",
     "bucket": "regex", "key": "regex",          # re.search; optional
     "fault": "500" | "503" | "kms-denied" | "timeout" | "reset" | "partial" | "hold" |
              "latency",
     "skip": N,                                   # let the first N matches through
     "times": N,                                  # then only N matches (default: all)
     "probability": 0.05, "seed": 7,              # each match faults with this probability
     "seconds": 3,                                # timeout: how long to hold before closing;
                                                  # hold: the time limit (default 60)
     "after": false,                              # 500/503/timeout/reset: forward the request
                                                  # first, then fault the response (the
                                                  # operation took effect, the answer is lost)
     "fraction": 0.5,                             # partial: share of the body sent
     "on_release": "forward" | "drop",            # hold: then forward it (default) or close
     "headers": {"x-amz-version-id": "null"},     # headers: added to a 2xx answer
     "ms": [20, 60], "mbps": 90}                  # latency: delay (uniform in range), then
                                                  # the answer's body at most this fast

Faults: `500` InternalError, `503` SlowDown and `kms-denied` (403 AccessDenied: the caller may
not use the object's KMS key) answer with S3 error XML; `timeout` holds the
request without answering for `seconds` and then closes the connection; `reset` closes it with
an RST (SO_LINGER 0); `partial` forwards, then sends the status and headers with the full
Content-Length and only `fraction` of the body (for an empty body: only part of the header
block) and closes; `hold` blocks the request until released or until `seconds` pass, then
forwards it or drops it (closes without an answer) as `on_release` says. A request matched by
a rule whose `times` is spent or whose die roll says no is forwarded normally; the first rule
that matches and fires wins. `headers` is no fault but S3 behaviour the emulator lacks: the
answer is forwarded with these headers added (or replaced) when it is a success, e.g. the
`x-amz-version-id: null` that S3 sends for objects of a versioning-suspended bucket.
`latency` is no fault either but real S3's pace: each matching request waits `ms` milliseconds
(a number, or a [low, high] range drawn uniformly) before it is forwarded, and the answer's body
is relayed at most `mbps` megabytes per second (per request, as S3 paces a stream).
`synthetic` is no fault either but an object larger than the emulator can hold (it keeps each
object in memory): a GetObject or HeadObject of a small object upstream is answered with
upstream's headers (version, ETag, dates, tag count) as though it held `size` bytes, the
Range header honoured, checksums dropped, and a body made of the first 64 MiB of the file
`source` repeated (rule fields `size`, `source`): `scripts/bench --agent` scans 20 GiB this way.
"""

import argparse
import http.client
import json
import random
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL = "/__faults__"
CHUNK = 64 * 1024
SYNTHETIC_BLOCK = 64 * 1024 * 1024
FAULTS = ("500", "503", "kms-denied", "timeout", "reset", "partial", "hold", "headers",
          "latency", "synthetic")
# The key named in `kms-denied` answers, as S3 names it when the caller may not use the key.
DENIED_KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
NAMED_OPS = ("GetObject", "HeadObject", "GetObjectTagging", "PutObjectTagging", "CopyObject",
             "UploadPartCopy", "DeleteObject", "GetBucketVersioning")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "expect"}
ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "kms-denied": (403, "AccessDenied",
                   "User: arn:aws:sts::123456789012:assumed-role/scanner/s3-yara-scan is not "
                   f"authorized to perform: kms:Decrypt on resource: {DENIED_KMS_KEY} because no "
                   "identity-based policy allows the kms:Decrypt action"),
}


def classify(method, path, headers):
    """(operation, bucket, key, versionId) of a path-style S3 request."""
    parsed = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    parts = parsed.path.lstrip("/").split("/", 1)
    bucket = urllib.parse.unquote(parts[0]) if parts[0] else None
    key = urllib.parse.unquote(parts[1]) if len(parts) > 1 and parts[1] != "" else None
    version = query.get("versionId", [None])[0]
    copy = "x-amz-copy-source" in headers
    m = method.upper()
    if bucket is None:
        op = "ListBuckets" if m == "GET" else "other"
    elif key is None:
        if m == "GET" and "versioning" in query:
            op = "GetBucketVersioning"
        elif m == "GET" and "versions" in query:
            op = "ListObjectVersions"
        elif m == "GET" and not query or m == "GET" and "list-type" in query:
            op = "ListObjects"
        elif m == "HEAD":
            op = "HeadBucket"
        else:
            op = f"{m} bucket?{'&'.join(sorted(query)) or ''}".rstrip("?")
    elif m == "GET":
        op = "GetObjectTagging" if "tagging" in query else "GetObject"
        if "uploadId" in query:
            op = "ListParts"
    elif m == "HEAD":
        op = "HeadObject"
    elif m == "PUT":
        if "tagging" in query:
            op = "PutObjectTagging"
        elif copy and "partNumber" in query and "uploadId" in query:
            op = "UploadPartCopy"
        elif copy:
            op = "CopyObject"
        elif "partNumber" in query:
            op = "UploadPart"
        else:
            op = "PutObject"
    elif m == "DELETE":
        op = "AbortMultipartUpload" if "uploadId" in query else (
            "DeleteObjectTagging" if "tagging" in query else "DeleteObject")
    elif m == "POST":
        op = "CreateMultipartUpload" if "uploads" in query else (
            "CompleteMultipartUpload" if "uploadId" in query else "PostObject")
    else:
        op = m
    return op, bucket, key, version


class Rule:
    def __init__(self, spec, rid):
        fault = str(spec.get("fault", ""))
        if fault not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}, not {fault!r}")
        op = spec.get("op", "*")
        self.ops = set(op if isinstance(op, list) else [op])
        self.bucket = re.compile(spec["bucket"]) if spec.get("bucket") else None
        self.key = re.compile(spec["key"]) if spec.get("key") else None
        self.fault = fault
        self.skip = int(spec.get("skip", 0))
        self.times = spec.get("times")
        self.probability = spec.get("probability")
        self.rng = random.Random(spec.get("seed", 0))
        self.seconds = float(spec.get("seconds", 60 if fault == "hold" else 5))
        self.after = bool(spec.get("after", False))
        self.fraction = float(spec.get("fraction", 0.5))
        self.on_release = spec.get("on_release", "forward")
        self.headers = {str(k): str(v) for k, v in spec.get("headers", {}).items()}
        ms = spec.get("ms", 0)
        self.ms = (float(ms[0]), float(ms[1])) if isinstance(ms, list) else (float(ms), float(ms))
        self.mbps = float(spec["mbps"]) if spec.get("mbps") else None
        self.size = int(spec.get("size", 0))
        self.block = None
        if fault == "synthetic":
            with open(spec["source"], "rb") as f:
                self.block = f.read(SYNTHETIC_BLOCK)
            if not self.block or not self.size:
                raise ValueError("synthetic needs a size and a non-empty source file")
        if self.on_release not in ("forward", "drop"):
            raise ValueError("on_release must be forward or drop")
        self.id, self.spec, self.matched, self.fired = rid, dict(spec), 0, 0

    def wants(self, op, bucket, key):
        """True when this rule faults this request (counts it)."""
        named = op in NAMED_OPS
        if not ("*" in self.ops or op in self.ops or ("other" in self.ops and not named)):
            return False
        if self.bucket and not (bucket and self.bucket.search(bucket)):
            return False
        if self.key and not (key and self.key.search(key)):
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        self.matched += 1
        if self.matched <= self.skip:
            return False
        if self.probability is not None and self.rng.random() >= self.probability:
            return False
        self.fired += 1
        return True

    def describe(self):
        return dict(self.spec, id=self.id, matched=self.matched, fired=self.fired)


class State:
    """Rules, the injection record, the log of forwarded operations and held requests."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules, self.injected, self.log = [], [], []
        self.held = {}  # id -> (event, description)
        self.next_id = 1
        self.stopping = threading.Event()

    def add(self, specs):
        rules = [Rule(s, 0) for s in specs]  # validate all before adding any
        with self.lock:
            for r in rules:
                r.id, self.next_id = self.next_id, self.next_id + 1
                self.rules.append(r)
        return [r.id for r in rules]

    def pick(self, op, bucket, key):
        with self.lock:
            for r in self.rules:
                if r.wants(op, bucket, key):
                    return r
        return None

    def record(self, kind, entry):
        entry = dict(entry, t=round(time.time(), 3))
        with self.lock:
            (self.injected if kind == "injected" else self.log).append(entry)

    def snapshot(self):
        with self.lock:
            return {
                "rules": [r.describe() for r in self.rules],
                "injected": list(self.injected),
                "log": list(self.log),
                "held": [dict(d, id=i) for i, (_, d) in self.held.items()],
            }

    def clear(self):
        with self.lock:
            self.rules, self.injected, self.log = [], [], []
        self.release(None)

    def hold(self, description):
        event = threading.Event()
        with self.lock:
            hid, self.next_id = self.next_id, self.next_id + 1
            self.held[hid] = (event, description)
        return hid, event

    def unhold(self, hid):
        with self.lock:
            self.held.pop(hid, None)

    def release(self, hid):
        with self.lock:
            targets = [e for i, (e, _) in self.held.items() if hid is None or i == hid]
        for e in targets:
            e.set()
        return len(targets)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    state: State = None  # set per server
    upstream = None      # (host, port)

    def log_message(self, *args):  # quiet
        pass

    # Every method goes through the same path.
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def dispatch(self):
        try:
            if self.path.split("?", 1)[0].rstrip("/").startswith(CONTROL):
                return self.control()
            self.proxy()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            self.close_connection = True

    # --- control API -------------------------------------------------------------------
    def control(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        body = self.read_body_whole()
        try:
            if self.command == "GET" and path == CONTROL:
                return self.reply_json(200, self.state.snapshot())
            if self.command == "DELETE" and path == CONTROL:
                self.state.clear()
                return self.reply_json(200, {"cleared": True})
            if self.command == "POST" and path == CONTROL:
                specs = json.loads(body or b"[]")
                specs = specs if isinstance(specs, list) else [specs]
                return self.reply_json(200, {"ids": self.state.add(specs)})
            if self.command == "POST" and path == CONTROL + "/release":
                hid = json.loads(body).get("id") if body.strip() else None
                return self.reply_json(200, {"released": self.state.release(hid)})
            return self.reply_json(404, {"error": f"no {self.command} {path}"})
        except (ValueError, KeyError, re.error, AttributeError) as e:
            return self.reply_json(400, {"error": str(e)})

    def read_body_whole(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self.chunks(raw=False))
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply_json(self, status, value):
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- request body ------------------------------------------------------------------
    def chunks(self, raw):
        """The chunked request body: its raw framing (raw=True) or the decoded data."""
        while True:
            line = self.rfile.readline(65537)
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                trailer = b""
                while True:
                    t = self.rfile.readline(65537)
                    trailer += t
                    if t in (b"\r\n", b"\n", b""):
                        break
                if raw:
                    yield line + trailer
                return
            data = self.rfile.read(size)
            crlf = self.rfile.readline(65537)
            yield (line + data + crlf) if raw else data

    def body_pieces(self):
        """The request body as forwarded: raw chunked framing kept, or Content-Length bytes."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            yield from self.chunks(raw=True)
            return
        left = int(self.headers.get("Content-Length") or 0)
        while left > 0:
            data = self.rfile.read(min(CHUNK, left))
            if not data:
                raise ConnectionResetError("client closed in the request body")
            left -= len(data)
            yield data

    def drain_body(self):
        for _ in self.body_pieces():
            pass

    # --- proxying ----------------------------------------------------------------------
    def proxy(self):
        op, bucket, key, version = classify(self.command, self.path, self.headers)
        what = {"op": op, "method": self.command, "bucket": bucket, "key": key,
                "versionId": version}
        rule = self.state.pick(op, bucket, key)
        if rule is None:
            return self.forward(what)
        injected = dict(what, fault=rule.fault, rule=rule.id, after=rule.after)
        self.state.record("injected", injected)
        fault = rule.fault
        if fault == "hold":
            return self.hold(what, rule)
        if fault == "partial":
            return self.forward(what, partial=rule.fraction)
        if fault == "headers":
            return self.forward(what, extra_headers=rule.headers)
        if fault == "synthetic":
            return self.synthetic(what, rule)
        if fault == "latency":
            with self.state.lock:
                delay = rule.rng.uniform(*rule.ms) / 1000
            time.sleep(delay)
            return self.forward(what, pace=rule.mbps)
        if rule.after:
            # The operation happens upstream; its answer is replaced by the fault.
            self.forward(what, discard=True)
        else:
            self.drain_body()
        if fault in ERRORS:
            self.state.record("log", dict(what, status=ERRORS[fault][0], fault=fault))
            return self.reply_error(*ERRORS[fault], key or bucket or "/")
        if fault == "timeout":
            self.state.record("log", dict(what, status=None, fault=fault))
            self.state.stopping.wait(rule.seconds)
            return self.drop()
        if fault == "reset":
            self.state.record("log", dict(what, status=None, fault=fault))
            return self.reset()

    def synthetic(self, what, rule):
        """The object upstream, answered as though it held `rule.size` bytes of `rule.block`."""
        conn = http.client.HTTPConnection(*self.upstream, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.upstream_headers():
                if k.lower() not in ("range", "x-amz-checksum-mode"):
                    conn.putheader(k, v)
            conn.endheaders()
            resp = conn.getresponse()
            resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            return self.forward(what)
        start, end = 0, rule.size - 1
        wanted = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", ""))
        if wanted and wanted.group(1):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2)), end) if wanted.group(2) else end
        elif wanted and wanted.group(2):
            start = max(rule.size - int(wanted.group(2)), 0)
        dropped = {"content-length", "content-range", "content-md5", "accept-ranges"}
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP
                   and k.lower() not in dropped and not k.lower().startswith("x-amz-checksum")]
        status = "206 Partial Content" if wanted else "200 OK"
        headers += [("Content-Length", str(end - start + 1)), ("Accept-Ranges", "bytes")]
        if wanted:
            headers.append(("Content-Range", f"bytes {start}-{end}/{rule.size}"))
        self.state.record("log", dict(what, status=int(status[:3]), fault="synthetic"))
        head = [f"HTTP/1.1 {status}\r\n".encode()] + \
            [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers] + [b"\r\n"]
        self.wfile.write(b"".join(head))
        if self.command == "HEAD":
            return self.wfile.flush()
        block, offset = memoryview(rule.block), start
        while offset <= end:
            at = offset % len(block)
            piece = block[at:min(len(block), at + (end - offset + 1), at + 4 * 1024 * 1024)]
            self.wfile.write(piece)
            offset += len(piece)
        self.wfile.flush()

    def hold(self, what, rule):
        hid, event = self.state.hold(dict(what, since=round(time.time(), 3)))
        try:
            # Whole body read first, so that "held" means the request is complete on the wire.
            body = b"".join(self.body_pieces())
            released = event.wait(rule.seconds) or self.state.stopping.is_set()
        finally:
            self.state.unhold(hid)
        if rule.on_release == "drop":
            self.state.record("log", dict(what, status=None, fault="hold", released=released,
                                          dropped=True))
            return self.drop()
        return self.forward(what, body=body, note={"held": True, "released": released})

    def upstream_headers(self):
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            headers.append(("Transfer-Encoding", "chunked"))
        return headers

    def forward(self, what, partial=None, discard=False, body=None, note=None,
                extra_headers=None, pace=None):
        conn = http.client.HTTPConnection(*self.upstream, timeout=300)
        try:
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.upstream_headers():
                conn.putheader(k, v)
            conn.endheaders()
            for piece in ([body] if body is not None else self.body_pieces()):
                if piece:
                    conn.send(piece)
            resp = conn.getresponse()
            entry = dict(what, status=resp.status, **(note or {}))
            if discard:
                while resp.read(CHUNK):
                    pass
                self.state.record("log", dict(entry, fault="after"))
                return
            self.state.record("log", dict(entry, fault="partial") if partial is not None else entry)
            self.relay(resp, partial, extra_headers if 200 <= resp.status < 300 else None, pace)
        finally:
            conn.close()

    def relay(self, resp, partial, extra_headers=None, pace=None):
        extra = {k.lower(): (k, v) for k, v in (extra_headers or {}).items()}
        headers = [(k, v) for k, v in resp.getheaders()
                   if k.lower() not in HOP_BY_HOP and k.lower() not in extra]
        headers += list(extra.values())
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        chunked = not no_body and length is None
        head = [f"HTTP/1.1 {resp.status} {resp.reason}\r\n".encode("latin-1")]
        head += [f"{k}: {v}\r\n".encode("latin-1") for k, v in headers]
        if chunked and partial is None:
            head.append(b"Transfer-Encoding: chunked\r\n")
        if partial is not None:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        if partial is not None:
            body_len = 0 if no_body else int(length) if length is not None else None
            if not body_len:
                # Nothing to cut in the body: cut the header block instead.
                block = b"".join(head)
                cut = max(len(head[0]) + 3, int(len(block) * partial))
                while cut < len(block) - 1 and block[cut - 1:cut] in (b"\r", b"\n"):
                    cut += 1  # end mid-line, so no client can take it for a whole header block
                self.wfile.write(block[:cut])
                self.wfile.flush()
                return self.drop()
            if length is None:  # chunked upstream: announce a length we will not reach
                data = resp.read()
                head.insert(-1, f"Content-Length: {len(data)}\r\n".encode())
                body_len, source = len(data), iter([data])
            else:
                source = iter(lambda: resp.read(CHUNK), b"")
            self.wfile.write(b"".join(head))
            left = int(body_len * partial)
            for data in source:
                if left <= 0:
                    break
                self.wfile.write(data[:left])
                left -= len(data)
            self.wfile.flush()
            return self.drop()
        self.wfile.write(b"".join(head))
        if no_body:
            self.wfile.flush()
            return
        started, sent = time.monotonic(), 0
        while True:
            data = resp.read1(CHUNK) if chunked else resp.read(CHUNK)
            if not data:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            sent += len(data)
            if pace:
                # Never ahead of `pace` MB/s since the body began.
                ahead = sent / (pace * 1e6) - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def reply_error(self, status, code, message, resource):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message><Resource>{resource}</Resource>"
                f"<RequestId>faultproxy</RequestId></Error>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", "faultproxy")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def drop(self):
        """Closes the connection without (the rest of) an answer."""
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reset(self):
        """Closes the connection with an RST."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):  # a client went away: not our problem
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


def start(upstream, port=0, host="127.0.0.1"):
    """Starts a proxy to `upstream` in a background thread; returns (server, url, state)."""
    up = urllib.parse.urlsplit(upstream)
    state = State()
    handler = type("BoundHandler", (Handler,), {
        "state": state, "upstream": (up.hostname, up.port or 80)})
    server = Server((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    return server, f"http://{host}:{server.server_address[1]}", state


class Control:
    """The control API over HTTP (works for a proxy in another process too)."""

    def __init__(self, url):
        self.url = url.rstrip("/") + CONTROL

    def _call(self, method, path="", value=None):
        data = None if value is None else json.dumps(value).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def add(self, *rules):
        """Adds rules (dicts, or one list of them); returns their ids."""
        if len(rules) == 1 and isinstance(rules[0], list):
            rules = rules[0]
        return self._call("POST", "", list(rules))["ids"]

    def clear(self):
        self._call("DELETE")

    def state(self):
        return self._call("GET")

    def release(self, hid=None):
        return self._call("POST", "/release", {} if hid is None else {"id": hid})["released"]

    def log(self):
        return self.state()["log"]

    def injected(self):
        return self.state()["injected"]

    def wait_held(self, op=None, seconds=30, count=1):
        """Waits until at least `count` requests (of `op`) are held; returns them."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            held = [h for h in self.state()["held"] if op is None or h["op"] == op]
            if len(held) >= count:
                return held
            time.sleep(0.05)
        raise TimeoutError(f"no held {op or 'request'} within {seconds}s")


@contextmanager
def fault_proxy(upstream, port=0):
    """A proxy to `upstream` for the duration of the block: yields (url, Control)."""
    server, url, state = start(upstream, port)
    try:
        yield url, Control(url)
    finally:
        state.stopping.set()
        state.release(None)
        server.shutdown()
        server.server_close()


def main(argv=None):
    p = argparse.ArgumentParser(description="Fault-injecting HTTP proxy for S3 (see the module doc).")
    p.add_argument("--upstream", required=True, help="URL to forward to, e.g. the moto server")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: a free one)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--rules", help="JSON file with rules to start with")
    args = p.parse_args(argv)
    server, url, state = start(args.upstream, args.port, args.host)
    if args.rules:
        with open(args.rules) as f:
            rules = json.load(f)
        state.add(rules if isinstance(rules, list) else [rules])
    print(url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        state.stopping.set()
        state.release(None)
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
