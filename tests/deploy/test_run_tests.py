"""The gate of scripts/test (scripts/run_tests.py), run as scripts/test runs it: on small suites
written at test time and on cargo test logs, every way a suite can look green without having
run (none ran, a skip, a class that skipped its set-up, an expected failure, a module that did
not import, a crashed test binary, an ignored or filtered-out test) fails, and the numbers in
its closing lines are counted."""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GATE = os.path.join(ROOT, "scripts", "run_tests.py")

PASSING = """
    import unittest

    class Fine(unittest.TestCase):
        def test_one(self):
            self.assertTrue(True)

        def test_two(self):
            for i in range(3):
                with self.subTest(i=i):
                    self.assertLess(i, 3)
"""


def libtest(name, passed=(), failed=(), ignored=(), filtered=0, finished=True):
    """The output of one libtest binary, as `cargo test` prints it."""
    count = len(passed) + len(failed) + len(ignored)
    lines = [f"     Running {name}", "", f"running {count} tests"]
    lines += [f"test {t} ... ok" for t in passed] + [f"test {t} ... FAILED" for t in failed]
    lines += [f"test {t} ... ignored" for t in ignored]
    if finished:
        state = "FAILED" if failed else "ok"
        lines += ["", f"test result: {state}. {len(passed)} passed; {len(failed)} failed; "
                  f"{len(ignored)} ignored; 0 measured; {filtered} filtered out; "
                  "finished in 0.01s", ""]
    return "\n".join(lines) + "\n"


