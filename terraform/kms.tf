# Two keys. The checkpoint signing key (ECDSA P-256, asymmetric) never leaves KMS: the
# sequencer asks KMS to sign each checkpoint (kms:Sign) and reads its public key once per run
# (kms:GetPublicKey). The operations key encrypts the tasks' logs, the alarm topic, the
# timestamp-key secret and the image repository.

data "aws_iam_policy_document" "key_admin" {
  #checkov:skip=CKV_AWS_109:This is a KMS key policy, not an IAM policy: Resource "*" means the key itself, and the account-root statement is AWS's default key policy, delegating use to IAM (iam.tf grants it).
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: Resource "*" is the key the policy is attached to, administered by its own account only.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: Resource "*" is the key the policy is attached to; no other resource can be named.
  # The account administers its keys; who may use them is granted in iam.tf.
  statement {
    sid       = "AccountAdministers"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "checkpoint" {
  #checkov:skip=CKV_AWS_7:KMS cannot rotate asymmetric keys; the signing key is the log's identity, and a new key means a new log (docs/operating.md, Freezing and rotation).
  count                    = var.create_kms_key ? 1 : 0
  description              = "tlog checkpoint signing key (${var.prefix})"
  key_usage                = "SIGN_VERIFY"
  customer_master_key_spec = "ECC_NIST_P256"
  deletion_window_in_days  = 30
  policy                   = data.aws_iam_policy_document.key_admin.json
}

resource "aws_kms_alias" "checkpoint" {
  count         = var.create_kms_key ? 1 : 0
  name          = "alias/${local.name}-checkpoint"
  target_key_id = aws_kms_key.checkpoint[0].key_id
}

data "aws_iam_policy_document" "ops_key" {
  source_policy_documents = [data.aws_iam_policy_document.key_admin.json]
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/tlog/${local.name}/*"]
    }
  }
  statement {
    sid       = "AlarmsAndEventsPublishToTheEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com", "events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "ops" {
  description             = "tlog ${local.name}: logs, alarm topic, timestamp-key secret, images"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.ops_key.json
}

resource "aws_kms_alias" "ops" {
  name          = "alias/${local.name}-ops"
  target_key_id = aws_kms_key.ops.key_id
}

# The log's Ed25519 key (--timestamp-key): it signs every checkpoint's Ed25519 and
# cosignature/v1 lines. KMS has no Ed25519 signing, so the key file lives here, put by the
# operator (never through terraform, so it is not in the state):
#   aws secretsmanager put-secret-value --secret-id <timestamp_key_secret> --secret-string file://keys/ts.key
resource "aws_secretsmanager_secret" "timestamp_key" {
  #checkov:skip=CKV2_AWS_57:Not rotatable: this Ed25519 key is part of the log's identity (its vkey is in every verifier's trust root); replacing it means a new log (docs/operating.md, Freezing and rotation).
  name                    = "${local.name}/timestamp-key"
  description             = "tlog ${local.name}: the log's Ed25519 key file (tlog keygen), for --timestamp-key"
  kms_key_id              = aws_kms_key.ops.arn
  recovery_window_in_days = 30
}

resource "aws_secretsmanager_secret" "witness_key" {
  #checkov:skip=CKV2_AWS_57:Not rotatable: the witness's key is its identity in every log's witness policy; a new key is a new witness.
  count                   = var.enable_witness ? 1 : 0
  name                    = "${local.name}/witness-key"
  description             = "tlog ${local.name}: the witness's Ed25519 key file, for 'tlog witness serve --key'"
  kms_key_id              = aws_kms_key.ops.arn
  recovery_window_in_days = 30
}
