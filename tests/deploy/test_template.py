"""template.yaml against the code: the function's IAM policy allows exactly the S3/KMS/Secrets
Manager actions the code needs, its environment sets only variables the code reads (and every one
the code requires), its parameter defaults are the code's defaults, and the EnforceCleanReads
bucket policy (and its copy in README.md) denies what it must to everyone but the scanner."""

import glob
import json
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
    "delete_object_tagging": {"s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"},
    "copy_object": {"s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectTagging"},
    "create_multipart_upload": {"s3:PutObject", "s3:PutObjectTagging"},
    "upload_part_copy": {"s3:PutObject", "s3:GetObject", "s3:GetObjectVersion"},
    "complete_multipart_upload": {"s3:PutObject"},
    "abort_multipart_upload": {"s3:AbortMultipartUpload"},
    "delete_object": {"s3:DeleteObject", "s3:DeleteObjectVersion"},
    "get_bucket_versioning": {"s3:GetBucketVersioning"},
    "list_object_versions": {"s3:ListBucketVersions"},
}
# Needed without a call of their own: S3 answers 403 instead of 404 for a missing key without
# ListBucket, and S3 uses the KMS key on the function's behalf for SSE-KMS objects.
IMPLIED = {"s3:ListBucket", "kms:Decrypt", "kms:GenerateDataKey"}
# Outside S3: the signing key is read once at start-up (whichever client makes the call).
SECRET_ACTIONS_OF_CALL = {"get_secret_value": {"secretsmanager:GetSecretValue"}}
# Read by the code but set by Lambda, or only for local use. SIGNING_KEY is the raw key: it must
# never be in the template, where anyone who can read the function's configuration would see it.
# SPOOL_DIR and MAX_SPOOL_SIZE keep their defaults in Lambda: /tmp, and its free space at
# start-up, which the EphemeralStorageSize parameter sets.
NOT_IN_TEMPLATE = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
                   "S3_FORCE_PATH_STYLE", "SIGNING_KEY", "SPOOL_DIR", "MAX_SPOOL_SIZE"}
# SAM names the role it creates for a function `<function logical id>Role`.
SCANNER_ROLE = "ScannerFunctionRole"


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def sdk_calls(source):
    return set(re.findall(r"\.client\s*\.\s*(\w+)\(\)", source))


def secret_calls(sources):
    """Secrets Manager reads anywhere in src/: an SDK call or a hand-made `GetSecretValue`."""
    found = set()
    for source in sources:
        if re.search(r"\.get_secret_value\(\)|\bGetSecretValue\b", source):
            found.add("get_secret_value")
    return found


def rust_sources():
    return [read(os.path.relpath(p, ROOT))
            for p in glob.glob(os.path.join(ROOT, "src", "**", "*.rs"), recursive=True)]


def render_sub(text, values):
    """An Fn::Sub string with each `${Name}` replaced from `values`; a name not there is an error,
    as it would be for CloudFormation."""
    def one(m):
        if m.group(1) not in values:
            raise KeyError(f"${{{m.group(1)}}} is not resolved")
        return values[m.group(1)]
    return re.sub(r"\$\{([^}!]+)\}", one, text)


def statements_by_sid(document):
    return {s["Sid"]: s for s in document["Statement"]}


def as_set(value):
    return {value} if isinstance(value, str) else set(value)


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


def policy_statements(function):
    return [s for policy in function["Properties"]["Policies"] for s in unwrap(policy["Statement"])]


