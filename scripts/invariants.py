"""What the fault tests (tests/faults) and the soak run (scripts/soak) share: running the real
`s3-yara-scan handle` on SQS records, emulating SQS redelivery, and ONE invariant checker.

The invariants, checked on the emulator's real state after a run (`check`):

* lost: every uploaded object ends tagged with a verdict in its bucket, or is in the quarantine
  bucket, or its message is in the DLQ (or, for the soak's time limit, still in the queue);
* never Clean when infected: no object whose bytes match a rule is tagged Clean, in place or on
  its quarantine copy (and no clean object is tagged Infected or quarantined);
* no quarantined object missing from both places: once the source version is gone, a quarantine
  copy of exactly that version exists (DLQ or not);
* no double quarantine: at most one quarantine copy (object version in the quarantine bucket
  whose scan-source names the source version) per infected object, and the copy is complete;
* an infected object whose message was acknowledged is no longer in its bucket (ACTION=quarantine);
* only the scanner's verdict, or none: once a message is acknowledged or dead-lettered, the
  object it named carries, under the result key and under any key equal to a scanner key but for
  letter case, either the scanner's verdict for exactly those bytes or nothing. A verdict is the
  scanner's when it comes with the ruleset the binary reports (`s3-yara-scan rules`) and a scan
  date after the upload; a value an uploader set (forged, or in another letter case) must be gone.

Which identity pins an object's bytes, what a copy's source tag names and where its quarantine
copy goes are the binary's own answers (answers.py), never rules kept here.
"""

import datetime
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

# What the binary answers (answers.py); `binary`, `contract` and `decoded` for the tests too.
from answers import (binary, contract, decoded, identities, identity,  # noqa: F401
                     quarantine_keys, ruleset_id, scanner_keys, source_tags, tag_key)
from emulator import EICAR, emulator_env

# Contents that the embedded rules detect, split so that this file is not itself detected.
WEBSHELL = b"<?php " + b"eval($_PO" + b"ST['cmd']); ?>"
# What the hostile uploads of the tests and the soak forge: a date no scan of theirs can have.
FORGED_DATE = "2001-01-01T00:00:00Z"


def scanner_env(endpoint, quarantine_bucket, **extra):
    """Environment for `handle` with S3 at `endpoint` (the proxy)."""
    env = dict(os.environ, **emulator_env(endpoint), QUARANTINE_BUCKET=quarantine_bucket,
               RUST_LOG=os.environ.get("RUST_LOG", "warn"))
    env.update({k: str(v) for k, v in extra.items()})
    return env


@dataclass
class Run:
    failed: set            # messageIds to retry (all of them if the process failed)
    returncode: int
    stderr: str
    seconds: float = 0.0
    received: frozenset = frozenset()  # messageIds this run was given (one receive each)


def start_handle(exe, records, env, tmpdir=None, timeout=None):
    """Starts `exe handle` on `records` (as a function with `timeout` seconds, if given);
    returns (Popen, event file)."""
    fd, path = tempfile.mkstemp(prefix="faults-event-", suffix=".json", dir=tmpdir)
    with os.fdopen(fd, "w") as f:
        json.dump({"Records": records}, f)
    args = [exe, "handle", path] + (["--timeout", str(timeout)] if timeout else [])
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    return proc, path


def finish_handle(proc, path, records, timeout=300):
    """Waits for a handle process; a crash or timeout fails the whole batch, as in Lambda."""
    import time
    t0 = time.time()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n[faults] handle killed after {timeout}s"
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    ids = frozenset(r["messageId"] for r in records)
    if proc.returncode != 0:
        return Run(set(ids), proc.returncode, err, time.time() - t0, ids)
    try:
        response = json.loads(out)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
    except (ValueError, KeyError, TypeError):
        return Run(set(ids), -1, err + f"\n[faults] unparsable response: {out!r}",
                   time.time() - t0, ids)
    return Run(failed, 0, err, time.time() - t0, ids)


def run_handle(exe, records, env, timeout=300):
    proc, path = start_handle(exe, records, env)
    return finish_handle(proc, path, records, timeout)


def receives(runs, message_id):
    """How many of `runs` were given the message `message_id` (its receives, as SQS counts)."""
    return sum(1 for run in runs if message_id in run.received)


