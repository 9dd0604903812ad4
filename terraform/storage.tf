# The log's bucket. Public objects are readable only by this distribution (origin access
# control); private/ (lock, staging, queue) by nobody but the roles of iam.tf.

resource "aws_s3_bucket" "log" {
  #checkov:skip=CKV_AWS_144:Cross-region replication is a backup choice left to the operator (docs/operating.md, Backups): versioning keeps every overwritten or deleted object, and any reader can mirror the public log and verify the copy with 'tlog audit'.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES-256), not SSE-KMS: every object under a public name is served to the world, so KMS would protect nothing from readers while putting a KMS request on every CloudFront origin fetch and a kms grant on every submitter.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications: the sequencer is scheduled (job.tf) and reads the queue by listing it.
  bucket = var.bucket_name
}

resource "aws_s3_bucket_public_access_block" "log" {
  bucket                  = aws_s3_bucket.log.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "log" {
  bucket = aws_s3_bucket.log.id
  rule { object_ownership = "BucketOwnerEnforced" }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "log" {
  bucket = aws_s3_bucket.log.id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}

resource "aws_s3_bucket_versioning" "log" {
  bucket = aws_s3_bucket.log.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_logging" "log" {
  bucket        = aws_s3_bucket.log.id
  target_bucket = aws_s3_bucket.access_logs.id
  target_prefix = "s3/${var.bucket_name}/"
}

# Staging bundles left by dead runs and refused submissions expire; superseded versions
# (each batch overwrites checkpoint and private/lock; consumed queue items are deleted)
# expire after noncurrent_days. Public objects are never expired: the log only grows.
resource "aws_s3_bucket_lifecycle_configuration" "log" {
  bucket     = aws_s3_bucket.log.id
  depends_on = [aws_s3_bucket_versioning.log]

  rule {
    id     = "expire-stale-staging"
    status = "Enabled"
    filter { prefix = "${var.prefix}/private/staging/" }
    expiration { days = var.staging_days }
  }

  rule {
    id     = "expire-refusals"
    status = "Enabled"
    filter { prefix = "${var.prefix}/private/refused/" }
    expiration { days = var.refused_days }
  }

  rule {
    id     = "expire-rejected-documents"
    status = "Enabled"
    filter { prefix = "${var.prefix}/private/rejected/" }
    expiration { days = var.refused_days }
  }

  rule {
    id     = "expire-superseded-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration { noncurrent_days = var.noncurrent_days }
    abort_incomplete_multipart_upload { days_after_initiation = 1 }
  }

  rule {
    id     = "remove-expired-delete-markers"
    status = "Enabled"
    filter {}
    expiration { expired_object_delete_marker = true }
  }
}

data "aws_iam_policy_document" "bucket" {
  # CloudFront may read the public names and nothing else: private/ is never served.
  statement {
    sid       = "PublicLogObjectsViaCloudFront"
    actions   = ["s3:GetObject"]
    resources = local.public_arns
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
  # So that a missing public object is a 404 (readers fall back from a gone partial tile
  # to the full one), not a 403. S3 checks this permission with the object's key as
  # s3:prefix; CloudFront forwards no query string, so no listing can be asked for.
  statement {
    sid       = "HonestNotFoundForPublicNames"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.log.arn]
    }
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.public_list
    }
  }
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.log.arn, "${aws_s3_bucket.log.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "log" {
  bucket     = aws_s3_bucket.log.id
  policy     = data.aws_iam_policy_document.bucket.json
  depends_on = [aws_s3_bucket_public_access_block.log]
}

# -- access logs: S3 server access logs, CloudFront standard logs, ALB logs ----------------

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging its own accesses into itself would loop.
  #checkov:skip=CKV_AWS_144:Access logs are operational records kept access_log_days; a second region adds cost, not safety for the log itself.
  #checkov:skip=CKV_AWS_145:ALB access logs can be delivered only to a bucket encrypted with SSE-S3 (AWS documentation), and this bucket takes them; SSE-S3 (AES-256) is on.
  #checkov:skip=CKV2_AWS_62:Nothing consumes notifications of new log files.
  bucket = "${var.bucket_name}-access-logs"
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket                  = aws_s3_bucket.access_logs.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  #checkov:skip=CKV2_AWS_65:CloudFront standard logging writes through the bucket ACL (awslogsdelivery), so ACLs must stay enabled on this bucket (AWS documentation); objects still go to the bucket owner.
  bucket = aws_s3_bucket.access_logs.id
  rule { object_ownership = "BucketOwnerPreferred" }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  rule {
    apply_server_side_encryption_by_default { sse_algorithm = "AES256" }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id
  versioning_configuration { status = "Enabled" }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  depends_on = [aws_s3_bucket_versioning.access_logs]
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration { days = var.access_log_days }
    noncurrent_version_expiration { noncurrent_days = 1 }
    abort_incomplete_multipart_upload { days_after_initiation = 1 }
  }
}

data "aws_iam_policy_document" "access_logs" {
  statement {
    sid       = "S3ServerAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/s3/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "ALBAccessLogs"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs.arn}/alb/AWSLogs/${local.account_id}/*"]
    principals {
      type        = "AWS"
      identifiers = [data.aws_elb_service_account.current.arn]
    }
  }
  statement {
    sid       = "TLSOnly"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

data "aws_elb_service_account" "current" {}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket     = aws_s3_bucket.access_logs.id
  policy     = data.aws_iam_policy_document.access_logs.json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
