# The scheduled job: EventBridge Scheduler starts a Fargate task every sequence_every_minutes;
# the task runs the image's entry point (terraform/entrypoint.py), which prints the queue depth
# and execs `tlog sequence --pending --log s3://… --key awskms://… --timestamp-key FILE`.
# Two runs that overlap are safe (the lock's compare-and-swap decides), only wasteful.

resource "aws_ecr_repository" "tlog" {
  name                 = local.name
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration { scan_on_push = true }
  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = aws_kms_key.ops.arn
  }
}

resource "aws_ecr_lifecycle_policy" "tlog" {
  repository = aws_ecr_repository.tlog.name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "keep the last 20 images"
      selection    = { tagStatus = "any", countType = "imageCountMoreThan", countNumber = 20 }
      action       = { type = "expire" }
    }]
  })
}

resource "aws_ecs_cluster" "tlog" {
  name = local.name
  setting {
    name  = "containerInsights"
    value = "enabled"
  }
  configuration {
    execute_command_configuration {
      kms_key_id = aws_kms_key.ops.arn
      logging    = "OVERRIDE"
      log_configuration {
        cloud_watch_encryption_enabled = true
        cloud_watch_log_group_name     = aws_cloudwatch_log_group.tasks["exec"].name
      }
    }
  }
}

locals {
  task_roles = concat(
    ["sequencer", "exec"],
    var.enable_server ? ["server"] : [],
    var.enable_witness ? ["witness"] : [],
    var.enable_monitor ? ["monitor"] : [],
  )
  log_groups = [for r in local.task_roles : aws_cloudwatch_log_group.tasks[r].arn]
  scheduled_families = concat(
    ["${local.name}-sequencer"],
    var.enable_monitor ? ["${local.name}-monitor"] : [],
  )
  # Environment every tlog task gets (entrypoint.py reads it).
  common_env = [
    { name = "TLOG_LOG", value = local.log_url },
    { name = "TLOG_KMS_KEY", value = coalesce(local.kms_key_arn, "unset") },
    { name = "TLOG_RUN_DIR", value = "/run/tlog" },
    { name = "AWS_REGION", value = local.region },
    { name = "AWS_DEFAULT_REGION", value = local.region },
  ]
  run_volume = { sourceVolume = "run", containerPath = "/run/tlog", readOnly = false }
}

resource "aws_cloudwatch_log_group" "tasks" {
  for_each          = toset(local.task_roles)
  name              = "/tlog/${local.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.ops.arn
}

# -- network: the default VPC unless told otherwise ----------------------------------------

data "aws_vpc" "default" {
  count   = var.vpc_id == null ? 1 : 0
  default = true
}

locals {
  vpc_id = var.vpc_id != null ? var.vpc_id : data.aws_vpc.default[0].id
}

data "aws_subnets" "tasks" {
  filter {
    name   = "vpc-id"
    values = [local.vpc_id]
  }
}

locals {
  subnet_ids = length(var.subnet_ids) > 0 ? var.subnet_ids : data.aws_subnets.tasks.ids
}

# The tasks only call out (S3, KMS, Secrets Manager, ECR, CloudWatch Logs: all HTTPS).
resource "aws_security_group" "tasks" {
  name        = "${local.name}-tasks"
  description = "tlog tasks: HTTPS out to AWS APIs; in only from the ALB (services.tf)"
  vpc_id      = local.vpc_id
  egress {
    description = "HTTPS to AWS APIs and, for the monitor and witness, to logs"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

# -- the sequencer task and its schedule --------------------------------------------------

resource "aws_ecs_task_definition" "sequencer" {
  count                    = var.image == null ? 0 : 1
  family                   = "${local.name}-sequencer"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.sequencer.arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume { name = "run" }
  container_definitions = jsonencode([{
    name                   = "sequencer"
    image                  = var.image
    essential              = true
    command                = ["sequence"]
    readonlyRootFilesystem = true
    stopTimeout            = 120 # SIGTERM after the commit: let the run finish publishing
    environment            = concat(local.common_env, [{ name = "TLOG_MAX_PENDING", value = tostring(var.max_pending) }])
    secrets                = [{ name = "TLOG_TIMESTAMP_KEY", valueFrom = aws_secretsmanager_secret.timestamp_key.arn }]
    mountPoints            = [local.run_volume]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.tasks["sequencer"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "sequencer"
      }
    }
  }])
}

resource "aws_scheduler_schedule" "sequencer" {
  count                        = var.image == null ? 0 : 1
  name                         = "${local.name}-sequencer"
  description                  = "tlog sequence --pending every ${var.sequence_every_minutes} minute(s)"
  state                        = var.sequencer_enabled ? "ENABLED" : "DISABLED"
  schedule_expression          = "rate(${var.sequence_every_minutes} ${var.sequence_every_minutes == 1 ? "minute" : "minutes"})"
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = aws_kms_key.ops.arn
  flexible_time_window { mode = "OFF" }
  target {
    arn      = aws_ecs_cluster.tlog.arn
    role_arn = aws_iam_role.scheduler.arn
    # The next run comes soon enough: no retries that could pile up behind a slow run.
    retry_policy { maximum_retry_attempts = 0 }
    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.sequencer[0].arn
      launch_type         = "FARGATE"
      platform_version    = "LATEST"
      task_count          = 1
      network_configuration {
        subnets          = local.subnet_ids
        security_groups  = [aws_security_group.tasks.id]
        assign_public_ip = var.assign_public_ip
      }
    }
  }
}
