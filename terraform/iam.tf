# Who may do what. tests/test_terraform.py derives the S3 and KMS actions from the boto3 calls
# in tlog/storage/s3.py and tlog/kms.py and checks these policies grant exactly those:
#   get_object      → s3:GetObject     (read, read-versioned, the If-None-Match 412 re-read)
#   put_object      → s3:PutObject     (create: If-None-Match: *, swap: If-Match, write)
#   delete_object   → s3:DeleteObject  (consumed queue items, staging bundles)
#   list_objects_v2 → s3:ListBucket    (the queue, staging bundles; and 404 rather than 403)
#   get_public_key  → kms:GetPublicKey, sign → kms:Sign
# No s3:*, no version-specific actions (the sequencer cannot destroy a version), no ACLs.

# -- the sequencer (the scheduled job, and the write server, which sequences) -------------

data "aws_iam_policy_document" "sequencer" {
  statement {
    sid       = "ReadAndWriteTheLog"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.log_arn}/*"]
  }
  # Deletes only what the protocol consumes; public objects are never deleted.
  statement {
    sid     = "DeleteConsumedQueueItemsAndStagingBundles"
    actions = ["s3:DeleteObject"]
    resources = [
      "${local.log_arn}/private/pending/*",
      "${local.log_arn}/private/staging/*",
    ]
  }
  statement {
    sid       = "ListTheLog"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.prefix}/*"]
    }
  }
  statement {
    sid       = "SignCheckpoints"
    actions   = ["kms:Sign", "kms:GetPublicKey"]
    resources = [local.kms_key_arn]
  }
}

resource "aws_iam_policy" "sequencer" {
  name        = "${local.name}-sequencer"
  description = "tlog sequence: read and write ${local.log_url}, sign with its KMS key"
  policy      = data.aws_iam_policy_document.sequencer.json
  lifecycle {
    precondition {
      condition     = local.kms_key_arn != null
      error_message = "With create_kms_key = false, give kms_key_arn (an ECC_NIST_P256 SIGN_VERIFY key)."
    }
  }
}

# -- submitters: write the queue, read it, the refusals and the public log -----------------

data "aws_iam_policy_document" "submitter" {
  statement {
    sid       = "Queue"
    actions   = ["s3:PutObject"]
    resources = ["${local.log_arn}/private/pending/*"]
  }
  statement {
    sid     = "ReadQueueAndRefusals"
    actions = ["s3:GetObject"]
    resources = [
      "${local.log_arn}/private/pending/*",
      "${local.log_arn}/private/refused/*",
    ]
  }
  statement {
    sid       = "ReadPublicLog"
    actions   = ["s3:GetObject"]
    resources = local.public_arns
  }
  statement {
    sid       = "ListQueueAndRefusals"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${var.prefix}/private/pending/*",
        "${var.prefix}/private/refused/*",
      ]
    }
  }
  # So that a missing public object is a 404, not a 403 (S3 checks this with the key as
  # s3:prefix); listing public names reveals nothing that is not public.
  statement {
    sid       = "ListPublicLog"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = local.public_list
    }
  }
}

resource "aws_iam_policy" "submitter" {
  name        = "${local.name}-submitter"
  description = "tlog submit / tlog status against ${local.log_url}"
  policy      = data.aws_iam_policy_document.submitter.json
}

# -- ECS: pulling the image, writing logs, reading the secrets -----------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "ECRLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # this action has no resource-level permissions
  }
  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [aws_ecr_repository.tlog.arn]
  }
  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for g in local.log_groups : "${g}:*"]
  }
  statement {
    sid       = "ReadKeysIntoTheTask"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = concat([aws_secretsmanager_secret.timestamp_key.arn], aws_secretsmanager_secret.witness_key[*].arn)
  }
  statement {
    sid       = "DecryptTheSecretsAndImage"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.ops.arn]
  }
}

resource "aws_iam_role" "execution" {
  name               = "${local.name}-ecs-execution"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "sequencer" {
  name               = "${local.name}-sequencer"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy_attachment" "sequencer" {
  role       = aws_iam_role.sequencer.name
  policy_arn = aws_iam_policy.sequencer.arn
}

# -- the witness: its own state only ------------------------------------------------------

data "aws_iam_policy_document" "witness" {
  statement {
    sid       = "WitnessState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.log.arn}/${var.witness_prefix}/*"]
  }
  statement {
    sid       = "ListWitnessState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.witness_prefix}/*"]
    }
  }
}

resource "aws_iam_role" "witness" {
  count              = var.enable_witness ? 1 : 0
  name               = "${local.name}-witness"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "witness" {
  count  = var.enable_witness ? 1 : 0
  name   = "witness-state"
  role   = aws_iam_role.witness[0].id
  policy = data.aws_iam_policy_document.witness.json
}

# -- the monitor: reads the public log over HTTPS; keeps its state dir under monitor/ -------

data "aws_iam_policy_document" "monitor" {
  statement {
    sid       = "MonitorState"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${aws_s3_bucket.log.arn}/monitor/*"]
  }
  statement {
    sid       = "ListMonitorState"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.log.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["monitor/*"]
    }
  }
}

resource "aws_iam_role" "monitor" {
  count              = var.enable_monitor ? 1 : 0
  name               = "${local.name}-monitor"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
}

resource "aws_iam_role_policy" "monitor" {
  count  = var.enable_monitor ? 1 : 0
  name   = "monitor-state"
  role   = aws_iam_role.monitor[0].id
  policy = data.aws_iam_policy_document.monitor.json
}

# -- EventBridge Scheduler: start the scheduled tasks --------------------------------------

data "aws_iam_policy_document" "scheduler_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "RunTheScheduledTasks"
    actions   = ["ecs:RunTask"]
    resources = [for f in local.scheduled_families : "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${f}:*"]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.tlog.arn]
    }
  }
  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = concat([aws_iam_role.execution.arn, aws_iam_role.sequencer.arn], aws_iam_role.monitor[*].arn)
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ReadTheEncryptedSchedule"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.ops.arn]
  }
}

resource "aws_iam_role" "scheduler" {
  name               = "${local.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.scheduler_assume.json
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "run-tasks"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
