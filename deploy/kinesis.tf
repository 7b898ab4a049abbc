# The stream producers write to. On-demand: shards follow the traffic, no capacity planning.
resource "aws_kinesis_stream" "events" {
  #checkov:skip=CKV_AWS_185:Encrypted with the AWS managed key (alias/aws/kinesis); a customer managed key adds key policy and per-request cost and can be set through encryption_type/kms_key_id when needed.
  name             = "${var.name}-events"
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"

  stream_mode_details {
    stream_mode = "ON_DEMAND"
  }
}

# Kinesis to the function. Failed records come back as batch item failures (the function
# reports the sequence numbers of the records that had a message on the error route), so a
# retry starts at the first failed record; a batch that keeps failing is split in two until
# the bad record is alone, and after the last attempt its records go to the failure queue.
resource "aws_lambda_event_source_mapping" "kinesis" {
  event_source_arn                   = aws_kinesis_stream.events.arn
  function_name                      = aws_lambda_function.sluice.arn
  starting_position                  = var.starting_position
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.batching_window_seconds
  parallelization_factor             = var.parallelization_factor
  bisect_batch_on_function_error     = true
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_seconds
  function_response_types            = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }
}