def deliver(exe, records, env, max_receives=3, runs=None):
    """Emulates the SQS event source with a redrive policy: runs `handle` on `records`, then
    again on the ones it reported as failures, until acknowledged or received `max_receives`
    times. Returns the records that ended in the DLQ. `runs` collects each Run."""
    receives = {r["messageId"]: 0 for r in records}
    pending, dlq = list(records), []
    while pending:
        for r in pending:
            receives[r["messageId"]] += 1
        run = run_handle(exe, pending, env)
        if runs is not None:
            runs.append(run)
        retry = [r for r in pending if r["messageId"] in run.failed]
        dlq += [r for r in retry if receives[r["messageId"]] >= max_receives]
        pending = [r for r in retry if receives[r["messageId"]] < max_receives]
    return dlq


# --- events -> objects ------------------------------------------------------------------------

@dataclass
class Upload:
    bucket: str
    key: str
    version_id: str  # None in an unversioned bucket
    etag: str        # without quotes
    infected: bool   # the rules match its bytes
    size: int
    kind: str = ""   # what was uploaded (for reports)
    superseded: bool = False  # unversioned key overwritten later by the test itself
    uploaded_at: float = 0.0  # time.time() just before the upload

    @property
    def row(self):
        return (self.bucket, self.key, self.version_id, self.etag)

    @property
    def ident(self):
        return identity(*self.row)

    @property
    def unversioned_row(self):
        """As an event that names no version (moto's) names it."""
        return (self.bucket, self.key, None, self.etag)


def upload(s3, bucket, key, body, infected, kind="", **kw):
    at = time.time()
    r = s3.put_object(Bucket=bucket, Key=key, Body=body, **kw)
    return Upload(bucket, key, r.get("VersionId"), r["ETag"].strip('"'), infected, len(body), kind,
                  uploaded_at=at)


def forged_tagging(result="Clean", extra=(), case=str):
    """An upload's `Tagging` with a verdict the uploader forged (keys passed through `case`, e.g.
    str.title for `Scan-Result`), plus `extra` (key, value) pairs of their own."""
    pairs = [(case(tag_key("result")), result), (case(tag_key("date")), FORGED_DATE),
             (case(tag_key("rules")), "0123456789ab")] + list(extra)
    return urllib.parse.urlencode(pairs)


def scan_date(value):
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


def verdict_problems(u, tags, ruleset):
    """What breaks "only the scanner's verdict, or none" in the tags `u`'s bytes carry."""
    ours = scanner_keys()
    result_key, date_key, rules_key = tag_key("result"), tag_key("date"), tag_key("rules")
    found = {k: v for k, v in tags.items() if k.lower() in {o.lower() for o in ours}}
    problems = []
    variants = sorted(k for k in found if k not in ours)
    if variants:
        problems.append(f"scanner keys in another letter case left in place: {variants}")
    result = found.get(result_key)
    if result is None:
        if any(k in ours for k in found):
            problems.append(f"scanner tags without a verdict left in place: {sorted(found)}")
        return problems
    date = scan_date(found.get(date_key))
    if result not in contract()["verdicts"] or found.get(rules_key) != ruleset or date is None \
            or date < int(u.uploaded_at) - 1:
        problems.append(f"{result_key}={result!r} is not the scanner's verdict for these bytes "
                        f"({rules_key}={found.get(rules_key)!r}, {date_key}={found.get(date_key)!r})")
    return problems


def idents_of_records(records):
    return set(identities(o for objects in decoded(list(records)).values()
                          for o in objects).values())


# --- the checker ------------------------------------------------------------------------------

@dataclass
class ObjectState:
    upload: Upload
    in_place: bool = False
    tags: dict = field(default_factory=dict)
    copies: list = field(default_factory=list)  # [(version_id, size, tags)]
    promoted: list = field(default_factory=list)  # production copies [(version_id, size, tags)]
    in_dlq: bool = False
    pending: bool = False
    status: str = ""
    problems: list = field(default_factory=list)

    @property
    def verdict(self):
        return self.tags.get(tag_key("result"))


@dataclass
class Report:
    objects: list
    violations: list      # strings; must be empty
    counts: dict
    orphan_copies: list   # quarantine versions that no upload explains

    def summary(self):
        return ", ".join(f"{k}={v}" for k, v in self.counts.items())


def _tags(s3, bucket, key, version_id=None):
    kw = {"VersionId": version_id} if version_id else {}
    try:
        return {t["Key"]: t["Value"] for t in
                s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]}
    except s3.exceptions.ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "NoSuchVersion", "404", "NoSuchBucket"):
            return None
        raise


