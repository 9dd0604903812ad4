# Optional services, each off by default, all from the same image (terraform/Dockerfile):
#   enable_server   `tlog server` (Rekor v2 write API, extra tlog[server]): an ECS service of
#                   server_count tasks behind the ALB at /api/v2/*; it sequences, so its tasks
#                   run with the sequencer's role; the lock's compare-and-swap keeps them correct.
#   enable_witness  `tlog witness serve --key K --policy P --state S` behind the ALB at
#                   /add-checkpoint; its state in this bucket under witness_prefix/ (CAS).
#   enable_monitor  `tlog monitor --log L --vkey V --config C --once` on a schedule, against the
#                   public CloudFront URL, its state kept under monitor/ in this bucket.

locals {
  alb_enabled  = var.enable_server || var.enable_witness
  service_port = 8080
  http_services = merge(
    var.enable_server ? { server = { path = ["/api/v2/*"], health = "/api/v2/checkpoint", priority = 10 } } : {},
    var.enable_witness ? { witness = { path = ["/add-checkpoint"], health = "/", priority = 20 } } : {},
  )
  task_role_arns = {
    server  = aws_iam_role.sequencer.arn
    witness = one(aws_iam_role.witness[*].arn)
  }
  service_secrets = {
    server  = [{ name = "TLOG_TIMESTAMP_KEY", valueFrom = aws_secretsmanager_secret.timestamp_key.arn }]
    witness = [for s in aws_secretsmanager_secret.witness_key : { name = "TLOG_WITNESS_KEY", valueFrom = s.arn }]
  }
  service_env = {
    server = local.common_env
    witness = concat(local.common_env, [
      { name = "TLOG_WITNESS_POLICY", value = var.witness_policy },
      { name = "TLOG_WITNESS_STATE", value = "s3://${var.bucket_name}/${var.witness_prefix}" },
    ])
  }
}

resource "aws_security_group" "alb" {
  count       = local.alb_enabled ? 1 : 0
  name        = "${local.name}-alb"
  description = "tlog ALB: HTTPS in from anyone, to the tasks"
  vpc_id      = local.vpc_id
  ingress {
    description = "HTTPS from Sigstore clients and logs asking for cosignatures"
    from_port   = 443
    to_port     = 443
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
  egress {
    description     = "To the server and witness tasks"
    from_port       = local.service_port
    to_port         = local.service_port
    protocol        = "tcp"
    security_groups = [aws_security_group.tasks.id]
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  count                        = local.alb_enabled ? 1 : 0
  description                  = "The ALB reaches the server and witness tasks"
  security_group_id            = aws_security_group.tasks.id
  referenced_security_group_id = aws_security_group.alb[0].id
  from_port                    = local.service_port
  to_port                      = local.service_port
  ip_protocol                  = "tcp"
}

resource "aws_lb" "api" {
  #checkov:skip=CKV2_AWS_28:No WAF in front of the write API: every request is admitted by signature verification and size bounds, and the server pushes back with 503 when its pool is full; add a WAF with rate rules if abuse appears.
  #checkov:skip=CKV2_AWS_76:Log4j rules belong to the WAF this ALB does not use (see CKV2_AWS_28); nothing behind it runs Java.
  count                      = local.alb_enabled ? 1 : 0
  name                       = substr("${local.name}-api", 0, 32)
  load_balancer_type         = "application"
  security_groups            = [aws_security_group.alb[0].id]
  subnets                    = local.subnet_ids
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  access_logs {
    bucket  = aws_s3_bucket.access_logs.id
    prefix  = "alb"
    enabled = true
  }
  depends_on = [aws_s3_bucket_policy.access_logs]
}

resource "aws_lb_listener" "https" {
  count             = local.alb_enabled ? 1 : 0
  load_balancer_arn = aws_lb.api[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.alb_certificate_arn
  default_action {
    type = "fixed-response"
    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }
  lifecycle {
    precondition {
      condition     = var.alb_certificate_arn != null
      error_message = "The write server and the witness need alb_certificate_arn (an ACM certificate in this region)."
    }
  }
}

resource "aws_lb_target_group" "service" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; from there to the task is plain HTTP inside the VPC, restricted by security group to the ALB (the tasks hold no certificate).
  for_each    = local.http_services
  name        = substr("${local.name}-${each.key}", 0, 32)
  port        = local.service_port
  protocol    = "HTTP"
  target_type = "ip"
  vpc_id      = local.vpc_id
  health_check {
    path    = each.value.health
    matcher = each.key == "server" ? "200-399" : "200-499"
  }
  # SIGTERM drains the server's pool: give pooled requests time to be logged and answered.
  deregistration_delay = 60
}

resource "aws_lb_listener_rule" "service" {
  for_each     = local.http_services
  listener_arn = aws_lb_listener.https[0].arn
  priority     = each.value.priority
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.service[each.key].arn
  }
  condition {
    path_pattern { values = each.value.path }
  }
}

resource "aws_ecs_task_definition" "service" {
  for_each                 = var.image == null ? {} : local.http_services
  family                   = "${local.name}-${each.key}"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_cpu
  memory                   = var.task_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = local.task_role_arns[each.key]
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume { name = "run" }
  container_definitions = jsonencode([{
    name                   = each.key
    image                  = var.image
    essential              = true
    command                = [each.key]
    readonlyRootFilesystem = true
    stopTimeout            = 120
    portMappings           = [{ containerPort = local.service_port, protocol = "tcp" }]
    environment            = local.service_env[each.key]
    secrets                = local.service_secrets[each.key]
    mountPoints            = [local.run_volume]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.tasks[each.key].name
        awslogs-region        = local.region
        awslogs-stream-prefix = each.key
      }
    }
  }])
}

