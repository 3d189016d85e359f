"""What the test tools ask the scanner binary, so that none keeps a copy of its rules: its
contract (`contract --json`: tag keys, verdicts, settings), the objects SQS records name
(`decode`), the identity of its rules (`rules`), and lookups of its own rules a batch at a time
(`contract --quarantine-keys`, `--identities`, `--source-tags`), answered once per run.
"""

import functools
import json
import os
import subprocess
import threading
from dataclasses import dataclass

from emulator import ROOT


@functools.lru_cache(maxsize=None)
def contract(exe=None):
    """What the binary promises (`s3-yara-scan contract --json`): tag keys, verdicts, settings."""
    out = subprocess.run([exe or binary(), "contract", "--json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


def tag_key(name):
    """The default tag key of the verdict's `name` part (result, date, rules, source...)."""
    return contract()["tag_keys"][f"TAG_KEY_{name.upper()}"]


def scanner_keys():
    return tuple(contract()["tag_keys"].values())


def decoded(records, exe=None):
    """{messageId: [(bucket, key, versionId, eTag)]}: the objects each SQS record names, as the
    binary decodes them (`s3-yara-scan decode`); [] for records that name none."""
    if not records:
        return {}
    proc = subprocess.run([exe or binary(), "decode", "-"], input=json.dumps({"Records": records}),
                          capture_output=True, text=True, check=True)
    out = {}
    for line in proc.stdout.splitlines():
        d = json.loads(line)
        out[d["messageId"]] = [(o["bucket"], o["key"], o["versionId"], o["eTag"])
                               for o in d.get("objects", [])]
    return out


_answers = {}  # (exe, lookup, input line) -> the binary's answer
_answers_lock = threading.Lock()


def lookup(flag, lines, exe=None):
    """{line: answer}: what `s3-yara-scan contract FLAG` answers to each JSON line, asked in one
    process for all the lines not asked before (answers are kept for the run)."""
    exe = exe or binary()
    lines = list(dict.fromkeys(lines))
    with _answers_lock:
        new = [line for line in lines if (exe, flag, line) not in _answers]
        if new:
            out = subprocess.run([exe, "contract", flag], input="".join(f"{line}\n" for line in new),
                                 capture_output=True, text=True, check=True).stdout.splitlines()
            if len(out) != len(new):
                raise RuntimeError(f"`contract {flag}` answered {len(out)} of {len(new)} lines")
            _answers.update(((exe, flag, line), json.loads(a)) for line, a in zip(new, out))
        return {line: _answers[(exe, flag, line)] for line in lines}


def quarantine_keys(pairs, exe=None):
    """{(bucket, key): the key of its quarantine copy}, as the binary computes it."""
    lines = {json.dumps(list(p)): p for p in set(pairs)}
    return {lines[line]: k for line, k in lookup("--quarantine-keys", lines, exe).items()}


@dataclass(frozen=True)
class Identity:
    """What the scanner tells an object's bytes by: its bucket, key and either a version id
    (not `null`) or, for an unversioned key, an ETag (`contract --identities`)."""
    bucket: str
    key: str
    version_id: str  # None when the ETag pins the bytes
    etag: str        # None when the version does


def identities(rows, exe=None):
    """{(bucket, key, versionId, eTag): Identity}, as the binary tells events apart."""
    lines = {json.dumps({"bucket": b, "key": k, "versionId": v, "eTag": e}): (b, k, v, e)
             for b, k, v, e in set(rows)}
    return {lines[line]: Identity(a["bucket"], a["key"], a["versionId"], a["eTag"])
            for line, a in lookup("--identities", lines, exe).items()}


def identity(bucket, key, version_id, etag, exe=None):
    row = (bucket, key, version_id, etag)
    return identities([row], exe)[row]


def source_tags(values, exe=None):
    """{value of a copy's source tag: (versionId, eTag) it names, or None when it names none}."""
    lines = {json.dumps(v): v for v in set(values)}
    return {lines[line]: None if "error" in a else (a["versionId"], a["eTag"])
            for line, a in lookup("--source-tags", lines, exe).items()}


def binary(release_first=False):
    """The scanner binary: $S3_YARA_SCAN_BIN, else target/debug (or release first if asked)."""
    if os.environ.get("S3_YARA_SCAN_BIN"):
        return os.environ["S3_YARA_SCAN_BIN"]
    order = ("release", "debug") if release_first else ("debug", "release")
    for profile in order:
        path = os.path.join(ROOT, "target", profile, "s3-yara-scan")
        if os.path.exists(path):
            return path
    raise FileNotFoundError("no target/{debug,release}/s3-yara-scan: cargo build --bin s3-yara-scan")


@functools.lru_cache(maxsize=None)
def ruleset_id(exe=None):
    """The identity of the binary's rules, as `s3-yara-scan rules` prints it."""
    out = subprocess.run([exe or binary(), "rules"], capture_output=True, text=True,
                         check=True).stdout
    first = out.split("\n", 1)[0].split()
    if first[:1] != ["ruleset"]:
        raise RuntimeError(f"unexpected output of `s3-yara-scan rules`: {out[:200]!r}")
    return first[1]
