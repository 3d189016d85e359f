"""template.yaml against the code, as the binary states it (`s3-yara-scan contract --json`): the
function's IAM policy grants exactly what each part of the work needs, on the resources it needs
it on and under the conditions it needs it; its environment sets exactly the variables that the
template is meant to set; its parameter defaults and allowed values are the code's; and the
EnforceCleanReads bucket policy and the production bucket policy (and their copies in the docs)
deny what they must to everyone but the scanner."""

import json
import os
import re
import sys
import unittest

from cfnlint.decode import decode

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import invariants  # noqa: E402

# SAM names the role it creates for a function `<function logical id>Role`.
SCANNER_ROLE = "ScannerFunctionRole"
# Which contract grant (resource, when) each statement of the policy stands for, and the
# template condition that must gate it (None: unconditional).
STATEMENTS = {
    "ScanExistingBuckets": ("protected-objects", "always", "HasExistingBuckets"),
    "ScanCreatedBucket": ("protected-objects", "always", "CreateProtected"),
    "DeleteInExistingBuckets": ("protected-objects", "removes-objects", "DeletesInExistingBuckets"),
    "DeleteInCreatedBucket": ("protected-objects", "removes-objects", "DeletesInCreatedBucket"),
    "ListExistingBuckets": ("protected-buckets", "always", "HasExistingBuckets"),
    "ListCreatedBucket": ("protected-buckets", "always", "CreateProtected"),
    "WriteQuarantine": ("quarantine-objects", "quarantines", "Quarantines"),
    "CheckQuarantineBucket": ("quarantine-bucket", "quarantines", "Quarantines"),
    "ReadSigningKey": ("signing-secret", "signing-key-secret", None),
    "ReadArchivePasswords": ("archive-passwords-secret", "archive-passwords-secret",
                             "HasArchivePasswordsSecret"),
    "ReadRules": ("rules-objects", "rules-in-s3", "HasRules"),
    "WriteRulesCache": ("rules-cache-objects", "rules-in-s3", "HasRules"),
    "WriteFeeds": ("feed-objects", "feeds", "FeedsOn"),
    "ListRules": ("rules-bucket", "rules-in-s3", "HasRules"),
    "ReadAllowLists": ("allow-objects", "allow-hashes-in-s3", "HasAllowHashes"),
    "ListAllowLists": ("allow-bucket", "allow-hashes-in-s3", "HasAllowHashes"),
    "UseBucketKmsKeys": ("kms-keys", "sse-kms", "HasKmsKeys"),
    "PromoteToCreatedBucket": ("production-objects", "promotes", "CreateProduction"),
    "PromoteToExistingBuckets": ("production-objects", "promotes", "HasProductionBuckets"),
    "ListCreatedProductionBucket": ("production-buckets", "promotes", "CreateProduction"),
    "ListExistingProductionBuckets": ("production-buckets", "promotes", "HasProductionBuckets"),
    "CheckExistingStagingBuckets": ("protected-buckets", "promotes", "PromotesFromExistingBuckets"),
    "CheckCreatedStagingBucket": ("protected-buckets", "promotes", "PromotesFromCreatedBucket"),
    "PublishResultEvents": ("result-bus", "result-events", "HasResultBus"),
    "PublishResultTopic": ("result-topic", "result-events", "HasResultTopic"),
    "RequeueResultEvents": ("scan-queue", "announces", "Announces"),
    "ImportFindings": ("securityhub-product", "security-hub", "SecurityHubOn"),
    "LargeObjectQueue": ("large-object-queue", "large-objects", "LargeObjectAgentOn"),
    "ScanOnboardedBuckets": ("onboarded-objects", "onboards-by-tag", "OnboardByTagOn"),
    "DeleteInOnboardedBuckets": ("onboarded-objects", "removes-objects", "DeletesInOnboardedBuckets"),
    "OnboardBuckets": ("onboarded-buckets", "onboards-by-tag", "OnboardByTagOn"),
    "ListAllBuckets": ("all-buckets", "onboards-by-tag", "OnboardByTagOn"),
}


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def render_sub(text, values):
    """An Fn::Sub string with each `${Name}` replaced from `values`; a name not there is an error,
    as it would be for CloudFormation."""
    def one(m):
        if m.group(1) not in values:
            raise KeyError(f"${{{m.group(1)}}} is not resolved")
        return values[m.group(1)]
    return re.sub(r"\$\{([^}!]+)\}", one, text)


def resolve(template, value, params):
    """`value` as CloudFormation would resolve it with `params`, for the intrinsic functions
    the template's tag-schema values use: Ref, Fn::If over Fn::Equals conditions, and
    Fn::FindInMap."""
    if not isinstance(value, dict):
        return value
    (function, args), = value.items()
    if function == "Ref":
        return params[args]
    if function == "Fn::FindInMap":
        name, top, second = (resolve(template, a, params) for a in args)
        return template["Mappings"][name][top][second]
    if function == "Fn::If":
        left, right = template["Conditions"][args[0]]["Fn::Equals"]
        chosen = resolve(template, left, params) == resolve(template, right, params)
        return resolve(template, args[1] if chosen else args[2], params)
    raise ValueError(f"cannot resolve {function}")


def statements_by_sid(document):
    return {s["Sid"]: s for s in document["Statement"]}


def as_set(value):
    return {value} if isinstance(value, str) else set(value)


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