def policy_actions(function):
    actions = set()
    for statement in policy_statements(function):
        actions |= as_set(statement["Action"])
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
        cls.secret_calls = secret_calls(rust_sources())
        cls.config = read("src/config.rs")
        cls.code = cls.config.split("#[cfg(test)]")[0]

    def test_policy_allows_exactly_what_the_code_calls(self):
        needed, unknown = required_actions(self.calls)
        needed |= set().union(*(SECRET_ACTIONS_OF_CALL[c] for c in self.secret_calls))
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
        self.assertNotIn("SIGNING_KEY", variables, "the raw key never goes in the template")

    def test_signing_key_is_read_from_exactly_one_secret(self):
        variables = self.function["Properties"]["Environment"]["Variables"]
        secret = {"Fn::If": ["CreateSigningKey", {"Ref": "SigningKeySecret"},
                             {"Ref": "SigningKeySecretArn"}]}
        self.assertEqual(variables["SIGNING_KEY_SECRET"], secret)
        self.assertEqual(self.template["Conditions"]["CreateSigningKey"],
                         {"Fn::Equals": [{"Ref": "SigningKeySecretArn"}, ""]})
        self.assertEqual(self.template["Parameters"]["SigningKeySecretArn"]["Default"], "")

        granting = [s for s in policy_statements(self.function)
                    if any(a.startswith("secretsmanager:") for a in as_set(s["Action"]))]
        self.assertEqual(len(granting), 1, "one statement for the secret")
        statement = granting[0]
        self.assertEqual(statement["Effect"], "Allow")
        self.assertEqual(as_set(statement["Action"]), {"secretsmanager:GetSecretValue"})
        self.assertEqual(statement["Resource"], secret, "that secret and no other")
        self.assertNotIn("Condition", statement)

        created = self.template["Resources"]["SigningKeySecret"]
        self.assertEqual(created["Type"], "AWS::SecretsManager::Secret")
        self.assertEqual(created["Condition"], "CreateSigningKey")
        self.assertEqual(created["DeletionPolicy"], "Retain", "other stacks may share it")
        generated = created["Properties"]["GenerateSecretString"]
        self.assertGreaterEqual(generated["PasswordLength"], 64)
        self.assertTrue(generated["ExcludePunctuation"])
        self.assertNotIn("SecretString", created["Properties"], "no key in the template")

    def test_parameter_defaults_are_the_code_defaults(self):
        params = self.template["Parameters"]
        consts = dict(re.findall(r"pub const (DEFAULT_\w+): \w+ = (\d+);", self.config))
        self.assertEqual(str(params["MaxConcurrency"]["Default"]), consts["DEFAULT_CONCURRENCY"])
        self.assertEqual(str(params["ScanTimeoutSecs"]["Default"]), consts["DEFAULT_SCAN_TIMEOUT_SECS"])
        self.assertEqual(str(params["S3TimeoutSecs"]["Default"]), consts["DEFAULT_S3_TIMEOUT_SECS"])
        self.assertEqual(params["Action"]["Default"], "quarantine")
        self.assertEqual(params["SkipSigned"]["Default"], "current-rules")
        self.assertIn("skip_signed: SkipSigned::CurrentRules", self.code)
        for param in ("Action", "SkipSigned"):
            allowed = re.search(rf"impl {param} {{\s*const ALLOWED: &'static str = \"([^\"]+)\";",
                                self.code).group(1)
            self.assertEqual(params[param]["AllowedValues"], allowed.split(", "), param)
        for field in ("result", "date", "matches", "rules", "detail", "source", "signature"):
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


