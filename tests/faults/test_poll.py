"""`s3-yara-scan poll`, the long-running agent, with S3 slowed down by the fault proxy (which
holds an object's GetObject until released): SIGTERM in the middle of a scan finishes that
object, acknowledges it and exits 0 without taking a message that arrives after the signal; a
second signal or the drain timeout abandons the batch and gives its messages back at once; and
a batch that runs longer than the visibility timeout is not delivered to anyone else meanwhile.
The agent's SQS calls go through the proxy too, untouched.
"""

import os
import signal
import subprocess
import tempfile
import time

from tests.faults.support import EICAR, ProxyTestCase, World, invariants


class Poll(ProxyTestCase):
    def setUp(self):
        self.control.clear()
        self.addCleanup(self.control.clear)

    def world(self):
        w = World(self.proxy_url, self.control, versioned=False)
        # The s3:TestEvent that World took stays in flight until its visibility timeout ends;
        # out of the way, so that the agent sees only the uploads.
        w.sqs.purge_queue(QueueUrl=w.queue)
        return w

    def start(self, w, *args, **env):
        """The agent on `w`'s queue, S3 and SQS through the proxy; its log in self.log_path."""
        fd, self.log_path = tempfile.mkstemp(prefix="poll-", suffix=".log")
        self.addCleanup(os.unlink, self.log_path)
        with os.fdopen(fd, "w") as log:
            proc = subprocess.Popen(
                [invariants.binary(), "poll", "--queue-url", w.queue, *args],
                env=w.env(RUST_LOG="info", PROTECTED_BUCKETS=w.bucket, **env),
                stdout=subprocess.DEVNULL, stderr=log)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        return proc

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def hold_get(self, key):
        self.control.add({"op": "GetObject", "key": key + "$", "fault": "hold", "times": 1,
                          "seconds": 60})

    def wait_held(self):
        try:
            self.control.wait_held("GetObject", seconds=90)  # a debug build starts slowly
        except TimeoutError:
            self.fail(f"the agent never read the object:\n{self.log()}")

    def stop(self, proc, seconds=60):
        try:
            return proc.wait(seconds)
        except subprocess.TimeoutExpired:
            proc.kill()
            self.fail(f"the agent did not exit within {seconds} s:\n{self.log()}")

    def tag(self, w, key):
        tags = w.s3.get_object_tagging(Bucket=w.bucket, Key=key)["TagSet"]
        return {t["Key"]: t["Value"] for t in tags}.get("scan-result")

    def test_sigterm_mid_scan_finishes_the_object_and_takes_nothing_more(self):
        w = self.world()
        w.put("slow/eicar.com", EICAR, True, "eicar")
        self.hold_get("slow/eicar.com")
        proc = self.start(w, "--visibility-timeout", "30", "--drain-timeout", "60")
        self.wait_held()
        proc.send_signal(signal.SIGTERM)
        time.sleep(1)  # the agent has seen the signal before the next message exists
        late = w.put("late-notes.txt", b"arrived after the signal\n", False, "clean")
        time.sleep(1)
        self.control.release()
        code = self.stop(proc)
        log = self.log()
        self.assertEqual(code, 0, log)
        self.assertIn("received=1 acknowledged=1 retried=0", log)
        left = w.drain()
        self.assertEqual(len(left), 1, left)
        self.assertIn("late-notes.txt", left[0]["body"])
        self.assertEqual(left[0]["attributes"]["ApproximateReceiveCount"], "1",
                         "the message that arrived after the signal was never taken")
        report = w.check(pending=left)
        self.assertInvariants(report, log)
        states = {s.upload.kind: s.status for s in report.objects}
        self.assertEqual(states["eicar"], "quarantined", log)
        self.assertIsNone(self.tag(w, late.key))

    def test_second_signal_abandons_the_batch_and_gives_its_messages_back(self):
        w = self.world()
        w.put("stuck-notes.txt", b"never read\n", False, "clean")
        self.hold_get("stuck-notes.txt")
        proc = self.start(w, "--visibility-timeout", "60", "--drain-timeout", "60")
        self.wait_held()
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        code = self.stop(proc, seconds=30)
        self.control.release()
        log = self.log()
        self.assertEqual(code, 1, log)
        self.assertIn("second signal", log)
        # Visible again at once, not after the 60 s visibility timeout.
        left = w.drain(seconds=5)
        self.assertEqual(len(left), 1, log)
        self.assertIn("stuck-notes.txt", left[0]["body"])

    def test_drain_timeout_abandons_the_batch(self):
        w = self.world()
        w.put("stuck-report.txt", b"never read\n", False, "clean")
        self.hold_get("stuck-report.txt")
        proc = self.start(w, "--visibility-timeout", "60", "--drain-timeout", "1")
        self.wait_held()
        started = time.time()
        proc.send_signal(signal.SIGTERM)
        code = self.stop(proc, seconds=30)
        self.control.release()
        log = self.log()
        self.assertEqual(code, 1, log)
        self.assertLess(time.time() - started, 10, log)
        self.assertIn("drain timeout", log)
        self.assertEqual(len(w.drain(seconds=5)), 1, log)

    def test_a_batch_longer_than_the_visibility_timeout_is_not_delivered_twice(self):
        w = self.world()
        w.put("slow/big.txt", b"slow to read\n", False, "clean")
        self.hold_get("slow/big.txt")
        proc = self.start(w, "--visibility-timeout", "2", "--max-batches", "1")
        self.wait_held()
        # Another consumer polls for three visibility timeouts; whatever it sees it puts back
        # at once (VisibilityTimeout 0), so that the agent's own work is not disturbed.
        seen, until = [], time.time() + 6
        while time.time() < until:
            got = w.sqs.receive_message(QueueUrl=w.queue, MaxNumberOfMessages=10,
                                        WaitTimeSeconds=1, VisibilityTimeout=0)
            seen += got.get("Messages", [])
        self.control.release()
        code = self.stop(proc)
        log = self.log()
        self.assertEqual(seen, [], "delivered to another consumer while the agent worked on it")
        self.assertEqual(code, 0, log)
        self.assertIn("received=1 acknowledged=1 retried=0", log)
        self.assertEqual(self.tag(w, "slow/big.txt"), "Clean")
        self.assertEqual(w.drain(seconds=3), [])
