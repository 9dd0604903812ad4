# A tlog log on AWS: one bucket (public objects served by CloudFront, private/ never),
# an optional KMS ECDSA P-256 signing key, and the IAM policy a sequencer job needs.
#
#   terraform init && terraform apply -var bucket_name=my-tlog -var prefix=log
#   tlog init --log s3://my-tlog/log --origin example.com/log --key awskms://<kms_key_arn> \
#     --timestamp-key ts.key
#
# Readers use the CloudFront URL: https://<distribution>/log/

terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.70" }
  }
}

variable "bucket_name" {
  type        = string
  description = "Name of the bucket holding the log."
}

variable "prefix" {
  type        = string
  default     = "log"
  description = "Log prefix inside the bucket (no leading or trailing slash)."
}

variable "create_kms_key" {
  type        = bool
  default     = true
  description = "Create a KMS ECC_NIST_P256 key for checkpoint signatures (awskms://)."
}

resource "aws_s3_bucket" "log" {
  bucket = var.bucket_name
}

resource "aws_s3_bucket_public_access_block" "log" {
  bucket                  = aws_s3_bucket.log.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "log" {
  bucket = aws_s3_bucket.log.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_lifecycle_configuration" "log" {
  bucket = aws_s3_bucket.log.id
  rule {
    id     = "expire-superseded-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration { noncurrent_days = 30 }
  }
}

resource "aws_cloudfront_origin_access_control" "log" {
  name                              = "${var.bucket_name}-oac"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_distribution" "log" {
  enabled = true
  comment = "tlog ${var.prefix}"

  origin {
    domain_name              = aws_s3_bucket.log.bucket_regional_domain_name
    origin_id                = "log"
    origin_access_control_id = aws_cloudfront_origin_access_control.log.id
  }

  default_cache_behavior {
    target_origin_id       = "log"
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    compress               = true
    # Honour the Cache-Control tlog writes: no-cache for checkpoint, immutable for tiles.
    cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6" # Managed-CachingOptimized
  }

  restrictions {
    geo_restriction { restriction_type = "none" }
  }

  viewer_certificate { cloudfront_default_certificate = true }
}

# CloudFront may read only the public objects of the log; private/ (lock, staging,
# queue) is never readable through it.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "PublicLogObjectsViaCloudFront"
    actions = ["s3:GetObject"]
    resources = [
      "${aws_s3_bucket.log.arn}/${var.prefix}/checkpoint",
      "${aws_s3_bucket.log.arn}/${var.prefix}/checkpoints/*",
      "${aws_s3_bucket.log.arn}/${var.prefix}/tile/*",
    ]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.log.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "log" {
  bucket = aws_s3_bucket.log.id
  policy = data.aws_iam_policy_document.bucket.json
}

resource "aws_kms_key" "checkpoint" {
  count                    = var.create_kms_key ? 1 : 0
  description              = "tlog checkpoint signing key (${var.prefix})"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
}

# Attach to the role that runs `tlog sequence` (e.g. a scheduled ECS task or Lambda).
data "aws_iam_policy_document" "sequencer" {
  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.log.arn}/${var.prefix}/*"]
  }
  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*"]
    }
  }
  dynamic "statement" {
    for_each = var.create_kms_key ? [1] : []
    content {
      actions   = ["kms:Sign", "kms:GetPublicKey"]
      resources = [aws_kms_key.checkpoint[0].arn]
    }
  }
}

resource "aws_iam_policy" "sequencer" {
  name   = "${var.bucket_name}-sequencer"
  policy = data.aws_iam_policy_document.sequencer.json
}

output "log_url" {
  value = "https://${aws_cloudfront_distribution.log.domain_name}/${var.prefix}/"
}

output "log_location" {
  value = "s3://${aws_s3_bucket.log.bucket}/${var.prefix}"
}

output "kms_key" {
  value = var.create_kms_key ? "awskms://${aws_kms_key.checkpoint[0].arn}" : null
}

output "sequencer_policy_arn" {
  value = aws_iam_policy.sequencer.arn
}
