"""The gate of scripts/test: runs a unittest suite, or reads a cargo test log, and fails unless
every test that exists ran and passed; prints, and writes as JSON, the numbers it counted.

    run_tests.py unittest tests/faults [--json target/test-faults.json]
    run_tests.py cargo target/test-cargo.log --status N [--json target/test-cargo.json]
    run_tests.py total target/test-cargo.json target/test-faults.json ...

unittest: discovers the suite (what the loader finds is what must run), runs it with the
verbose text runner and fails when a test failed or errored, a module did not import, fewer
tests ran than were discovered (a class or module whose set-up skipped or failed) or none did,
a test was skipped (unittest counts a skip as a pass) unless SKIPS names it, or an expected
failure or unexpected success was reported (no test of this project is marked so).

cargo: reads libtest's output (`cargo test --no-fail-fast` runs every test binary) and fails
when cargo's exit status is not 0, a test failed, a test binary said how many tests it would
run and gave no result line (it crashed), a binary's results do not add up to that count, a
test was filtered out, no test ran, or a test is `#[ignore]`d (libtest counts it as neither run
nor failed) unless IGNORED names it.

total: the closing line of scripts/test, summed from the suites' JSON files; fails if one is
missing or not ok.
"""

import argparse
import json
import os
import re
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Tests that may skip when scripts/test runs them, by id, with the reason (docs/testing.md).
# None may: tests that need the emulator run under `scripts/emulator.py run`.
SKIPS = {}
# `#[ignore]`d cargo tests that may stay so, by name, with the reason.
IGNORED = {
    "feed_canaries::signature_base_and_reversinglabs_against_this_machines_canaries":
        "the full feed (about 7,100 rules) against this machine's canaries: minutes on the debug "
        "build; `feed_canaries::rules_firing_on_this_machines_canaries_as_the_scanner_sees_them_"
        "are_made_private` is its CI version (docs/testing.md)",
}


