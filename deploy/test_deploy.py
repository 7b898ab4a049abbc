"""Offline checks of the Terraform module in deploy/ (providers cannot be downloaded here, so no
`terraform validate`): every file parses with python-hcl2, the settings the design depends on are
there, IAM stays least-privilege, and the backfill's state machine is a distributed map with a
concurrency limit. Run by deploy/test.sh with the .venv interpreter.
"""

import glob
import json
import os
import re
import sys
import unittest

import hcl2

HERE = os.path.dirname(os.path.abspath(__file__))


def clean(value):
    """python-hcl2 v8 keeps the quotes of strings and labels and marks blocks; drop both."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if k != "__is_block__"}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def load():
    """Every block of every .tf file, by kind: resources and data by type and name."""
    module = {"resource": {}, "data": {}, "variable": {}, "output": {}, "locals": {}}
    for path in sorted(glob.glob(os.path.join(HERE, "*.tf"))):
        with open(path) as f:
            parsed = clean(hcl2.load(f))
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    for name, body in named.items():
                        module[kind].setdefault(type_, {})[name] = body
        for block in parsed.get("variable", []):
            module["variable"].update(block)
        for block in parsed.get("output", []):
            module["output"].update(block)
        for block in parsed.get("locals", []):
            module["locals"].update(block)
    return module


def one(value):
    """A nested block comes back as a list of one dict."""
    return value[0] if isinstance(value, list) else value


MODULE = load()
R = MODULE["resource"]
D = MODULE["data"]


def default(name):
    return MODULE["variable"][name]["default"]


def resolve(value):
    """A `${var.x}` reference replaced by the variable's default."""
    if isinstance(value, str):
        m = re.fullmatch(r"\$\{var\.(\w+)\}", value)
        if m:
            return default(m.group(1))
    return value


def statements(document):
    return {s.get("sid", str(i)): s for i, s in enumerate(document["statement"])}


class Stream(unittest.TestCase):
    def test_kinesis_is_on_demand_and_encrypted(self):
        stream = R["aws_kinesis_stream"]["events"]
        self.assertEqual(one(stream["stream_mode_details"])["stream_mode"], "ON_DEMAND")
        self.assertEqual(stream["encryption_type"], "KMS")
        self.assertNotIn("shard_count", stream)

    def test_event_source_mapping(self):
        esm = R["aws_lambda_event_source_mapping"]["kinesis"]
        self.assertIn("aws_kinesis_stream.events.arn", esm["event_source_arn"])
        self.assertIn("aws_lambda_function.sluice", esm["function_name"])
        self.assertEqual(esm["function_response_types"], ["ReportBatchItemFailures"])
        self.assertIs(esm["bisect_batch_on_function_error"], True)
        batch = resolve(esm["batch_size"])
        self.assertTrue(1 <= batch <= 10000, batch)
        window = resolve(esm["maximum_batching_window_in_seconds"])
        self.assertTrue(0 <= window <= 300, window)
        factor = resolve(esm["parallelization_factor"])
        self.assertTrue(1 <= factor <= 10, factor)
        self.assertTrue(resolve(esm["maximum_retry_attempts"]) >= 0)
        self.assertIn(resolve(esm["starting_position"]), ("LATEST", "TRIM_HORIZON"))
        failure = one(one(esm["destination_config"])["on_failure"])
        self.assertIn("aws_sqs_queue.failures.arn", failure["destination_arn"])


class Function(unittest.TestCase):
    def test_runtime_architecture_and_package(self):
        f = R["aws_lambda_function"]["sluice"]
        self.assertEqual(f["runtime"], "provided.al2023")
        self.assertEqual(f["architectures"], ["arm64"])
        self.assertEqual(f["handler"], "bootstrap")
        self.assertIn("data.archive_file.package", f["filename"])
        self.assertIn("output_base64sha256", f["source_code_hash"])
        env = one(f["environment"])["variables"]
        self.assertEqual(env["SLUICE_CONFIG"], "sluice.json")
        self.assertEqual(env["SLUICE_HANDLER"], "auto")
        self.assertEqual(D["archive_file"]["package"]["type"], "zip")

    def test_asynchronous_failures_have_a_destination(self):
        config = R["aws_lambda_function_event_invoke_config"]["async"]
        failure = one(one(config["destination_config"])["on_failure"])
        self.assertIn("aws_sqs_queue.failures.arn", failure["destination"])

    def test_logs_are_kept_a_bounded_time(self):
        group = R["aws_cloudwatch_log_group"]["function"]
        self.assertEqual(group["name"], "/aws/lambda/${var.name}")
        self.assertTrue(resolve(group["retention_in_days"]) > 0)


