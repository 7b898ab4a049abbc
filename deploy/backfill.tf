# Backfill: a Step Functions distributed map lists an S3 prefix of the input bucket and hands
# the objects, backfill_objects_per_invocation at a time, to the function, at most
# backfill_concurrency invocations at once. Start it with the prefix to read:
#
#   aws stepfunctions start-execution --state-machine-arn ARN --input '{"prefix": "logs/2026/11/"}'
#
# Each invocation gets {"BatchInput": {"bucket": ...}, "Items": [{"Key": ..., "Size": ...}, ...]}
# (the S3 handler reads that shape), and fails with Sluice.RecordsFailed when an object cannot be
# read or a line ends on the error route, so the batch is retried. The per-batch results go to
# backfill-results/ in the input bucket, outside input_prefix, so they trigger nothing.

locals {
  backfill_name    = "${var.name}-backfill"
  backfill_arn     = "arn:${local.partition}:states:${var.region}:${local.account}:stateMachine:${local.backfill_name}"
  backfill_results = "backfill-results"
}

resource "aws_cloudwatch_log_group" "backfill" {
  #checkov:skip=CKV_AWS_158:Execution logs hold state names and errors, not event data; the default CloudWatch Logs encryption applies.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_days), as for the function's logs.
  name              = "/aws/states/${local.backfill_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_sfn_state_machine" "backfill" {
  #checkov:skip=CKV_AWS_284:X-Ray adds cost per trace; execution history and the function's EMF metrics show where time goes.
  name     = local.backfill_name
  role_arn = aws_iam_role.backfill.arn
  type     = "STANDARD"

  logging_configuration {
    log_destination        = "${aws_cloudwatch_log_group.backfill.arn}:*"
    include_execution_data = true
    level                  = "ERROR"
  }

  # The Amazon States Language definition, kept as JSON so it reads (and is checked) as such.
  definition = templatefile("${path.module}/backfill.asl.json.tftpl", {
    bucket                 = aws_s3_bucket.input.id
    function_arn           = aws_lambda_function.sluice.arn
    concurrency            = var.backfill_concurrency
    objects_per_invocation = var.backfill_objects_per_invocation
    results_prefix         = local.backfill_results
  })
}