class Gate(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def gate(self, *args):
        """Runs the gate; returns (exit status, its output, the JSON it wrote)."""
        out = os.path.join(self.dir.name, "counts.json")
        proc = subprocess.run([sys.executable, GATE, *args, "--json", out],
                              capture_output=True, text=True, timeout=120)
        counts = None
        if os.path.exists(out):
            with open(out) as f:
                counts = json.load(f)
            os.unlink(out)
        return proc.returncode, proc.stdout + proc.stderr, counts

    def suite(self, **modules):
        """A package `suite` in the temporary folder holding `modules` (name -> source); the
        gate's verdict on it."""
        pkg = os.path.join(self.dir.name, "suite")
        os.makedirs(pkg, exist_ok=True)
        open(os.path.join(pkg, "__init__.py"), "w").close()
        for name, source in modules.items():
            with open(os.path.join(pkg, f"{name}.py"), "w") as f:
                f.write(textwrap.dedent(source))
        return self.gate("unittest", "suite", "--top", self.dir.name)

    def cargo(self, log, status):
        path = os.path.join(self.dir.name, "cargo.log")
        with open(path, "w") as f:
            f.write(log)
        return self.gate("cargo", path, "--status", str(status))

    def assertFails(self, verdict, why):
        status, output, counts = verdict
        self.assertEqual(status, 1, output)
        self.assertFalse(counts["ok"], output)
        self.assertTrue(any(why in p for p in counts["problems"]), f"{why!r} not in {output}")
        return counts

    def test_a_passing_suite_passes_with_its_counts(self):
        status, output, counts = self.suite(test_fine=PASSING)
        self.assertEqual(status, 0, output)
        self.assertEqual((counts["expected"], counts["ran"], counts["passed"], counts["failed"],
                          counts["skipped"]), (2, 2, 2, 0, 0), output)
        self.assertIn("2 of 2 tests ran, 2 passed, 0 failed, 0 skipped", output)

    def test_a_suite_that_runs_no_test_fails(self):
        self.assertFails(self.suite(), "none ran")

    def test_a_skipped_test_fails(self):
        counts = self.assertFails(self.suite(test_fine=PASSING, test_skip="""
            import unittest

            class Skips(unittest.TestCase):
                def test_needs_something(self):
                    self.skipTest("nothing here")
        """), "skipped: suite.test_skip.Skips.test_needs_something (nothing here)")
        self.assertEqual((counts["passed"], counts["skipped"]), (2, 1))

    def test_a_class_whose_set_up_skips_fails_as_fewer_tests_ran(self):
        """As the fault tests' set-up does without an emulator."""
        counts = self.assertFails(self.suite(test_fine=PASSING, test_class="""
            import unittest

            class NeedsServer(unittest.TestCase):
                @classmethod
                def setUpClass(cls):
                    raise unittest.SkipTest("needs a moto server")

                def test_one(self):
                    pass

                def test_two(self):
                    pass
        """), "2 of the 4 tests discovered ran")
        self.assertEqual((counts["expected"], counts["ran"]), (4, 2))

    def test_failures_and_errors_are_counted_per_test(self):
        counts = self.assertFails(self.suite(test_fine=PASSING, test_bad="""
            import unittest

            class Bad(unittest.TestCase):
                def test_fails_twice(self):
                    for i in range(2):
                        with self.subTest(i=i):
                            self.assertEqual(i, 5)

                def test_errors(self):
                    raise RuntimeError("boom")
        """), "failed: suite.test_bad.Bad.test_fails_twice")
        self.assertEqual((counts["ran"], counts["passed"], counts["failed"]), (4, 2, 2))

    def test_a_module_that_does_not_import_fails(self):
        self.assertFails(self.suite(test_fine=PASSING, test_broken="import no_such_module\n"),
                         "did not import")

    def test_an_expected_failure_fails(self):
        self.assertFails(self.suite(test_fine=PASSING, test_expected="""
            import unittest

            class Hidden(unittest.TestCase):
                @unittest.expectedFailure
                def test_broken(self):
                    self.assertTrue(False)
        """), "expected failure: suite.test_expected.Hidden.test_broken")

    def test_a_clean_cargo_run_passes_with_its_counts(self):
        log = libtest("unittests src/lib.rs", passed=["a::x", "a::y", "b::z"]) + libtest(
            "tests/integration/main.rs", passed=["cli::help"])
        status, output, counts = self.cargo(log, 0)
        self.assertEqual(status, 0, output)
        self.assertEqual((counts["expected"], counts["passed"], counts["failed"],
                          counts["ignored"]), (4, 4, 0, 0), output)

    def test_cargo_failures_are_counted(self):
        log = libtest("unittests src/lib.rs", passed=["a::x"], failed=["a::y", "a::z"])
        counts = self.assertFails(self.cargo(log, 101), "failed: a::y")
        self.assertEqual((counts["passed"], counts["failed"]), (1, 2))

    def test_an_ignored_cargo_test_fails(self):
        self.assertFails(self.cargo(libtest("lib", passed=["a::x"], ignored=["a::slow"]), 0),
                         "ignored: a::slow")

    def test_a_crashed_test_binary_fails(self):
        log = libtest("lib", passed=["a::x"]) + libtest("it", passed=["b::y"], finished=False)
        self.assertFails(self.cargo(log + "error: test failed (signal: 11, SIGSEGV)\n", 101),
                         "gave no result")

    def test_a_filtered_cargo_run_fails(self):
        self.assertFails(self.cargo(libtest("lib", passed=["a::x"], filtered=7), 0),
                         "7 tests filtered out")

    def test_cargo_with_no_test_or_an_error_status_fails(self):
        self.assertFails(self.cargo("error[E0425]: cannot find value `x`\n", 101),
                         "exited with 101")
        self.assertFails(self.cargo(libtest("lib"), 0), "none ran")

    def test_the_closing_line_sums_what_the_gates_counted(self):
        paths = []
        for name, passed, failed, ok in (("a", 3, 0, True), ("b", 4, 0, True)):
            paths.append(os.path.join(self.dir.name, f"{name}.json"))
            with open(paths[-1], "w") as f:
                json.dump({"suite": name, "passed": passed, "failed": failed, "skipped": 0,
                           "ignored": 0, "ok": ok}, f)
        total = subprocess.run([sys.executable, GATE, "total", *paths], capture_output=True,
                               text=True)
        self.assertEqual(total.returncode, 0, total.stdout)
        self.assertEqual(total.stdout.strip(), "tests: 7 passed, 0 failed, 0 skipped, 0 ignored "
                                               "(2 suites)")
        with open(paths[-1], "w") as f:
            json.dump({"suite": "b", "passed": 1, "failed": 2, "skipped": 0, "ignored": 0,
                       "ok": False}, f)
        missing = os.path.join(self.dir.name, "missing.json")
        total = subprocess.run([sys.executable, GATE, "total", *paths, missing],
                               capture_output=True, text=True)
        self.assertEqual(total.returncode, 1, total.stdout)
        self.assertIn("tests: 4 passed, 2 failed", total.stdout)
        self.assertIn("b: not ok", total.stdout)
        self.assertIn("missing.json", total.stdout)