class CountingResult(unittest.TextTestResult):
    """The text runner's result that also keeps the tests that passed (unittest only counts
    runs), so that passes are counted rather than inferred."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passed = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed.append(test.id())


def tests_of(suite):
    """Every test case of a (nested) suite."""
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from tests_of(t)
        else:
            yield t


def test_id(test):
    """The id of the test a result entry is about (a subtest's own test, a class fixture's
    description)."""
    return getattr(test, "test_case", test).id()


def run_unittest(start, top=ROOT):
    """Discovers and runs the suite under `start` (importable from `top`); returns its counts
    and problems."""
    loader = unittest.TestLoader()
    suite = loader.discover(os.path.join(top, start), top_level_dir=top)
    discovered = sorted(t.id() for t in tests_of(suite))
    runner = unittest.TextTestRunner(verbosity=2, resultclass=CountingResult)
    result = runner.run(suite)
    failed = sorted({test_id(t) for t, _ in result.failures + result.errors})
    skipped = sorted({test_id(t) for t, _ in result.skipped})
    problems = [f"did not import: {e.splitlines()[-1] if e else e}" for e in loader.errors]
    if not discovered or not result.testsRun:
        problems.append(f"{len(discovered)} tests discovered, {result.testsRun} ran: none ran")
    elif result.testsRun < len(discovered):
        problems.append(f"{result.testsRun} of the {len(discovered)} tests discovered ran")
    problems += [f"failed: {t}" for t in failed]
    problems += [f"skipped: {test_id(t)} ({reason})" for t, reason in result.skipped
                 if test_id(t) not in SKIPS]
    problems += [f"expected failure: {t.id()}" for t, _ in result.expectedFailures]
    problems += [f"unexpected success: {t.id()}" for t in result.unexpectedSuccesses]
    return {"suite": start, "expected": len(discovered), "ran": result.testsRun,
            "passed": len(result.passed), "failed": len(failed), "skipped": len(skipped),
            "allowed_skips": sorted(t for t in skipped if t in SKIPS), "ignored": 0,
            "problems": problems}


RUNNING = re.compile(r"^running (\d+) tests?$", re.M)
RESULT = re.compile(r"test result: (?:ok|FAILED)\. (\d+) passed; (\d+) failed; (\d+) ignored; "
                    r"(\d+) measured; (\d+) filtered out")
OUTCOME = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)\b", re.M)


def read_cargo(log, status):
    """The counts and problems of a `cargo test` run from its output `log` and exit `status`."""
    announced = [int(n) for n in RUNNING.findall(log)]
    results = [tuple(map(int, m)) for m in RESULT.findall(log)]
    outcomes = OUTCOME.findall(log)
    passed, failed, ignored, measured, filtered = (sum(r[i] for r in results) for i in range(5))
    problems = [] if status == 0 else [f"cargo test exited with {status}"]
    if len(results) < len(announced):
        problems.append(f"{len(announced) - len(results)} test binaries gave no result "
                        f"(crashed?): {len(announced)} started, {len(results)} finished")
    for n, (p, f, i, m, _) in zip(announced, results):
        if p + f + i + m != n:
            problems.append(f"a binary announced {n} tests and reported {p + f + i + m}")
    if not sum(announced) or not passed + failed:
        problems.append(f"{sum(announced)} tests announced, {passed + failed} ran: none ran")
    failures = [name for name, outcome in outcomes if outcome == "FAILED"]
    problems += [f"failed: {name}" for name in failures]
    if failed > len(failures):
        problems.append(f"{failed} tests failed, {len(failures)} of them named in the log")
    if filtered:
        problems.append(f"{filtered} tests filtered out")
    names = [name for name, outcome in outcomes if outcome == "ignored"]
    problems += [f"ignored: {name} (not in run_tests.py IGNORED)" for name in names
                 if name not in IGNORED]
    if ignored > len(names):
        problems.append(f"{ignored} tests ignored, {len(names)} of them named in the log")
    return {"suite": "cargo test", "expected": sum(announced), "ran": passed + failed,
            "passed": passed, "failed": failed, "skipped": 0,
            "allowed_skips": sorted(n for n in names if n in IGNORED), "ignored": ignored,
            "problems": problems}


def report(counts, json_path):
    counts["ok"] = not counts["problems"]
    line = (f"{counts['suite']}: {counts['ran']} of {counts['expected']} tests ran, "
            f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
            f"{counts['ignored']} ignored")
    print("\n".join([line] + [f"  NOT OK: {p}" for p in counts["problems"]]), file=sys.stderr,
          flush=True)
    if json_path:
        os.makedirs(os.path.dirname(os.path.abspath(json_path)), exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(counts, f, indent=2)
    return 0 if counts["ok"] else 1


def total(paths):
    suites, problems = [], []
    for path in paths:
        try:
            with open(path) as f:
                suites.append(json.load(f))
        except (OSError, ValueError) as e:
            problems.append(f"{path}: {e}")
    problems += [f"{s['suite']}: not ok" for s in suites if not s.get("ok")]
    n = {k: sum(s[k] for s in suites) for k in ("passed", "failed", "skipped", "ignored")}
    print(f"tests: {n['passed']} passed, {n['failed']} failed, {n['skipped']} skipped, "
          f"{n['ignored']} ignored ({len(suites)} suites)"
          + "".join(f"\n  NOT OK: {p}" for p in problems))
    return 0 if not problems and not n["failed"] else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    u = sub.add_parser("unittest", help="discover and run a unittest suite")
    u.add_argument("start", help="the suite's folder, e.g. tests/faults")
    u.add_argument("--top", default=ROOT, help="the folder its imports start from (the repo)")
    u.add_argument("--json")
    c = sub.add_parser("cargo", help="check the output of cargo test")
    c.add_argument("log")
    c.add_argument("--status", type=int, required=True, help="cargo test's exit status")
    c.add_argument("--json")
    t = sub.add_parser("total", help="the closing line, from the suites' JSON files")
    t.add_argument("paths", nargs="+")
    args = p.parse_args(argv)
    if args.command == "unittest":
        return report(run_unittest(args.start, args.top), args.json)
    if args.command == "cargo":
        with open(args.log, errors="replace") as f:
            return report(read_cargo(f.read(), args.status), args.json)
    return total(args.paths)


if __name__ == "__main__":
    sys.exit(main())