class State(unittest.TestCase):
    def test_dynamodb_table_has_ttl_for_stores(self):
        table = R["aws_dynamodb_table"]["state"]
        self.assertEqual(table["billing_mode"], "PAY_PER_REQUEST")
        # The layout of the `dynamodb` store kind: key `pk`, TTL `expires_at`.
        self.assertEqual(table["hash_key"], "pk")
        ttl = one(table["ttl"])
        self.assertEqual(ttl, {"attribute_name": "expires_at", "enabled": True})
        self.assertIs(one(table["point_in_time_recovery"])["enabled"], True)

    def test_bucket_notifies_the_function_of_created_objects(self):
        notification = R["aws_s3_bucket_notification"]["input"]
        target = one(notification["lambda_function"])
        self.assertEqual(target["events"], ["s3:ObjectCreated:*"])
        self.assertIn("aws_lambda_function.sluice.arn", target["lambda_function_arn"])
        permission = R["aws_lambda_permission"]["s3"]
        self.assertEqual(permission["principal"], "s3.amazonaws.com")
        self.assertIn("aws_s3_bucket.input.arn", permission["source_arn"])
        self.assertIn("source_account", permission)
        block = R["aws_s3_bucket_public_access_block"]["input"]
        for key in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
            self.assertIs(block[key], True, key)

    def test_backfill_results_do_not_trigger_the_function(self):
        prefix = default("input_prefix")
        results = MODULE["locals"]["backfill_results"]
        self.assertTrue(prefix and not results.startswith(prefix), (prefix, results))


class Iam(unittest.TestCase):
    def test_function_policy_is_least_privilege(self):
        s = statements(D["aws_iam_policy_document"]["function"])
        actions = sorted(a for st in s.values() for a in st["actions"])
        self.assertEqual(
            actions,
            sorted([
                "logs:CreateLogStream", "logs:PutLogEvents",
                "kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                "kinesis:GetShardIterator", "kinesis:ListShards",
                "s3:GetObject",
                "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "sqs:SendMessage",
            ]),
        )
        for sid, st in s.items():
            for resource in st["resources"]:
                self.assertNotEqual(resource, "*", sid)
                self.assertTrue(resource.startswith("${"), (sid, resource))
            for action in st["actions"]:
                self.assertNotIn("*", action, sid)
        self.assertEqual(s["ReadInputObjects"]["resources"], ["${aws_s3_bucket.input.arn}/*"])
        self.assertEqual(s["Failures"]["resources"], ["${aws_sqs_queue.failures.arn}"])

    def test_backfill_policy_is_least_privilege(self):
        s = statements(D["aws_iam_policy_document"]["backfill"])
        self.assertEqual(s["ListInput"]["actions"], ["s3:ListBucket"])
        self.assertEqual(s["ListInput"]["resources"], ["${aws_s3_bucket.input.arn}"])
        self.assertEqual(s["Invoke"]["actions"], ["lambda:InvokeFunction"])
        self.assertEqual(s["ChildExecutions"]["actions"], ["states:StartExecution"])
        self.assertIn("backfill_results", s["WriteResults"]["resources"][0])
        # Only log delivery, which has no resource-level permissions, uses "*".
        for sid, st in s.items():
            if "*" in st["resources"]:
                self.assertEqual(sid, "LogDelivery")
                self.assertTrue(all(a.startswith("logs:") for a in st["actions"]))
            for action in st["actions"]:
                self.assertNotIn("*", action, sid)

    def test_roles_trust_only_their_service(self):
        lam = one(D["aws_iam_policy_document"]["lambda_assume"]["statement"])
        self.assertEqual(one(lam["principals"])["identifiers"], ["lambda.amazonaws.com"])
        states = one(D["aws_iam_policy_document"]["states_assume"]["statement"])
        self.assertEqual(one(states["principals"])["identifiers"], ["states.amazonaws.com"])
        self.assertEqual(one(states["condition"])["variable"], "aws:SourceAccount")


