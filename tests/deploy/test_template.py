"""template.yaml against the code: the function's IAM policy allows exactly the S3/KMS actions
the code needs, its environment sets only variables the code reads (and every one the code
requires), and its parameter defaults are the code's defaults."""

import os
import re
import unittest

from cfnlint.decode import decode

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# What each SDK call in src/store/s3.rs needs in IAM.
ACTIONS_OF_CALL = {
    "get_object": {"s3:GetObject", "s3:GetObjectVersion"},
    "head_object": {"s3:GetObject", "s3:GetObjectVersion"},
    "get_object_tagging": {"s3:GetObjectTagging", "s3:GetObjectVersionTagging"},
    "put_object_tagging": {"s3:PutObjectTagging", "s3:PutObjectVersionTagging"},
    "copy_object": {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectTagging"},
    "create_multipart_upload": {"s3:PutObject", "s3:PutObjectTagging"},
    "upload_part_copy": {"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "delete_object": {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    "get_bucket_versioning": {"s3:GetBucketVersioning"},
}
# Needed without a call of their own: S3 answers 403 instead of 404 for a missing key without
# ListBucket, and S3 uses the KMS key on the function's behalf for SSE-KMS objects.
IMPLIED = {"s3:ListBucket", "kms:Decrypt", "kms:GenerateDataKey"}
# Read by the code but set by Lambda, or only for local use.
NOT_IN_TEMPLATE = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                   "S3_FORCE_PATH_STYLE"}


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def sdk_calls(source):
    return set(re.findall(r"\.client\s*\.\s*(\w+)\(\)", source))


def env_reads(config_source):
    """Variable names quoted in config.rs outside its tests (all reads go through there)."""
    code = config_source.split("#[cfg(test)]")[0]
    return set(re.findall(r'"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|ACTION)"', code))


def unwrap(items):
    """Statements or values, with `Fn::If [c, x, AWS::NoValue]` replaced by x."""
    out = []
    for item in items:
        if isinstance(item, dict) and "Fn::If" in item:
            out += [v for v in item["Fn::If"][1:] if v != {"Ref": "AWS::NoValue"}]
        else:
            out.append(item)
    return out


def policy_actions(function):
    actions = set()
    for policy in function["Properties"]["Policies"]:
        for statement in unwrap(policy["Statement"]):
            a = statement["Action"]
            actions |= {a} if isinstance(a, str) else set(a)
    return actions


def required_actions(calls):
    unknown = calls - ACTIONS_OF_CALL.keys()
    needed = set().union(*(ACTIONS_OF_CALL[c] for c in calls & ACTIONS_OF_CALL.keys()))
    return needed | IMPLIED, unknown


class TemplateMatchesCode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        template, matches = decode(os.path.join(ROOT, "template.yaml"))
        assert not matches, matches
        cls.template = template
        cls.function = template["Resources"]["ScannerFunction"]
        cls.calls = sdk_calls(read("src/store/s3.rs"))
        cls.config = read("src/config.rs")

    def test_policy_allows_exactly_what_the_code_calls(self):
        needed, unknown = required_actions(self.calls)
        self.assertFalse(unknown, f"S3 calls with no IAM mapping here: {unknown}; add them to "
                                  "ACTIONS_OF_CALL and the policy")
        allowed = policy_actions(self.function)
        self.assertFalse(needed - allowed, f"the code needs, the policy does not allow: {needed - allowed}")
        self.assertFalse(allowed - needed, f"the policy allows, the code never needs: {allowed - needed}")
        self.assertFalse([a for a in allowed if "*" in a], "no action wildcards")

    def test_environment_is_what_the_code_reads(self):
        variables = set(self.function["Properties"]["Environment"]["Variables"])
        reads = env_reads(self.config)
        self.assertFalse(variables - reads, f"set by the template, never read: {variables - reads}")
        missing = reads - variables - NOT_IN_TEMPLATE
        self.assertFalse(missing, f"read by the code, not set by the template: {missing}")
        self.assertIn("QUARANTINE_BUCKET", variables, "required with the default ACTION")

    def test_parameter_defaults_are_the_code_defaults(self):
        params = self.template["Parameters"]
        consts = dict(re.findall(r"pub const (DEFAULT_\w+): \w+ = (\d+);", self.config))
        self.assertEqual(str(params["MaxConcurrency"]["Default"]), consts["DEFAULT_CONCURRENCY"])
        self.assertEqual(str(params["ScanTimeoutSecs"]["Default"]), consts["DEFAULT_SCAN_TIMEOUT_SECS"])
        self.assertEqual(params["Action"]["Default"], "quarantine")
        for field in ("result", "date", "matches", "rules", "detail", "source"):
            default = re.search(rf'{field}: "([^"]+)"\.into\(\)', self.config).group(1)
            self.assertEqual(params[f"TagKey{field.title()}"]["Default"], default, field)

    def test_queue_and_event_source_follow_aws_guidance(self):
        resources = self.template["Resources"]
        events = self.function["Properties"]["Events"]["Queue"]["Properties"]
        self.assertEqual(events["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        visibility = self.template["Mappings"]["VisibilityTimeout"]
        for timeout in self.template["Parameters"]["Timeout"]["AllowedValues"]:
            self.assertGreaterEqual(visibility[str(timeout)]["Seconds"], 6 * int(timeout))
        self.assertIn("RedrivePolicy", resources["ScanQueue"]["Properties"])
        self.assertTrue(resources["ScanQueue"]["Properties"]["SqsManagedSseEnabled"])


class SamConfig(unittest.TestCase):
    def test_each_region_environment_deploys_that_region_with_known_parameters(self):
        import shlex
        import tomllib

        with open(os.path.join(ROOT, "samconfig.toml"), "rb") as f:
            config = tomllib.load(f)
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        for env in ("us-east-1", "eu-west-1"):
            deploy = config[env]["deploy"]["parameters"]
            self.assertEqual(deploy["region"], env)
            self.assertEqual(deploy["capabilities"], "CAPABILITY_IAM")
            names = {kv.split("=", 1)[0] for kv in shlex.split(deploy["parameter_overrides"])}
            self.assertFalse(names - template["Parameters"].keys(), names)
        self.assertTrue(config["default"]["build"]["parameters"]["beta_features"])


class CheckerCatchesMismatches(unittest.TestCase):
    """The checks above can fail: each helper notices what it is for."""

    def test_an_unmapped_call_and_a_missing_action_are_found(self):
        needed, unknown = required_actions({"get_object", "put_object_acl"})
        self.assertEqual(unknown, {"put_object_acl"})
        self.assertIn("s3:GetObjectVersion", needed)

    def test_conditional_statements_are_read(self):
        function = {"Properties": {"Policies": [{"Statement": [
            {"Fn::If": ["C", {"Action": ["s3:GetObject"]}, {"Ref": "AWS::NoValue"}]},
            {"Action": "s3:PutObject"}]}]}}
        self.assertEqual(policy_actions(function), {"s3:GetObject", "s3:PutObject"})

    def test_sdk_calls_spanning_lines_are_found(self):
        self.assertEqual(sdk_calls("self\n .client\n            .get_object()\n .bucket(b)"), {"get_object"})


if __name__ == "__main__":
    unittest.main()
