"""The template's Rules, evaluated against parameter values the way CloudFormation does before
it creates anything (the functions Rules may use: Fn::And, Or, Not, Equals, Contains and Ref
of a parameter, whose value is a string; a rule's assertions hold only when its RuleCondition
does): a batch above 10 needs a batching window, the large-object agent needs its image and
subnets, and the defaults pass every rule once a bucket to protect is named."""

import os
import unittest

from cfnlint.decode import decode

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def evaluate(node, params):
    """The value of a Rules condition `node` with parameters `params` (strings or lists)."""
    if isinstance(node, bool):
        return node
    if isinstance(node, (str, list)):
        return [evaluate(n, params) for n in node] if isinstance(node, list) else node
    (fn, args), = node.items()
    if fn == "Ref":
        return params[args]
    values = [evaluate(a, params) for a in args]
    if fn == "Fn::Or":
        return any(values)
    if fn == "Fn::And":
        return all(values)
    if fn == "Fn::Not":
        return not values[0]
    if fn == "Fn::Equals":
        return values[0] == values[1]
    if fn == "Fn::Contains":
        return values[1] in values[0]
    if fn == "Fn::Join":
        return values[0].join(values[1])
    raise AssertionError(f"{fn} is not a function the evaluator knows")


class TemplateRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        template, matches = decode(os.path.join(ROOT, "template.yaml"))
        assert not matches, matches
        cls.rules = template["Rules"]
        cls.defaults = {}
        for name, p in template["Parameters"].items():
            default = str(p.get("Default", ""))
            cls.defaults[name] = default.split(",") if p["Type"].startswith("CommaDelimited") \
                else default

    def refused(self, **values):
        params = dict(self.defaults, ProtectedBucketNames=["uploads"], **values)
        return [name for name, rule in self.rules.items()
                if evaluate(rule.get("RuleCondition", True), params)
                for a in rule["Assertions"] if not evaluate(a["Assert"], params)]

    def test_the_defaults_pass_every_rule_with_a_bucket_to_protect(self):
        self.assertEqual(self.defaults["BatchSize"], "100")
        self.assertEqual(self.refused(), [])

    def test_a_batch_above_10_without_a_window_is_refused(self):
        self.assertEqual(self.refused(BatchSize="100", MaximumBatchingWindowInSeconds="0"),
                         ["BatchingWindowForLargeBatches"])
        self.assertEqual(self.refused(BatchSize="11", MaximumBatchingWindowInSeconds="0"),
                         ["BatchingWindowForLargeBatches"])

    def test_a_window_or_a_batch_of_10_or_less_is_accepted(self):
        self.assertEqual(self.refused(BatchSize="100", MaximumBatchingWindowInSeconds="1"), [])
        self.assertEqual(self.refused(BatchSize="10", MaximumBatchingWindowInSeconds="0"), [])
        self.assertEqual(self.refused(BatchSize="1", MaximumBatchingWindowInSeconds="0"), [])

    def test_the_large_object_agent_needs_its_image_and_subnets(self):
        self.assertEqual(self.refused(LargeObjectAgent="true"), ["AgentHasImageAndSubnets"] * 2)
        self.assertEqual(self.refused(LargeObjectAgent="true", AgentImageUri="repo/agent:1",
                                      AgentSubnetIds=["subnet-0123456789abcdef0"]), [])


if __name__ == "__main__":
    unittest.main()