def _versions(s3, bucket, prefix=None):
    """{key: [(version_id, etag, size)]} of a bucket (no delete markers)."""
    found = {}
    kw = {"Bucket": bucket}
    if prefix:
        kw["Prefix"] = prefix
    for page in s3.get_paginator("list_object_versions").paginate(**kw):
        for v in page.get("Versions", []):
            found.setdefault(v["Key"], []).append(
                (v.get("VersionId"), v["ETag"].strip('"'), v["Size"]))
    return found


def made_from(named, u):
    """True when a copy whose source tag names `named` (`source_tags`) was made from `u`: the
    same version (or, unversioned, none) and the same ETag."""
    return named is not None and named == (u.ident.version_id, u.etag)


def production_copies(s3, production, uploads):
    """{upload ident: [(vid, size, tags)]}: the copies in production bucket `production` (all
    of it: PROMOTE maps each staging key to some production key) made from each upload."""
    copies = [(vid, size, _tags(s3, production, key, vid) or {})
              for key, versions in _versions(s3, production).items()
              for vid, _, size in versions]
    source_key = tag_key("source")
    named = source_tags(t[source_key] for _, _, t in copies if source_key in t)
    by_source = {}
    for u in uploads:
        by_source.setdefault((u.ident.version_id, u.etag), []).append(u)
    found = {}
    for vid, size, tags in copies:
        for u in by_source.get(named.get(tags.get(source_key)), []):
            found.setdefault(u.ident, []).append((vid, size, tags))
    return found


def promotion_problems(st):
    """What breaks "only clean objects reach production, once each, and whole"."""
    u, p = st.upload, []
    if len(st.promoted) > 1:
        p.append(f"double promotion: {len(st.promoted)} production copies")
    if st.promoted and u.infected:
        p.append("infected object promoted to production")
    for vid, size, tags in st.promoted:
        if size != u.size:
            p.append(f"production copy {vid} has {size} bytes, the source {u.size}")
        if tags.get(tag_key("result")) != "Clean":
            p.append(f"production copy {vid} tagged {tags.get(tag_key('result'))!r}")
    return p