resource "aws_ecs_service" "service" {
  #checkov:skip=CKV_AWS_333:A public IP only when assign_public_ip is true (the default VPC has no NAT); the tasks accept connections only from the ALB's security group. Set assign_public_ip = false with private subnets.
  for_each         = var.image == null ? {} : local.http_services
  name             = each.key
  cluster          = aws_ecs_cluster.tlog.id
  task_definition  = aws_ecs_task_definition.service[each.key].arn
  desired_count    = each.key == "server" ? var.server_count : 1
  launch_type      = "FARGATE"
  platform_version = "LATEST"
  network_configuration {
    subnets          = local.subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = var.assign_public_ip
  }
  load_balancer {
    target_group_arn = aws_lb_target_group.service[each.key].arn
    container_name   = each.key
    container_port   = local.service_port
  }
  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }
  depends_on = [aws_lb_listener_rule.service]
}

# -- the monitor -------------------------------------------------------------------------

resource "aws_ecs_task_definition" "monitor" {
  count                    = var.enable_monitor && var.image != null ? 1 : 0
  family                   = "${local.name}-monitor"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.monitor[0].arn
  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }
  volume { name = "run" }
  container_definitions = jsonencode([{
    name                   = "monitor"
    image                  = var.image
    essential              = true
    command                = ["monitor"]
    readonlyRootFilesystem = true
    environment = concat(local.common_env, [
      { name = "TLOG_PUBLIC_URL", value = "https://${aws_cloudfront_distribution.log.domain_name}/${var.prefix}" },
      { name = "TLOG_VKEYS", value = var.log_vkeys },
      { name = "TLOG_MONITOR_CONFIG", value = var.monitor_config },
      { name = "TLOG_STATE", value = "s3://${var.bucket_name}/monitor" },
    ])
    mountPoints = [local.run_volume]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.tasks["monitor"].name
        awslogs-region        = local.region
        awslogs-stream-prefix = "monitor"
      }
    }
  }])
}

resource "aws_scheduler_schedule" "monitor" {
  count                        = var.enable_monitor && var.image != null ? 1 : 0
  name                         = "${local.name}-monitor"
  description                  = "tlog monitor --once every ${var.monitor_every_minutes} minutes"
  schedule_expression          = "rate(${var.monitor_every_minutes} ${var.monitor_every_minutes == 1 ? "minute" : "minutes"})"
  schedule_expression_timezone = "UTC"
  kms_key_arn                  = aws_kms_key.ops.arn
  flexible_time_window { mode = "OFF" }
  target {
    arn      = aws_ecs_cluster.tlog.arn
    role_arn = aws_iam_role.scheduler.arn
    retry_policy { maximum_retry_attempts = 0 }
    ecs_parameters {
      task_definition_arn = aws_ecs_task_definition.monitor[0].arn
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
