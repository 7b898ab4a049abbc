# The function: the `sluice` binary as the custom runtime's `bootstrap`, and the pipeline's
# JSON config next to it. The pipeline is built once per execution environment, at cold start.
data "archive_file" "package" {
  type        = "zip"
  source_dir  = var.package_dir
  output_path = "${path.module}/build/sluice.zip"
}

resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_158:Logs hold error reasons and metrics, not event data; the default CloudWatch Logs encryption applies. Add kms_key_id for a customer managed key.
  #checkov:skip=CKV_AWS_338:Retention is a variable (log_retention_days); a year of operational logs is rarely wanted, the events themselves go to the pipeline's sinks.
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "sluice" {
  #checkov:skip=CKV_AWS_116:Asynchronous failures (S3 notifications) go to the failure queue through an on-failure destination (aws_lambda_function_event_invoke_config.async), which also records the error; a dead-letter queue would duplicate it.
  #checkov:skip=CKV_AWS_117:The function only calls AWS APIs; running it in a VPC would need NAT or endpoints for each and adds nothing here. Add vpc_config when the pipeline enriches from private hosts.
  #checkov:skip=CKV_AWS_173:The environment holds no secrets (config path and log level); secrets come from Secrets Manager at run time.
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile and a signed artifact pipeline, outside this module; the package hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_115:Concurrency is bounded by the sources (shards x parallelization_factor, backfill_concurrency); a reserved limit would take capacity from the account.
  #checkov:skip=CKV_AWS_50:X-Ray adds cost per trace; the function's own EMF metrics cover each transform's time.
  function_name    = var.name
  role             = aws_iam_role.function.arn
  runtime          = "provided.al2023"
  architectures    = ["arm64"]
  handler          = "bootstrap"
  filename         = data.archive_file.package.output_path
  source_code_hash = data.archive_file.package.output_base64sha256
  memory_size      = var.memory_mb
  timeout          = var.timeout_seconds

  environment {
    variables = {
      # In the package, next to bootstrap. s3://bucket/key or an http(s) URL (the AppConfig
      # agent's http://localhost:2772/...) work too.
      SLUICE_CONFIG = "sluice.json"
      # auto: the same function serves Kinesis batches, S3 notifications and the backfill.
      SLUICE_HANDLER = "auto"
      SLUICE_LOG     = "warn"
    }
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.function.name
  }

  depends_on = [aws_iam_role_policy.function]
}

# S3 notifications invoke asynchronously: two retries, then the failure queue.
resource "aws_lambda_function_event_invoke_config" "async" {
  function_name                = aws_lambda_function.sluice.function_name
  maximum_retry_attempts       = 2
  maximum_event_age_in_seconds = 21600

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failures.arn
    }
  }
}

resource "aws_lambda_permission" "s3" {
  statement_id   = "AllowS3Notifications"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.sluice.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.input.arn
  source_account = local.account
}