class CleanReadsPolicy(unittest.TestCase):
    """EnforceCleanReads: for the bucket the stack creates, only the scanner reads an object not
    tagged Clean, and only the scanner sets the scanner's tags."""

    @classmethod
    def setUpClass(cls):
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        cls.template = template
        cls.params = template["Parameters"]
        cls.tag_key_params = sorted(p for p in cls.params if p.startswith("TagKey"))
        document = template["Resources"]["ProtectedBucketPolicy"]["Properties"]["PolicyDocument"]
        cls.condition, enforced, cls.plain = document["Fn::If"]
        cls.enforced_sub = str(enforced["Fn::Sub"])
        placeholders = {p: f"<{p}>" for p in cls.tag_key_params}
        placeholders.update({"ProtectedBucket.Arn": "<bucket-arn>",
                             f"{SCANNER_ROLE}.Arn": "<scanner-role-arn>"})
        cls.enforced = json.loads(render_sub(cls.enforced_sub, placeholders))

    def test_it_is_on_by_default_for_the_created_bucket(self):
        self.assertEqual(self.params["EnforceCleanReads"]["Default"], "true")
        self.assertEqual(self.condition, "EnforceClean")
        self.assertEqual(self.template["Conditions"]["EnforceClean"], {"Fn::And": [
            {"Condition": "CreateProtected"}, {"Fn::Equals": [{"Ref": "EnforceCleanReads"}, "true"]}]})
        self.assertEqual(self.template["Resources"]["ProtectedBucketPolicy"]["Condition"],
                         "CreateProtected")

    def test_tls_only_either_way(self):
        plain = statements_by_sid(self.plain)
        self.assertEqual(list(plain), ["TlsOnly"])
        tls = statements_by_sid(self.enforced)["TlsOnly"]
        self.assertEqual((tls["Effect"], tls["Principal"], tls["Action"]), ("Deny", "*", "s3:*"))
        self.assertEqual(tls["Resource"], ["<bucket-arn>", "<bucket-arn>/*"])
        self.assertEqual(tls["Condition"], {"Bool": {"aws:SecureTransport": "false"}})

    def test_only_the_scanner_reads_objects_not_tagged_clean(self):
        deny = statements_by_sid(self.enforced)["ReadOnlyClean"]
        self.assertEqual((deny["Effect"], deny["Principal"]), ("Deny", "*"))
        self.assertEqual(as_set(deny["Action"]), {"s3:GetObject", "s3:GetObjectVersion"})
        self.assertEqual(deny["Resource"], "<bucket-arn>/*")
        # A missing tag makes StringNotEquals true, so untagged objects are denied too.
        self.assertEqual(deny["Condition"], {
            "StringNotEquals": {"s3:ExistingObjectTag/<TagKeyResult>": "Clean"},
            "ArnNotEquals": {"aws:PrincipalArn": "<scanner-role-arn>"}})
        self.assertIn('Verdict::Clean => "Clean"', read("src/verdict.rs"))

    def test_only_the_scanner_sets_any_of_its_tag_keys(self):
        tags = statements_by_sid(self.enforced)["OnlyTheScannerSetsScanTags"]
        self.assertEqual((tags["Effect"], tags["Principal"]), ("Deny", "*"))
        self.assertEqual(as_set(tags["Action"]),
                         {"s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"})
        self.assertEqual(tags["Resource"], "<bucket-arn>/*")
        condition = dict(tags["Condition"])
        self.assertEqual(condition.pop("ArnNotEquals"), {"aws:PrincipalArn": "<scanner-role-arn>"})
        (operator, keys), = condition.items()
        # Tag keys are case-sensitive in S3, condition keys may not be in IAM: `Scan-Result` is
        # denied like `scan-result`.
        self.assertEqual(operator, "ForAnyValue:StringEqualsIgnoreCase")
        # Every configured key, whatever its name: a `scan-*` pattern misses renamed keys.
        self.assertEqual(set(keys), {"s3:RequestObjectTagKeys"})
        self.assertEqual(set(keys["s3:RequestObjectTagKeys"]),
                         {f"<{p}>" for p in self.tag_key_params})
        self.assertEqual(len(self.tag_key_params), 7)

    def test_nothing_is_allowed_and_the_exempt_role_is_the_scanners(self):
        self.assertEqual({s["Effect"] for s in self.enforced["Statement"]}, {"Deny"})
        self.assertEqual(set(statements_by_sid(self.enforced)),
                         {"TlsOnly", "ReadOnlyClean", "OnlyTheScannerSetsScanTags"})
        function = self.template["Resources"]["ScannerFunction"]["Properties"]
        self.assertNotIn("Role", function, f"SAM creates {SCANNER_ROLE} only without a Role")
        self.assertEqual(self.template["Outputs"]["ScannerRoleArn"]["Value"],
                         {"Fn::GetAtt": [SCANNER_ROLE, "Arn"]})

    def test_readme_policy_is_the_template_policy_with_defaults(self):
        blocks = re.findall(r"```json\n(.*?)```", read("README.md"), re.S)
        ours = [b for b in blocks if "OnlyTheScannerSetsScanTags" in b]
        self.assertEqual(len(ours), 1, "one bucket policy snippet in README.md")
        values = {p: self.params[p]["Default"] for p in self.tag_key_params}
        values.update({"ProtectedBucket.Arn": "arn:aws:s3:::BUCKET",
                       f"{SCANNER_ROLE}.Arn": "SCANNER_ROLE_ARN"})
        self.assertEqual(json.loads(ours[0]), json.loads(render_sub(self.enforced_sub, values)))


