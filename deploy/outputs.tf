output "stream_name" {
  description = "Producers write here."
  value       = aws_kinesis_stream.events.name
}

output "function_name" {
  value = aws_lambda_function.sluice.function_name
}

output "input_bucket" {
  description = "Objects created under input_prefix here are processed as they arrive."
  value       = aws_s3_bucket.input.id
}

output "state_table" {
  description = "For the config's `dynamodb` stores: {type: 'dynamodb', table: ...}."
  value       = aws_dynamodb_table.state.name
}

output "failures_queue_url" {
  value = aws_sqs_queue.failures.url
}

output "backfill_state_machine_arn" {
  value = aws_sfn_state_machine.backfill.arn
}

output "alarm_topic_arn" {
  description = "Subscribe to this topic to hear from the alarms."
  value       = aws_sns_topic.alarms.arn
}