def conditional_statements(function):
    """{Sid: (condition or None, statement)} of the function's policy."""
    out = {}
    for policy in function["Properties"]["Policies"]:
        for item in policy["Statement"]:
            condition, statement = None, item
            if isinstance(item, dict) and "Fn::If" in item:
                condition, statement = item["Fn::If"][0], item["Fn::If"][1]
            out[statement["Sid"]] = (condition, statement)
    return out


class TemplateMatchesCode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        template, matches = decode(os.path.join(ROOT, "template.yaml"))
        assert not matches, matches
        cls.template = template
        cls.function = template["Resources"]["ScannerFunction"]
        cls.contract = invariants.contract()
        cls.settings = {s["name"]: s for s in cls.contract["settings"]}

    def grant(self, resource, when):
        (grant,) = [g for g in self.contract["grants"]
                    if (g["resource"], g["when"]) == (resource, when)]
        return set(grant["actions"])

    def test_the_topic_accepts_other_accounts_only_when_named(self):
        statements = self.template["Resources"]["ScanTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        own, other = statements
        # Any bucket of this account (listed, created, or onboarded by its tag).
        self.assertEqual(own["Condition"], {
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
            "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}}})
        condition, statement, otherwise = other["Fn::If"]
        self.assertEqual((condition, otherwise), ("HasOtherAccounts", {"Ref": "AWS::NoValue"}))
        self.assertEqual(statement["Principal"], {"Service": "s3.amazonaws.com"})
        self.assertEqual(statement["Condition"], {"StringEquals": {"aws:SourceAccount": {"Ref": "OtherAccountIds"}}})
        self.assertEqual(self.template["Parameters"]["OtherAccountIds"]["Default"], "")

    def test_the_documented_bucket_policy_for_other_accounts_grants_what_the_contract_needs(self):
        text = read("docs/deploy.md")
        section = text[text.index("## Buckets in other accounts"):]
        block = section[section.index("```json") + len("```json"):]
        objects, bucket = json.loads(block[: block.index("```")])
        grants = invariants.contract()["grants"]
        wanted = {
            "arn:aws:s3:::BUCKET/*": {a for g in grants if g["resource"] == "protected-objects" for a in g["actions"]},
            "arn:aws:s3:::BUCKET": {a for g in grants if g["resource"] == "protected-buckets" for a in g["actions"]},
        }
        as_set = lambda action: {action} if isinstance(action, str) else set(action)  # noqa: E731
        self.assertEqual({objects["Resource"]: as_set(objects["Action"]), bucket["Resource"]: as_set(bucket["Action"])}, wanted)

    def test_the_dashboard_shows_every_metric_the_binary_writes(self):
        metrics = invariants.contract()["metrics"]
        dashboard = self.template["Resources"]["Dashboard"]
        self.assertEqual(dashboard["Condition"], "MetricsOn")
        body = json.loads(re.sub(r"\$\{[^}]+\}", "X", dashboard["Properties"]["DashboardBody"]["Fn::Sub"]))
        rows = [row for w in body["widgets"] for row in w["properties"]["metrics"]]
        names, values = set(), set()
        namespace = None
        for row in rows:
            # CloudWatch's shorthand: "." repeats the previous row's item, "..." all but the last.
            if row[0] != "...":
                namespace = namespace if row[0] == "." else row[0]
                if namespace == metrics["namespace"]:
                    names.add(row[1])
            values.update(x for x in row if x not in (".", "..."))
        wanted = {m["name"] for m in metrics["totals"]} | {metrics["per_verdict"], metrics["per_error_kind"]}
        self.assertEqual(wanted - names, set())
        self.assertEqual(set(invariants.contract()["verdicts"]) - values, set(), "a verdict missing")
        self.assertEqual(set(metrics["error_kinds"]) - values, set(), "an error kind missing")
        alarm = self.template["Resources"]["InfectedAlarm"]["Properties"]
        self.assertEqual((alarm["Namespace"], alarm["MetricName"]), (metrics["namespace"], metrics["per_verdict"]))

    def test_batch_operations_jobs_may_only_invoke_the_scanner_and_use_their_bucket(self):
        role = self.template["Resources"]["BatchOperationsRole"]
        self.assertEqual(role["Condition"], "BatchOperationsOn")
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual(trust["Principal"], {"Service": "batchoperations.s3.amazonaws.com"})
        (policy,) = role["Properties"]["Policies"]
        statements = statements_by_sid(policy["PolicyDocument"])
        self.assertEqual(statements["InvokeScanner"]["Resource"], {"Fn::GetAtt": ["ScannerFunction", "Arn"]})
        granted = set().union(*(as_set(st["Action"]) for st in statements.values()))
        self.assertEqual(granted, {"lambda:InvokeFunction", "s3:GetObject", "s3:GetObjectVersion",
                                   "s3:PutObject", "s3:GetBucketLocation"})
        for st in statements.values():
            self.assertNotEqual(st["Resource"], "*", st["Sid"])

    def test_staging_buckets_versioning_is_checked_where_they_are(self):
        """The staging buckets of PROMOTE are protected buckets: GetBucketVersioning on those
        (the start-up check), only when something is promoted."""
        conditions = self.template["Conditions"]
        self.assertEqual(conditions["PromotesFromExistingBuckets"], {"Fn::And": [
            {"Condition": "HasExistingBuckets"}, {"Condition": "Promotes"}]})
        self.assertEqual(conditions["PromotesFromCreatedBucket"], {"Fn::And": [
            {"Condition": "CreateProtected"}, {"Condition": "Promotes"}]})
        statements = conditional_statements(self.function)
        self.assertEqual(statements["CheckCreatedStagingBucket"][1]["Resource"],
                         {"Fn::GetAtt": ["ProtectedBucket", "Arn"]})
        self.assertEqual(statements["CheckExistingStagingBuckets"][1]["Resource"],
                         statements["ListExistingBuckets"][1]["Resource"])
        self.assertIn("PROMOTE", self.contract["when"]["promotes"])

    def test_the_function_writes_only_the_compiled_cache_under_the_rules_prefix(self):
        statements = conditional_statements(self.function)
        uri = {"Fn::If": ["OwnRules", {"Fn::Sub": "s3://${RulesBucket}/"}, {"Ref": "RulesUri"}]}
        path = {"Fn::Select": [1, {"Fn::Split": ["s3://", {"Fn::Sub": ["${Uri}s3://", {"Uri": uri}]}]}]}
        read = statements["ReadRules"][1]["Resource"]["Fn::Sub"]
        self.assertEqual(read, ["arn:${AWS::Partition}:s3:::${Path}*", {"Path": path}])
        write = statements["WriteRulesCache"][1]["Resource"]["Fn::Sub"]
        folder = self.contract["rules_cache_folder"]
        self.assertEqual(write, [f"arn:${{AWS::Partition}}:s3:::${{Path}}{folder}*", {"Path": path}])
        self.assertEqual(as_set(statements["ReadRules"][1]["Action"]), {"s3:GetObject"})
        self.assertEqual(as_set(statements["WriteRulesCache"][1]["Action"]), {"s3:PutObject"})
        rendered = render_sub(write[0], {"AWS::Partition": "aws", "Path": "rules-bucket/team/"})
        self.assertEqual(rendered, "arn:aws:s3:::rules-bucket/team/.s3-yara-scan-cache/*")

    def test_feeds_are_on_by_default_in_a_bucket_the_stack_makes_when_no_rules_uri(self):
        """The defaults (Feeds listed, RulesUri empty) give the function a RULES prefix: the root
        of a private RulesBucket, which its feeds/ grant and the agent's RULES name too; a
        RulesUri given makes no bucket."""
        params, conditions = self.template["Parameters"], self.template["Conditions"]
        self.assertEqual(params["RulesUri"]["Default"], "")
        self.assertTrue(params["Feeds"]["Default"].startswith("yara=https://"))
        self.assertEqual(conditions["OwnRules"], {"Fn::And": [
            {"Fn::Not": [{"Condition": "RulesUriGiven"}]}, {"Condition": "FeedsListed"}]})
        self.assertEqual(conditions["HasRules"], {"Fn::Or": [
            {"Condition": "RulesUriGiven"}, {"Condition": "OwnRules"}]})
        bucket = self.template["Resources"]["RulesBucket"]
        self.assertEqual(bucket["Condition"], "OwnRules")
        self.assertEqual(set(bucket["Properties"]["PublicAccessBlockConfiguration"].values()), {True})
        uri = {"Fn::If": ["OwnRules", {"Fn::Sub": "s3://${RulesBucket}/"}, {"Ref": "RulesUri"}]}
        env = self.function["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["RULES"], uri)
        (agent,) = self.template["Resources"]["AgentTaskDefinition"]["Properties"]["ContainerDefinitions"]
        (rules,) = [v["Value"] for v in agent["Environment"] if v["Name"] == "RULES"]
        self.assertEqual(rules, uri)
        self.assertEqual(self.template["Outputs"]["RulesUriInForce"]["Value"], uri)
        write = conditional_statements(self.function)["WriteFeeds"][1]["Resource"]["Fn::Sub"]
        path = write[1]["Path"]["Fn::Select"][1]["Fn::Split"][1]["Fn::Sub"]
        self.assertEqual(path, ["${Uri}s3://", {"Uri": uri}])
        own = render_sub(path[0], {"Uri": "s3://stack-rules-bucket/"}).split("s3://")[1]
        arn = render_sub(write[0], {"AWS::Partition": "aws", "Path": own})
        self.assertEqual(arn, "arn:aws:s3:::stack-rules-bucket/feeds/*")
        schedule = self.template["Resources"]["FeedsUpdateSchedule"]
        self.assertEqual(schedule["Condition"], "FeedsOn")
        self.assertEqual(json.loads(schedule["Properties"]["Target"]["Input"]), {"feedsUpdate": {}})

    def test_result_events_are_published_only_where_named(self):
        statements = conditional_statements(self.function)
        bus = statements["PublishResultEvents"][1]["Resource"]["Fn::If"]
        self.assertEqual(bus[0], "ResultBusIsArn")
        self.assertEqual(bus[1], {"Ref": "ResultEventBus"})
        self.assertEqual(statements["PublishResultTopic"][1]["Resource"], {"Ref": "ResultTopicArn"})
        self.assertEqual(statements["RequeueResultEvents"][1]["Resource"],
                         {"Fn::GetAtt": ["ScanQueue", "Arn"]})
        env = self.function["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["QUEUE_URL"], {"Ref": "ScanQueue"})

    def test_onboarding_by_tag_is_wired_only_when_on_and_stays_in_the_account(self):
        """OnboardByTag: the rule matches exactly the calls the binary acts on, invokes only the
        function, and the wide grants are limited to the stack's account."""
        resources = self.template["Resources"]
        conditions = self.template["Conditions"]
        self.assertEqual(conditions["OnboardByTagOn"], {"Fn::Equals": [{"Ref": "OnboardByTag"}, "true"]})
        self.assertEqual(self.template["Parameters"]["OnboardByTag"]["Default"], "false")
        rule, permission = resources["OnboardRule"], resources["OnboardRulePermission"]
        self.assertEqual((rule["Condition"], permission["Condition"]), ("OnboardByTagOn", "OnboardByTagOn"))
        pattern = rule["Properties"]["EventPattern"]
        self.assertEqual(pattern["source"], ["aws.s3"])
        self.assertEqual(pattern["detail-type"], ["AWS API Call via CloudTrail"])
        self.assertEqual(pattern["detail"]["eventName"], self.contract["onboard"]["calls"])
        (target,) = rule["Properties"]["Targets"]
        self.assertEqual(target["Arn"], {"Fn::GetAtt": ["ScannerFunction", "Arn"]})
        self.assertEqual(permission["Properties"]["Principal"], "events.amazonaws.com")
        self.assertEqual(permission["Properties"]["SourceArn"], {"Fn::GetAtt": ["OnboardRule", "Arn"]})
        env = self.function["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["ONBOARD_TAG"], {"Fn::If": ["OnboardByTagOn", {"Ref": "OnboardTag"}, "off"]})
        self.assertEqual(env["NOTIFICATION_TOPIC_ARN"], {"Ref": "ScanTopic"})
        self.assertEqual(self.template["Parameters"]["OnboardTag"]["Default"],
                         self.settings["ONBOARD_TAG"]["default"])
        statements = conditional_statements(self.function)
        for sid in ("ScanOnboardedBuckets", "DeleteInOnboardedBuckets", "OnboardBuckets"):
            self.assertEqual(statements[sid][1]["Condition"],
                             {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}, sid)
        self.assertEqual(statements["ListAllBuckets"][1]["Resource"], "*")

    def test_findings_are_imported_into_the_accounts_default_product_only(self):
        statements = conditional_statements(self.function)
        product = statements["ImportFindings"][1]["Resource"]["Fn::Sub"]
        rendered = render_sub(product, {"AWS::Partition": "aws", "AWS::Region": "eu-west-1",
                                        "AWS::AccountId": "123456789012"})
        self.assertEqual(rendered,
                         "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default")
        env = self.function["Properties"]["Environment"]["Variables"]
        self.assertEqual(env["SECURITY_HUB"], {"Ref": "SecurityHub"})
        self.assertEqual(env["RESULT_EVENT_SCHEMA"], {"Ref": "ResultEventSchema"})

    def test_each_statement_grants_what_its_part_of_the_work_needs(self):
        statements = conditional_statements(self.function)
        self.assertEqual(set(statements), set(STATEMENTS), "one statement per known Sid")
        for sid, (resource, when, condition) in STATEMENTS.items():
            with self.subTest(sid):
                cond, statement = statements[sid]
                self.assertEqual(cond, condition)
                self.assertEqual(statement["Effect"], "Allow")
                self.assertEqual(as_set(statement["Action"]), self.grant(resource, when))

    def test_the_policy_grants_every_call_and_nothing_more(self):
        granted = set().union(*(set(g["actions"]) for g in self.contract["grants"]))
        self.assertEqual(policy_actions(self.function), granted)
        called = {a for op in self.contract["operations"] for a in op["actions"]}
        self.assertFalse(called - granted, f"calls without a grant: {called - granted}")
        self.assertFalse([a for a in granted if "*" in a], "no action wildcards")

    def test_environment_is_what_the_template_is_meant_to_set(self):
        variables = set(self.function["Properties"]["Environment"]["Variables"])
        by_template = {n for n, s in self.settings.items()
                       if s["set_by"] == "template" or isinstance(s["set_by"], dict)}
        # A parameter left empty (MaxObjectSize) still names its variable, through Fn::If.
        self.assertEqual(variables, by_template)
        self.assertIn("QUARANTINE_BUCKET", variables, "required with the default ACTION")
        self.assertNotIn("SIGNING_KEY", variables, "the raw key never goes in the template")

    def test_parameter_defaults_and_allowed_values_are_the_codes(self):
        params = self.template["Parameters"]
        for name, setting in self.settings.items():
            if not isinstance(setting["set_by"], dict):
                continue
            param = params[setting["set_by"]["parameter"]]
            with self.subTest(name):
                allowed = setting["allowed"]
                if setting["default"] is not None and "text" not in allowed or \
                        name.startswith("TAG_KEY_"):
                    self.assertEqual(str(param["Default"]), setting["default"])
                if "one_of" in allowed:
                    self.assertEqual(param["AllowedValues"], allowed["one_of"])
                if "range" in allowed:
                    self.assertEqual([param["MinValue"], param["MaxValue"]], allowed["range"])
        for variable, key in self.contract["tag_keys"].items():
            self.assertEqual(self.settings[variable]["default"], key)

    def test_signing_key_is_read_from_exactly_one_secret(self):
        variables = self.function["Properties"]["Environment"]["Variables"]
        secret = {"Fn::If": ["CreateSigningKey", {"Ref": "SigningKeySecret"},
                             {"Ref": "SigningKeySecretArn"}]}
        self.assertEqual(variables["SIGNING_KEY_SECRET"], secret)
        self.assertEqual(self.template["Conditions"]["CreateSigningKey"],
                         {"Fn::Equals": [{"Ref": "SigningKeySecretArn"}, ""]})
        self.assertEqual(self.template["Parameters"]["SigningKeySecretArn"]["Default"], "")
        _, statement = conditional_statements(self.function)["ReadSigningKey"]
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

    def test_archive_passwords_come_from_one_source_and_only_that_secret_is_read(self):
        variables = self.function["Properties"]["Environment"]["Variables"]
        self.assertEqual(variables["ARCHIVE_PASSWORDS"],
                         {"Fn::If": ["HasArchivePasswordsSecret", "", {"Ref": "ArchivePasswords"}]},
                         "the binary refuses both at once")
        self.assertEqual(variables["ARCHIVE_PASSWORDS_SECRET_ARN"],
                         {"Ref": "ArchivePasswordsSecretArn"})
        self.assertEqual(self.template["Parameters"]["ArchivePasswords"]["Default"],
                         self.settings["ARCHIVE_PASSWORDS"]["default"])
        condition, statement = conditional_statements(self.function)["ReadArchivePasswords"]
        self.assertEqual(condition, "HasArchivePasswordsSecret")
        self.assertEqual(statement["Resource"], {"Ref": "ArchivePasswordsSecretArn"})

    def test_queue_and_event_source_follow_aws_guidance(self):
        resources = self.template["Resources"]
        events = self.function["Properties"]["Events"]["Queue"]["Properties"]
        self.assertEqual(events["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        visibility = self.template["Mappings"]["VisibilityTimeout"]
        for timeout in self.template["Parameters"]["Timeout"]["AllowedValues"]:
            self.assertGreaterEqual(visibility[str(timeout)]["Seconds"], 6 * int(timeout))
        self.assertIn("RedrivePolicy", resources["ScanQueue"]["Properties"])
        self.assertTrue(resources["ScanQueue"]["Properties"]["SqsManagedSseEnabled"])

    def test_only_the_topic_the_scanner_and_listed_senders_send_to_the_queue(self):
        statements = self.template["Resources"]["ScanQueuePolicy"]["Properties"][
            "PolicyDocument"]["Statement"]
        (deny,) = [s for s in statements if s["Effect"] == "Deny"]
        self.assertEqual((deny["Principal"], deny["Action"]), ("*", "sqs:SendMessage"))
        not_equals = deny["Condition"]["ArnNotEquals"]
        self.assertEqual(not_equals["aws:SourceArn"], {"Ref": "ScanTopic"})
        condition, listed, alone = not_equals["aws:PrincipalArn"]["Fn::If"]
        role = {"Fn::GetAtt": [SCANNER_ROLE, "Arn"]}
        self.assertEqual((condition, alone), ("HasQueueSenders", [role]))
        self.assertIn(role, json.loads(json.dumps(listed))["Fn::Split"][1]["Fn::Join"][1])


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
        cls.enforced_sub, cls.sub_values = enforced["Fn::Sub"]
        placeholders = {p: f"<{p}>" for p in cls.tag_key_params + list(cls.sub_values)}
        placeholders.update({"ProtectedBucket.Arn": "<bucket-arn>",
                             f"{SCANNER_ROLE}.Arn": "<scanner-role-arn>",
                             "ReleaseRole.Arn": "<release-role-arn>"})
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
            "StringNotEquals": {"s3:ExistingObjectTag/<ResultKey>": ["<CleanValue>", "<ReleasedValue>"]},
            "ArnNotEquals": {"aws:PrincipalArn": ["<scanner-role-arn>", "<release-role-arn>"]}})
        self.assertIn("Clean", invariants.contract()["verdicts"])
        self.assertIn("Released", invariants.contract()["verdicts"])

    def test_the_policy_follows_the_tag_schema(self):
        """For every schema the contract names, the policy's result key and Clean value, and
        the keys it protects, are the ones the binary writes."""
        contract = invariants.contract()
        schemas = contract["tag_schemas"]
        self.assertEqual(self.params["TagSchema"]["AllowedValues"], list(schemas))
        for name, schema in schemas.items():
            with self.subTest(name):
                params = {p: self.params[p]["Default"] for p in self.params}
                params["TagSchema"] = name
                got = {k: resolve(self.template, v, params) for k, v in self.sub_values.items()}
                keys = {**contract["tag_keys"], **schema["keys"]}
                self.assertEqual(got, {"ResultKey": keys["TAG_KEY_RESULT"],
                                       "CleanValue": schema["values"]["Clean"],
                                       "ReleasedValue": schema["values"]["Released"],
                                       "DateKey": keys["TAG_KEY_DATE"],
                                       "MatchesKey": keys["TAG_KEY_MATCHES"]})

    def test_only_the_scanner_sets_any_of_its_tag_keys(self):
        tags = statements_by_sid(self.enforced)["OnlyTheScannerSetsScanTags"]
        self.assertEqual((tags["Effect"], tags["Principal"]), ("Deny", "*"))
        self.assertEqual(as_set(tags["Action"]),
                         {"s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"})
        self.assertEqual(tags["Resource"], "<bucket-arn>/*")
        condition = dict(tags["Condition"])
        self.assertEqual(condition.pop("ArnNotEquals"),
                         {"aws:PrincipalArn": ["<scanner-role-arn>", "<release-role-arn>"]})
        (operator, keys), = condition.items()
        # Tag keys are case-sensitive in S3, condition keys may not be in IAM: `Scan-Result` is
        # denied like `scan-result`.
        self.assertEqual(operator, "ForAnyValue:StringEqualsIgnoreCase")
        # Every configured key, whatever its name: a `scan-*` pattern misses renamed keys.
        self.assertEqual(set(keys), {"s3:RequestObjectTagKeys"})
        by_schema = {"TagKeyResult": "ResultKey", "TagKeyDate": "DateKey",
                      "TagKeyMatches": "MatchesKey"}
        self.assertEqual(set(keys["s3:RequestObjectTagKeys"]),
                         {f"<{by_schema.get(p, p)}>" for p in self.tag_key_params})
        self.assertEqual(len(self.tag_key_params), 7)

    def test_nothing_is_allowed_and_the_exempt_role_is_the_scanners(self):
        self.assertEqual({s["Effect"] for s in self.enforced["Statement"]}, {"Deny"})
        self.assertEqual(set(statements_by_sid(self.enforced)),
                         {"TlsOnly", "ReadOnlyClean", "OnlyTheScannerSetsScanTags"})
        function = self.template["Resources"]["ScannerFunction"]["Properties"]
        self.assertNotIn("Role", function, f"SAM creates {SCANNER_ROLE} only without a Role")
        self.assertEqual(self.template["Outputs"]["ScannerRoleArn"]["Value"],
                         {"Fn::GetAtt": [SCANNER_ROLE, "Arn"]})

    def test_documented_policy_is_the_template_policy_with_defaults(self):
        blocks = re.findall(r"```json\n(.*?)```", read("docs/security.md"), re.S)
        ours = [b for b in blocks if "OnlyTheScannerSetsScanTags" in b]
        self.assertEqual(len(ours), 1, "one bucket policy snippet in docs/security.md")
        values = {p: self.params[p]["Default"] for p in self.tag_key_params}
        defaults = {p: self.params[p]["Default"] for p in self.params}
        values.update({k: resolve(self.template, v, defaults) for k, v in self.sub_values.items()})
        values.update({"ProtectedBucket.Arn": "arn:aws:s3:::BUCKET",
                       f"{SCANNER_ROLE}.Arn": "SCANNER_ROLE_ARN",
                       "ReleaseRole.Arn": "RELEASE_ROLE_ARN"})
        self.assertEqual(json.loads(ours[0]), json.loads(render_sub(self.enforced_sub, values)))


class ProductionPolicy(unittest.TestCase):
    """Two buckets: nothing but the scanner writes, tags, replicates into or deletes from the
    production bucket, and the same policy is documented for production buckets the stack does
    not own."""

    # Written, re-tagged, replaced by replication, or deleted (so a key could be re-filled)
    # by anyone but the scanner, production would hold what the scanner never verified.
    DENIED = {"s3:PutObject", "s3:PutObjectTagging", "s3:PutObjectVersionTagging",
              "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteObjectTagging",
              "s3:DeleteObjectVersionTagging", "s3:ReplicateObject", "s3:ReplicateTags"}
    PLACEHOLDERS = {"ProductionBucket.Arn": "arn:aws:s3:::PRODUCTION_BUCKET",
                    f"{SCANNER_ROLE}.Arn": "SCANNER_ROLE_ARN"}

    @classmethod
    def setUpClass(cls):
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        cls.template = template
        cls.resource = template["Resources"]["ProductionBucketPolicy"]
        cls.sub = cls.resource["Properties"]["PolicyDocument"]["Fn::Sub"]
        cls.policy = json.loads(render_sub(cls.sub, cls.PLACEHOLDERS))
        cls.statements = statements_by_sid(cls.policy)
        cls.function = template["Resources"]["ScannerFunction"]

    def test_it_comes_with_the_created_production_bucket(self):
        self.assertEqual(self.resource["Condition"], "CreateProduction")
        self.assertEqual(self.resource["Properties"]["Bucket"], {"Ref": "ProductionBucket"})
        self.assertEqual(set(self.statements), {"TlsOnly", "OnlyTheScannerWrites"})
        self.assertEqual({s["Effect"] for s in self.policy["Statement"]}, {"Deny"})
        env = self.function["Properties"]["Environment"]["Variables"]
        self.assertIn("PROMOTE", env)

    def test_only_the_scanner_writes_tags_replicates_or_deletes(self):
        deny = self.statements["OnlyTheScannerWrites"]
        self.assertEqual((deny["Effect"], deny["Principal"]), ("Deny", "*"))
        self.assertEqual(self.DENIED - as_set(deny["Action"]), set())
        self.assertEqual(deny["Resource"], "arn:aws:s3:::PRODUCTION_BUCKET/*")
        self.assertEqual(deny["Condition"], {"ArnNotEquals": {"aws:PrincipalArn": "SCANNER_ROLE_ARN"}})

    def test_the_scanner_keeps_what_promotion_needs(self):
        """Every denial but TLS-only exempts the scanner's role, whose grant on production
        objects (copy, tag the copy, verify, remove a second copy) stays whole."""
        for sid, statement in self.statements.items():
            with self.subTest(sid):
                exempt = statement.get("Condition", {}).get("ArnNotEquals", {})
                tls = statement.get("Condition", {}).get("Bool") == {"aws:SecureTransport": "false"}
                self.assertTrue(tls or exempt == {"aws:PrincipalArn": "SCANNER_ROLE_ARN"})
        _, grant = conditional_statements(self.function)["PromoteToCreatedBucket"]
        self.assertEqual(grant["Resource"], {"Fn::Sub": "${ProductionBucket.Arn}/*"})

    def test_documented_policy_is_the_template_policy(self):
        """docs/deploy.md's policy for ProductionBucketNames is this one, placeholders apart."""
        blocks = re.findall(r"```json\n(.*?)```", read("docs/deploy.md"), re.S)
        ours = [b for b in blocks if "OnlyTheScannerWrites" in b]
        self.assertEqual(len(ours), 1, "one production bucket policy snippet in docs/deploy.md")
        self.assertEqual(json.loads(ours[0]), self.policy)


class ReleasePolicy(unittest.TestCase):
    """The managed policy of `s3-yara-scan release`, for operators: one statement per grant the
    contract names (`release_grants`), with exactly its actions under the condition its part
    needs; exported, and the role that carries it assumable from this account only."""

    # Which contract release grant (resource, when) each statement stands for, and the template
    # condition that must gate it (None: unconditional).
    STATEMENTS = {
        "ReadAndRemoveQuarantineCopies": ("quarantine-objects", "always", None),
        "ListQuarantineBucket": ("quarantine-bucket", "always", None),
        "RestoreToExistingBuckets": ("protected-objects", "always", "HasExistingBuckets"),
        "RestoreToCreatedBucket": ("protected-objects", "always", "CreateProtected"),
        "ListExistingBuckets": ("protected-buckets", "always", "HasExistingBuckets"),
        "ListCreatedBucket": ("protected-buckets", "always", "CreateProtected"),
        "ReadSigningKey": ("signing-secret", "signing-key-secret", None),
        "UseBucketKmsKeys": ("kms-keys", "sse-kms", "HasKmsKeys"),
        "PublishResultEvents": ("result-bus", "result-events", "HasResultBus"),
        "PublishResultTopic": ("result-topic", "result-events", "HasResultTopic"),
        "ImportFindings": ("securityhub-product", "security-hub", "SecurityHubOn"),
    }

    @classmethod
    def setUpClass(cls):
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        cls.template = template
        cls.policy = template["Resources"]["ReleasePolicy"]
        cls.statements = {}
        for item in cls.policy["Properties"]["PolicyDocument"]["Statement"]:
            condition, statement = None, item
            if isinstance(item, dict) and "Fn::If" in item:
                condition, statement = item["Fn::If"][0], item["Fn::If"][1]
            cls.statements[statement["Sid"]] = (condition, statement)
        cls.grants = invariants.contract()["release_grants"]

    def test_it_is_a_managed_policy_exported_for_operators(self):
        self.assertEqual(self.policy["Type"], "AWS::IAM::ManagedPolicy")
        self.assertEqual(self.template["Outputs"]["ReleasePolicyArn"]["Value"], {"Ref": "ReleasePolicy"})
        role = self.template["Resources"]["ReleaseRole"]["Properties"]
        self.assertEqual(role["ManagedPolicyArns"], [{"Ref": "ReleasePolicy"}])
        (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
        self.assertEqual(trust["Principal"],
                         {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}})

    def test_each_statement_grants_what_a_release_needs_and_nothing_more(self):
        self.assertEqual(set(self.statements), set(self.STATEMENTS), "one statement per known Sid")
        covered = set()
        for sid, (resource, when, condition) in self.STATEMENTS.items():
            with self.subTest(sid):
                cond, statement = self.statements[sid]
                self.assertEqual(cond, condition)
                self.assertEqual(statement["Effect"], "Allow")
                self.assertNotEqual(statement["Resource"], "*")
                (grant,) = [g for g in self.grants if (g["resource"], g["when"]) == (resource, when)]
                self.assertEqual(as_set(statement["Action"]), set(grant["actions"]))
                covered.add((resource, when))
        self.assertEqual(covered, {(g["resource"], g["when"]) for g in self.grants},
                         "every release grant has its statement")


class LeastPrivilegeByAction(unittest.TestCase):
    """The conditions that gate the statements follow the settings, as the contract says."""

    @classmethod
    def setUpClass(cls):
        template, _ = decode(os.path.join(ROOT, "template.yaml"))
        cls.template = template
        cls.by_sid = conditional_statements(template["Resources"]["ScannerFunction"])
        cls.when = invariants.contract()["when"]

    def test_deletes_only_when_an_action_removes_objects(self):
        self.assertIn("ACTION is quarantine or delete", self.when["removes-objects"])
        conditions = self.template["Conditions"]
        self.assertEqual(conditions["Deletes"], {"Fn::Or": [
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "Action"}, "tag"]}]},
            {"Condition": "Quarantines"}, {"Condition": "Promotes"}]})
        self.assertIn("PROMOTE is set", self.when["removes-objects"])
        for name in ("DeletesInExistingBuckets", "DeletesInCreatedBucket"):
            self.assertIn({"Condition": "Deletes"}, conditions[name]["Fn::And"])

    def test_quarantine_rights_only_when_something_is_quarantined(self):
        self.assertEqual(self.when["quarantines"],
                         "ACTION, UNSCANNABLE_ACTION or SUSPICIOUS_ACTION is quarantine")
        self.assertEqual(self.template["Conditions"]["Quarantines"], {"Fn::Or": [
            {"Fn::Equals": [{"Ref": "Action"}, "quarantine"]},
            {"Fn::Equals": [{"Ref": "UnscannableAction"}, "quarantine"]},
            {"Fn::Equals": [{"Ref": "SuspiciousAction"}, "quarantine"]}]})

    def test_kms_keys_are_used_only_through_s3_and_secrets_manager(self):
        _, statement = self.by_sid["UseBucketKmsKeys"]
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


class LargeObjectAgent(unittest.TestCase):
    """The agent on ECS Fargate runs with the function's role and settings."""

    @classmethod
    def setUpClass(cls):
        cls.template, _ = decode(os.path.join(ROOT, "template.yaml"))
        cls.resources = cls.template["Resources"]
        cls.function = cls.resources["ScannerFunction"]
        cls.task = cls.resources["AgentTaskDefinition"]
        (cls.container,) = cls.task["Properties"]["ContainerDefinitions"]

    def test_the_agent_has_the_function_settings_one_for_one(self):
        function = self.function["Properties"]["Environment"]["Variables"]
        agent = {e["Name"]: e["Value"] for e in self.container["Environment"]}
        self.assertEqual(set(agent), set(function))
        self.assertEqual(agent.pop("SCAN_TIMEOUT_SECS"), {"Ref": "AgentScanTimeoutSecs"},
                         "objects up to 200 GiB take longer than the function's limit")
        for name, value in function.items():
            if name == "SCAN_TIMEOUT_SECS":
                continue
            with self.subTest(name):
                # The function's LARGE_OBJECT_* are conditional; the agent exists only when on.
                (expected,) = unwrap([value]) if name.startswith("LARGE_OBJECT_") else (value,)
                self.assertEqual(agent[name], expected)

    def test_the_agent_runs_with_the_function_role_and_polls_the_large_object_queue(self):
        self.assertEqual(self.task["Properties"]["TaskRoleArn"],
                         {"Fn::GetAtt": ["ScannerFunctionRole", "Arn"]})
        trust = self.function["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
        self.assertEqual(trust["Principal"]["Service"]["Fn::If"],
                         ["LargeObjectAgentOn", ["lambda.amazonaws.com", "ecs-tasks.amazonaws.com"],
                          ["lambda.amazonaws.com"]])
        command = self.container["Command"]
        self.assertEqual(command[:3], ["poll", "--queue-url", {"Ref": "LargeObjectQueue"}])
        self.assertEqual(self.function["Properties"]["Environment"]["Variables"]
                         ["LARGE_OBJECT_QUEUE_URL"]["Fn::If"][1], {"Ref": "LargeObjectQueue"})

    def test_the_agent_scales_to_zero_on_the_queue_depth_with_up_to_200_gib(self):
        target = self.resources["AgentScalableTarget"]["Properties"]
        self.assertEqual(target["MinCapacity"], 0)
        self.assertEqual(self.task["Properties"]["EphemeralStorage"]["SizeInGiB"],
                         {"Ref": "AgentEphemeralStorageGiB"})
        self.assertEqual(self.template["Parameters"]["AgentEphemeralStorageGiB"]["MaxValue"], 200)
        alarm = self.resources["AgentScaleInAlarm"]["Properties"]
        names = {m["MetricStat"]["Metric"]["MetricName"] for m in alarm["Metrics"]
                 if "MetricStat" in m}
        self.assertEqual(names, {"ApproximateNumberOfMessagesVisible",
                                 "ApproximateNumberOfMessagesNotVisible"},
                         "never scaled in while a message is in flight")
        for name in ("LargeObjectQueue", "AgentService", "AgentScalableTarget"):
            self.assertEqual(self.resources[name]["Condition"], "LargeObjectAgentOn")


class DocsMatchCode(unittest.TestCase):
    def test_every_setting_is_documented_with_its_default(self):
        rows = dict(re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \|", read("docs/configuration.md"),
                               re.M))
        for setting in invariants.contract()["settings"]:
            if setting["set_by"] == "lambda" or setting["name"].startswith("AWS_"):
                continue  # set by Lambda or the SDK's own chain: described in prose
            with self.subTest(setting["name"]):
                self.assertIn(setting["name"], rows)
                if setting["default"]:
                    self.assertTrue(rows[setting["name"]].startswith(f"`{setting['default']}`"),
                                    rows[setting["name"]])

    def test_the_types_vocabulary_is_documented_group_by_group(self):
        rows = dict(re.findall(r"^\| `([a-z]+)` \| ([^|]*) \|", read("docs/policies.md"), re.M))
        vocabulary = invariants.contract()["types"]
        self.assertEqual(sorted(rows), sorted(vocabulary["groups"]))
        for t in vocabulary["types"]:
            with self.subTest(t["name"]):
                self.assertIn(f"`{t['name']}`", rows[t["group"]].split())


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

    def test_conditional_statements_are_read(self):
        function = {"Properties": {"Policies": [{"Statement": [
            {"Fn::If": ["C", {"Action": ["s3:GetObject"]}, {"Ref": "AWS::NoValue"}]},
            {"Action": "s3:PutObject"}]}]}}
        self.assertEqual(policy_actions(function), {"s3:GetObject", "s3:PutObject"})

    def test_an_unresolved_sub_variable_is_an_error(self):
        self.assertEqual(render_sub('{"a": "${X}", "b": "${!Literal}"}', {"X": "1"}),
                         '{"a": "1", "b": "${!Literal}"}')
        with self.assertRaises(KeyError):
            render_sub("${Missing}", {})


if __name__ == "__main__":
    unittest.main()
