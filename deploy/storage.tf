# Shared state for the pipeline's stores (caches, counters, first-seen sets): a DynamoDB table
# with the layout of the `dynamodb` store kind (partition key `pk`, TTL attribute `expires_at`).
resource "aws_dynamodb_table" "state" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS owned key (the default); a customer managed key can be set in server_side_encryption when required.
  name         = "${var.name}-state"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

# Where records that failed every retry land: Kinesis batches (on-failure destination of the
# event source mapping) and asynchronous invocations (S3 notifications). Each message says
# which records (shard, sequence numbers) or which event, and why.
resource "aws_sqs_queue" "failures" {
  name                      = "${var.name}-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

# The input bucket: objects created under input_prefix are processed as they arrive, and the
# backfill state machine processes any prefix of it on demand.
resource "aws_s3_bucket" "input" {
  #checkov:skip=CKV_AWS_18:Access logging needs a separate log bucket; CloudTrail data events are the usual audit for a log bucket like this one.
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice for the data owner, not something the pipeline needs.
  #checkov:skip=CKV_AWS_145:Encrypted with SSE-S3 (see aws_s3_bucket_server_side_encryption_configuration.input); SSE-KMS would add a KMS call per object read and key policy management.
  bucket_prefix = "${var.name}-input-"
}

resource "aws_s3_bucket_public_access_block" "input" {
  bucket                  = aws_s3_bucket.input.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "input" {
  bucket = aws_s3_bucket.input.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "input" {
  bucket = aws_s3_bucket.input.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "input" {
  bucket = aws_s3_bucket.input.id

  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = var.input_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_s3_bucket_notification" "input" {
  bucket = aws_s3_bucket.input.id

  lambda_function {
    lambda_function_arn = aws_lambda_function.sluice.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = var.input_prefix
  }

  depends_on = [aws_lambda_permission.s3]
}
