"""scripts/deploy-org: the packaged template a service-managed StackSet accepts (no transform,
plain CloudFormation that cfn-lint passes, the code read per region), and a dry run that prints
the AWS CLI calls of the rollout and runs none."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "deploy-org")
ARGS = ["--org-units", "ou-ab12-11111111,ou-ab12-22222222", "--regions", "us-east-1,eu-west-1",
        "--artifact-bucket-prefix", "example-org-scan",
        "--result-bus-arn", "arn:aws:events:us-east-1:999999999999:event-bus/scan-results"]


class DeployOrg(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.TemporaryDirectory()
        cls.template_path = os.path.join(cls.dir.name, "template.json")
        # No `aws` on the PATH: a dry run must not need (or call) it (git names the code).
        path = [os.path.dirname(sys.executable), os.path.dirname(shutil.which("git"))]
        assert not shutil.which("aws", path=os.pathsep.join(path))
        env = dict(os.environ, PATH=os.pathsep.join(path))
        cls.done = subprocess.run([sys.executable, SCRIPT, *ARGS, "--template-out", cls.template_path],
                                 cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        with open(cls.template_path) as f:
            cls.template = json.load(f)

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def test_the_packaged_template_has_no_macro(self):
        self.assertEqual(self.done.returncode, 0, self.done.stderr)
        self.assertNotIn("Transform", self.template)
        types = {r["Type"] for r in self.template["Resources"].values()}
        self.assertFalse([t for t in types if t.startswith("AWS::Serverless::")], types)
        self.assertIn("OnboardRule", self.template["Resources"])
        code = self.template["Resources"]["ScannerFunction"]["Properties"]["Code"]
        self.assertEqual(code, {"S3Bucket": {"Fn::Sub": "${CodeBucketPrefix}-${AWS::Region}"},
                                "S3Key": {"Ref": "CodeKey"}})

    def test_the_packaged_template_passes_cfn_lint(self):
        lint = subprocess.run([os.path.join(ROOT, ".venv", "bin", "cfn-lint"), "--",
                               self.template_path],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(lint.returncode, 0, lint.stdout + lint.stderr)

    def test_the_dry_run_prints_the_rollout_and_runs_nothing(self):
        lines = self.done.stdout.splitlines()
        self.assertTrue(all(line.startswith("aws ") for line in lines), lines)
        uploads = [line for line in lines if line.startswith("aws s3 cp target/lambda")]
        self.assertEqual(len(uploads), 2, "the code in each region's bucket")
        (create,) = [line for line in lines if "create-stack-set" in line]
        for part in ("--permission-model SERVICE_MANAGED",
                     "--auto-deployment Enabled=true,RetainStacksOnAccountRemoval=false",
                     "--capabilities CAPABILITY_IAM", "ParameterKey=OnboardByTag,ParameterValue=true",
                     "ParameterKey=ResultEventBus,ParameterValue=arn:aws:events:us-east-1:"
                     "999999999999:event-bus/scan-results"):
            self.assertIn(part, create)
        self.assertNotIn("CAPABILITY_AUTO_EXPAND", create, "no macro left to expand")
        (instances,) = [line for line in lines if "create-stack-instances" in line]
        self.assertIn("OrganizationalUnitIds=ou-ab12-11111111,ou-ab12-22222222", instances)
        self.assertIn("--regions us-east-1 eu-west-1", instances)
        self.assertIn("dry run", self.done.stderr)

    def test_every_parameter_passed_is_one_of_the_template(self):
        create = next(line for line in self.done.stdout.splitlines() if "create-stack-set" in line)
        names = {p.split(",")[0].removeprefix("ParameterKey=") for p in create.split()
                 if p.startswith("ParameterKey=")}
        self.assertEqual(names - set(self.template["Parameters"]), set())


if __name__ == "__main__":
    unittest.main()