def check(s3, uploads, quarantine_bucket, dlq=(), pending=(), workers=8, ruleset=None,
          action="quarantine", production=None):
    """Checks the invariants for `uploads` against the real S3 state. `dlq` and `pending` are
    SQS records (or object identities) in the DLQ and still queued; `ruleset` is the identity
    of the rules that wrote the verdicts (default: the test binary's); `action` the scanner's
    ACTION; `production` the bucket clean objects are promoted to (PROMOTE), if any. Returns a
    Report."""
    ruleset = ruleset or ruleset_id()
    def as_idents(xs):
        xs = list(xs)
        if xs and isinstance(xs[0], dict):
            return idents_of_records(xs)
        return set(xs)
    dlq, pending = as_idents(dlq), as_idents(pending)
    buckets = sorted({u.bucket for u in uploads})
    listed = [(b, key, vid, etag, size) for b in buckets
              for key, versions in _versions(s3, b).items() for vid, etag, size in versions]
    # One lookup for every identity the check compares (the uploads', as events with and
    # without a version name them, and the versions in place); `u.ident` then finds it.
    idents = identities([r[:4] for r in listed] + [u.row for u in uploads]
                        + [u.unversioned_row for u in uploads])
    present = {idents[r[:4]]: (r[2], r[4]) for r in listed}
    qversions = _versions(s3, quarantine_bucket)
    by_source = {}   # (bucket, key-in-quarantine) -> [(vid, size, tags)]
    lock = threading.Lock()

    def load_copy(qkey, vid, size):
        tags = _tags(s3, quarantine_bucket, qkey, vid) or {}
        with lock:
            by_source.setdefault(qkey, []).append((vid, size, tags))

    def load_source(state):
        u = state.upload
        hit = present.get(u.ident)
        if hit:
            state.in_place = True
            # Unversioned: the current object's tags, which are ours since its ETag is ours.
            state.tags = _tags(s3, u.bucket, u.key, hit[0] if u.version_id else None) or {}

    states = [ObjectState(u) for u in uploads]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda kv: [load_copy(kv[0], vid, size) for vid, _, size in kv[1]],
                      qversions.items()))
        list(pool.map(load_source, states))

    promoted = production_copies(s3, production, uploads) if production else {}
    explained = set()
    violations = []
    result_key, source_key = tag_key("result"), tag_key("source")
    qkeys = quarantine_keys((u.bucket, u.key) for u in uploads)
    named = source_tags(tags[source_key] for copies in by_source.values()
                        for _, _, tags in copies if source_key in tags)
    for st in states:
        u = st.upload
        qkey = qkeys[(u.bucket, u.key)]
        for vid, size, tags in by_source.get(qkey, []):
            if made_from(named.get(tags.get(source_key)), u):
                st.copies.append((vid, size, tags))
                explained.add((qkey, vid))
        st.promoted = promoted.get(u.ident, [])
        # Events name the version when S3 sends one (moto 5 leaves versionId out): match both.
        alt = idents[u.unversioned_row]
        st.in_dlq = u.ident in dlq or alt in dlq
        st.pending = u.ident in pending or alt in pending
        name = f"{u.bucket}/{u.key}" + (f"@{u.version_id}" if u.version_id else f" (etag {u.etag})")
        p = st.problems
        if u.superseded and not st.in_place:
            st.status = "superseded"
            if len(st.copies) > 1:
                p.append(f"double quarantine: {len(st.copies)} copies")
        else:
            verdicts = ([st.verdict] if st.in_place and st.verdict else []) + \
                [c[2].get(result_key) for c in st.copies]
            p += promotion_problems(st)
            if not st.in_place and not st.copies and not st.promoted:
                p.append("lost: gone from its bucket and not in the quarantine bucket"
                         + (" (its message is in the DLQ)" if st.in_dlq else ""))
            elif st.in_place and not st.verdict and not st.copies and not (st.in_dlq or st.pending):
                p.append("lost: in its bucket without a verdict, message acknowledged")
            if u.infected and "Clean" in verdicts:
                p.append("infected object tagged Clean")
            if not u.infected and "Infected" in verdicts:
                p.append(f"clean object tagged {verdicts} / quarantined ({len(st.copies)} copies)")
            if st.in_place and not st.pending:
                p += verdict_problems(u, st.tags, ruleset)
            if len(st.copies) > 1:
                p.append(f"double quarantine: {len(st.copies)} copies "
                         f"({', '.join(str(c[0]) for c in st.copies)})")
            for vid, size, tags in st.copies:
                if size != u.size:
                    p.append(f"quarantine copy {vid} has {size} bytes, the source {u.size}")
                if tags.get(result_key) not in ("Infected", "Unscannable"):
                    p.append(f"quarantine copy {vid} tagged {tags.get(result_key)!r}")
            if u.infected and st.in_place and action != "tag" and not (st.in_dlq or st.pending):
                p.append("infected object still in its bucket, message acknowledged"
                         + (f" (tagged {st.verdict})" if st.verdict else " (untagged)"))
            if st.in_dlq:
                st.status = "dlq"
            elif st.pending:
                st.status = "pending"
            elif st.copies and not st.in_place:
                st.status = "quarantined"
            elif st.promoted and not st.in_place:
                st.status = "promoted"
            elif st.in_place and st.verdict:
                st.status = st.verdict.lower()
            else:
                st.status = "lost" if any(x.startswith("lost") for x in p) else "other"
        violations += [f"{name} [{u.kind or ('infected' if u.infected else 'clean')}]: {x}"
                       for x in p]

    orphans = []
    keys_of_uploads = set(qkeys.values())
    for qkey, copies in by_source.items():
        if qkey not in keys_of_uploads:
            continue  # another test's or run's object
        for vid, size, tags in copies:
            if (qkey, vid) not in explained:
                orphans.append(f"{quarantine_bucket}/{qkey}@{vid} {source_key}={tags.get(source_key)!r}")
    violations += [f"quarantine copy no upload explains: {o}" for o in orphans]

    counts = {
        "objects": len(states),
        "clean": sum(1 for s in states if s.status == "clean"),
        "infected_uploaded": sum(1 for s in states if s.upload.infected),
        "quarantined": sum(1 for s in states if s.status == "quarantined"),
        "infected_in_place": sum(1 for s in states if s.status == "infected"),
        "unscannable_or_error": sum(1 for s in states if s.status in ("unscannable", "error")),
        "dlq": sum(1 for s in states if s.in_dlq),
        "pending": sum(1 for s in states if s.pending and not s.in_dlq),
        "superseded": sum(1 for s in states if s.status == "superseded"),
        "lost": sum(1 for s in states if any(x.startswith("lost") for x in s.problems)),
        "wrong_verdicts": sum(1 for s in states if any(
            "tagged Clean" in x or x.startswith("clean object") for x in s.problems)),
        "double_quarantine": sum(1 for s in states if any(
            x.startswith("double quarantine") for x in s.problems)),
        "promoted": sum(1 for s in states if s.status == "promoted"),
        "violations": len(violations),
    }
    return Report(states, violations, counts, orphans)
