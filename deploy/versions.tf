# Sluice on AWS: a Kinesis stream consumed by the `sluice` Lambda function, S3 notifications
# and a Step Functions backfill through the same function, a DynamoDB table for stores, and the
# alarms that say when it falls behind. See docs/deploy.md.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
}