class LeastPrivilegeByAction(unittest.TestCase):
    """What the scanner may do follows what its actions need."""

    @classmethod
    def setUpClass(cls):
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        cls.template = template
        statements = template["Resources"]["ScannerFunction"]["Properties"]["Policies"][0][
            "Statement"]
        cls.by_sid = {}
        for item in statements:
            condition, statement = None, item
            if isinstance(item, dict) and "Fn::If" in item:
                condition, statement = item["Fn::If"][0], item["Fn::If"][1]
            cls.by_sid[statement["Sid"]] = (condition, statement)

    def test_no_delete_in_protected_buckets_unless_an_action_removes_objects(self):
        conditions = self.template["Conditions"]
        self.assertEqual(conditions["Deletes"], {"Fn::Or": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "Action"}, "tag"]}]},
            {"Fn::Equals": [{"Ref": "UnscannableAction"}, "quarantine"]}]})
        for sid, condition in (("DeleteInExistingBuckets", "DeletesInExistingBuckets"),
                               ("DeleteInCreatedBucket", "DeletesInCreatedBucket")):
            cond, statement = self.by_sid[sid]
            self.assertEqual(cond, condition)
            self.assertIn({"Condition": "Deletes"}, conditions[condition]["Fn::And"])
            self.assertEqual(as_set(statement["Action"]), {"s3:DeleteObject", "s3:DeleteObjectVersion"})
        for sid in ("ScanExistingBuckets", "ScanCreatedBucket"):
            actions = as_set(self.by_sid[sid][1]["Action"])
            self.assertFalse({"s3:DeleteObject", "s3:DeleteObjectVersion"} & actions, sid)

    def test_quarantine_bucket_rights_only_when_something_is_quarantined(self):
        self.assertEqual(self.template["Conditions"]["Quarantines"], {"Fn::Or": [
            {"Fn::Equals": [{"Ref": "Action"}, "quarantine"]},
            {"Fn::Equals": [{"Ref": "UnscannableAction"}, "quarantine"]}]})
        for sid in ("WriteQuarantine", "CheckQuarantineBucket"):
            self.assertEqual(self.by_sid[sid][0], "Quarantines", sid)

    def test_kms_keys_are_used_only_through_s3_and_secrets_manager(self):
        condition, statement = self.by_sid["UseBucketKmsKeys"]
        self.assertEqual(condition, "HasKmsKeys")
        via = statement["Condition"]["StringEquals"]["kms:ViaService"]
        self.assertEqual([v["Fn::Sub"] for v in via], ["s3.${AWS::Region}.amazonaws.com",
                                                      "secretsmanager.${AWS::Region}.amazonaws.com"])

    def test_a_protected_quarantine_bucket_is_refused(self):
        rule = self.template["Rules"]["QuarantineIsNotProtected"]["Assertions"][0]["Assert"]
        self.assertEqual(rule, {"Fn::Not": [{"Fn::Contains": [
            {"Ref": "ProtectedBucketNames"}, {"Ref": "QuarantineBucketName"}]}]})
        env = self.template["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]
        self.assertIn("PROTECTED_BUCKETS", env, "the function refuses it at start-up too")

    def test_tag_changes_reach_the_scanner_by_default(self):
        self.assertEqual(self.template["Parameters"]["RescanOnTagChange"]["Default"], "true")
        topics = self.template["Resources"]["ProtectedBucket"]["Properties"][
            "NotificationConfiguration"]["TopicConfigurations"]
        tagging = [t["Fn::If"] for t in topics if isinstance(t, dict) and "Fn::If" in t]
        self.assertEqual(tagging[0][0], "TagEventsOnCreated")
        self.assertEqual(tagging[0][1]["Event"], "s3:ObjectTagging:*")
        env = self.template["Resources"]["ScannerFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["SCANNER_ROLE_ID"], {"Fn::GetAtt": [SCANNER_ROLE, "RoleId"]})


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

    def test_secret_reads_are_found(self):
        self.assertEqual(secret_calls(["sm\n  .get_secret_value()\n  .secret_id(id)"]),
                         {"get_secret_value"})
        self.assertEqual(secret_calls(['target("secretsmanager.GetSecretValue")']),
                         {"get_secret_value"})
        self.assertEqual(secret_calls(["let get_secret_value_later = 1;"]), set())

    def test_an_unresolved_sub_variable_is_an_error(self):
        self.assertEqual(render_sub('{"a": "${X}", "b": "${!Literal}"}', {"X": "1"}),
                         '{"a": "1", "b": "${!Literal}"}')
        with self.assertRaises(KeyError):
            render_sub("${Missing}", {})


if __name__ == "__main__":
    unittest.main()
