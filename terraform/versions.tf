# A tlog log on AWS, from an empty account to a public log (docs/operating.md):
#
#   storage.tf   the bucket (public objects via CloudFront only, private/ never), access logs
#   cdn.tf       CloudFront with origin access control, cache behaviours, CORS for GET
#   kms.tf       the checkpoint signing key (ECDSA P-256) and the key for logs, alarms, secrets
#   iam.tf       the sequencer's and the submitters' policies: what the protocol needs, no more
#   job.tf       the image repository, ECS cluster and the scheduled `tlog sequence --pending`
#   services.tf  optional: the Rekor v2 write server, a witness, a scheduled monitor
#   alarms.tf    a failed run, a growing queue, a silent schedule → SNS
#
# Checked offline in CI (tests/test_terraform.py, test_terraform_scan.py, test_image.py): every
# file parses, checkov passes, and each role's policy is exactly what the code calls.

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.70" }
  }
}

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  name       = var.bucket_name
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition
  log_url    = "s3://${var.bucket_name}/${var.prefix}"
  # The log's objects: every key the protocol uses lies under this ARN prefix.
  log_arn = "${aws_s3_bucket.log.arn}/${var.prefix}"
  # Public object names (docs/design.md section 2), relative to the prefix.
  public_paths = concat(var.head_paths, var.immutable_paths)
  public_arns  = [for p in local.public_paths : "${local.log_arn}/${p}"]
  public_list  = [for p in local.public_paths : "${var.prefix}/${p}"]
  kms_key_arn  = var.create_kms_key ? aws_kms_key.checkpoint[0].arn : var.kms_key_arn
}
