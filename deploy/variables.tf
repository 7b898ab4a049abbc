variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "sluice"
}

variable "region" {
  description = "The AWS region."
  type        = string
  default     = "us-east-1"
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default     = { application = "sluice" }
}

variable "package_dir" {
  description = "The unpacked deployment package: `bootstrap` (from `cargo lambda build --release --arm64`) and `sluice.json` (from `sluice build`). deploy/package.sh fills it."
  type        = string
  default     = "build/package"
}

variable "memory_mb" {
  description = "Function memory; CPU grows with it (1769 MB is one full vCPU)."
  type        = number
  default     = 1024
}

variable "timeout_seconds" {
  description = "Function timeout: one batch (or one backfill batch of objects) must finish within it."
  type        = number
  default     = 120
}

variable "log_retention_days" {
  description = "How long the function's logs (errors, EMF metrics) are kept."
  type        = number
  default     = 30
}

variable "batch_size" {
  description = "Kinesis records per invocation (up to 10000)."
  type        = number
  default     = 500
}

variable "batching_window_seconds" {
  description = "How long the event source mapping gathers records before invoking (0 to 300)."
  type        = number
  default     = 5
}

variable "parallelization_factor" {
  description = "Concurrent invocations per shard (1 to 10); order is kept per partition key."
  type        = number
  default     = 2
}

variable "maximum_retry_attempts" {
  description = "Retries of a failing batch before its records go to the failure queue."
  type        = number
  default     = 5
}

variable "maximum_record_age_seconds" {
  description = "Records older than this are sent to the failure queue instead of processed (-1: never)."
  type        = number
  default     = 86400
}

variable "starting_position" {
  description = "Where a new event source mapping starts reading: LATEST or TRIM_HORIZON."
  type        = string
  default     = "LATEST"
}

variable "input_prefix" {
  description = "Objects created under this prefix of the input bucket are processed as they arrive."
  type        = string
  default     = "logs/"
}

variable "input_retention_days" {
  description = "How long objects stay in the input bucket."
  type        = number
  default     = 365
}

variable "backfill_concurrency" {
  description = "Most Lambda invocations the backfill runs at once."
  type        = number
  default     = 20
}

variable "backfill_objects_per_invocation" {
  description = "S3 objects handed to one invocation by the backfill."
  type        = number
  default     = 10
}

variable "iterator_age_alarm_ms" {
  description = "Alarm when the oldest unprocessed record is older than this."
  type        = number
  default     = 60000
}

variable "extra_policy_json" {
  description = "An IAM policy document (JSON) for what the pipeline's own sinks and lookups need, e.g. s3:PutObject on an output bucket. Empty for none."
  type        = string
  default     = ""
}
