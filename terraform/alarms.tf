# Alarms, all to one SNS topic:
#   sequencer-errors  a run printed "tlog: error: …" (the CLI's one-line failure)
#   queue-depth       the queue held more than queue_alarm_bound items at the start of two runs
#                     in a row; the entry point prints {"queue_depth": N} before each run
#   sequencer-silent  no run started (no queue-depth line) for three periods: the schedule,
#                     the image or the task's start is broken
#   task-failed       an ECS task stopped with a non-zero exit code or failed to start
#                     (EventBridge → SNS): an error, refused queue items (exit 1), a crash
#   monitor-findings  the monitor reported a finding (one JSON line with a "kind")

locals {
  metric_namespace = "tlog/${local.name}"
  period           = var.sequence_every_minutes * 60
}

resource "aws_sns_topic" "alarms" {
  name              = "${local.name}-alarms"
  kms_master_key_id = aws_kms_key.ops.arn
}

data "aws_iam_policy_document" "alarms_topic" {
  statement {
    sid       = "AlarmsAndEventsPublish"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.alarms.arn]
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

resource "aws_sns_topic_policy" "alarms" {
  arn    = aws_sns_topic.alarms.arn
  policy = data.aws_iam_policy_document.alarms_topic.json
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == null ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_log_metric_filter" "errors" {
  name           = "${local.name}-sequencer-errors"
  log_group_name = aws_cloudwatch_log_group.tasks["sequencer"].name
  pattern        = "\"tlog: error:\""
  metric_transformation {
    name          = "SequencerErrors"
    namespace     = local.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_log_metric_filter" "queue_depth" {
  name           = "${local.name}-queue-depth"
  log_group_name = aws_cloudwatch_log_group.tasks["sequencer"].name
  pattern        = "{ $.queue_depth >= 0 }"
  metric_transformation {
    name      = "QueueDepth"
    namespace = local.metric_namespace
    value     = "$.queue_depth"
  }
}

resource "aws_cloudwatch_metric_alarm" "errors" {
  alarm_name          = "${local.name}-sequencer-errors"
  alarm_description   = "A 'tlog sequence --pending' run failed: see the log group /tlog/${local.name}/sequencer."
  namespace           = local.metric_namespace
  metric_name         = "SequencerErrors"
  statistic           = "Sum"
  period              = local.period
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  alarm_name          = "${local.name}-queue-depth"
  alarm_description   = "The queue (private/pending/) is growing past ${var.queue_alarm_bound}: runs do not keep up (raise max_pending, task_cpu, or run more often)."
  namespace           = local.metric_namespace
  metric_name         = "QueueDepth"
  statistic           = "Maximum"
  period              = local.period
  evaluation_periods  = 2
  threshold           = var.queue_alarm_bound
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "silent" {
  count               = var.image != null && var.sequencer_enabled ? 1 : 0 # only while it is scheduled
  alarm_name          = "${local.name}-sequencer-silent"
  alarm_description   = "No sequencer run started for three periods: check the schedule, the image and the task's stopped reason."
  namespace           = local.metric_namespace
  metric_name         = "QueueDepth"
  statistic           = "SampleCount"
  period              = local.period
  evaluation_periods  = 3
  threshold           = 1
  comparison_operator = "LessThanThreshold"
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_event_rule" "task_failed" {
  name        = "${local.name}-task-failed"
  description = "A tlog task stopped with a non-zero exit code, or failed to start"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.tlog.arn]
      lastStatus = ["STOPPED"]
      "$or" = [
        { containers = { exitCode = [{ "anything-but" = 0 }] } },
        { stopCode = ["TaskFailedToStart"] },
      ]
    }
  })
}

resource "aws_cloudwatch_event_target" "task_failed" {
  rule = aws_cloudwatch_event_rule.task_failed.name
  arn  = aws_sns_topic.alarms.arn
  input_transformer {
    input_paths = {
      group  = "$.detail.group"
      reason = "$.detail.stoppedReason"
      code   = "$.detail.containers[0].exitCode"
      task   = "$.detail.taskArn"
    }
    input_template = "\"tlog task <group> stopped: exit <code>, <reason> (<task>)\""
  }
}

resource "aws_cloudwatch_log_metric_filter" "monitor_findings" {
  count          = var.enable_monitor ? 1 : 0
  name           = "${local.name}-monitor-findings"
  log_group_name = aws_cloudwatch_log_group.tasks["monitor"].name
  pattern        = "{ $.kind = * }"
  metric_transformation {
    name          = "MonitorFindings"
    namespace     = local.metric_namespace
    value         = "1"
    default_value = "0"
  }
}

resource "aws_cloudwatch_metric_alarm" "monitor_findings" {
  count               = var.enable_monitor ? 1 : 0
  alarm_name          = "${local.name}-monitor-findings"
  alarm_description   = "The monitor reported a finding (match, fork, rollback, split view, invalid entry, …): see /tlog/${local.name}/monitor."
  namespace           = local.metric_namespace
  metric_name         = "MonitorFindings"
  statistic           = "Sum"
  period              = var.monitor_every_minutes * 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
}