class Alarms(unittest.TestCase):
    def alarm(self, name):
        return R["aws_cloudwatch_metric_alarm"][name]

    def test_iterator_age(self):
        a = self.alarm("iterator_age")
        self.assertEqual((a["namespace"], a["metric_name"], a["statistic"]), ("AWS/Lambda", "IteratorAge", "Maximum"))
        self.assertIn("aws_lambda_function.sluice.function_name", a["dimensions"]["FunctionName"])
        self.assertTrue(resolve(a["threshold"]) > 0)

    def test_errors(self):
        a = self.alarm("errors")
        self.assertEqual((a["namespace"], a["metric_name"], a["statistic"]), ("AWS/Lambda", "Errors", "Sum"))
        self.assertEqual(a["comparison_operator"], "GreaterThanThreshold")

    def test_alarms_notify(self):
        for name, a in R["aws_cloudwatch_metric_alarm"].items():
            self.assertEqual(a["alarm_actions"], ["${aws_sns_topic.alarms.arn}"], name)

    def test_pipeline_metrics_alarm_uses_the_emf_names(self):
        a = self.alarm("messages_errored")
        self.assertEqual((a["namespace"], a["metric_name"]), ("Sluice", "MessagesErrored"))
        self.assertIn("Function", a["dimensions"])


class Backfill(unittest.TestCase):
    def definition(self):
        with open(os.path.join(HERE, "backfill.asl.json.tftpl")) as f:
            text = f.read()
        values = {
            "bucket": "input-bucket",
            "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:sluice",
            "concurrency": default("backfill_concurrency"),
            "objects_per_invocation": default("backfill_objects_per_invocation"),
            "results_prefix": MODULE["locals"]["backfill_results"],
        }
        used = set(re.findall(r"\$\{(\w+)\}", text))
        self.assertEqual(used, set(values), "the template's variables")
        for k, v in values.items():
            text = text.replace("${%s}" % k, str(v))
        return json.loads(text)

    def test_distributed_map_with_a_concurrency_limit(self):
        d = self.definition()
        m = d["States"][d["StartAt"]]
        self.assertEqual(m["Type"], "Map")
        self.assertEqual(m["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED")
        self.assertEqual(m["MaxConcurrency"], 20)
        self.assertEqual(m["ItemReader"]["Resource"], "arn:aws:states:::s3:listObjectsV2")
        self.assertEqual(m["ItemReader"]["Parameters"]["Prefix.$"], "$.prefix")
        # The batch shape the S3 handler reads: BatchInput.bucket and Items[].Key.
        self.assertEqual(m["ItemBatcher"]["BatchInput"], {"bucket": "input-bucket"})
        task = m["ItemProcessor"]["States"][m["ItemProcessor"]["StartAt"]]
        self.assertEqual(task["Resource"], "arn:aws:states:::lambda:invoke")
        self.assertEqual(task["Parameters"]["Payload.$"], "$")
        retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
        self.assertIn("Sluice.RecordsFailed", retried)
        self.assertIn("Lambda.TooManyRequestsException", retried)
        self.assertEqual(m["ResultWriter"]["Parameters"]["Prefix"], "backfill-results")

    def test_state_machine_uses_the_template(self):
        sm = R["aws_sfn_state_machine"]["backfill"]
        self.assertIn("backfill.asl.json.tftpl", sm["definition"])
        self.assertIn("aws_iam_role.backfill.arn", sm["role_arn"])
        self.assertEqual(one(sm["logging_configuration"])["level"], "ERROR")


class Outputs(unittest.TestCase):
    def test_outputs_name_what_a_user_needs(self):
        for name in ("stream_name", "function_name", "input_bucket", "state_table", "failures_queue_url", "backfill_state_machine_arn", "alarm_topic_arn"):
            self.assertIn(name, MODULE["output"])


if __name__ == "__main__":
    sys.exit(unittest.main(verbosity=1))
