output "log_url" {
  description = "What readers use: tlog loginfo --log <log_url> --vkey …"
  value       = "https://${aws_cloudfront_distribution.log.domain_name}/${var.prefix}"
}

output "log_location" {
  description = "What writers use: tlog init/sequence/submit --log <log_location>"
  value       = local.log_url
}

output "kms_key" {
  description = "The signing key for --key"
  value       = local.kms_key_arn == null ? null : "awskms://${local.kms_key_arn}"
}

output "timestamp_key_secret" {
  description = "Put the log's Ed25519 key file here (aws secretsmanager put-secret-value)"
  value       = aws_secretsmanager_secret.timestamp_key.arn
}

output "witness_key_secret" {
  value = one(aws_secretsmanager_secret.witness_key[*].arn)
}

output "image_repository" {
  description = "Push the image (terraform/Dockerfile) here, then set var.image to <repository>@<digest>"
  value       = aws_ecr_repository.tlog.repository_url
}

output "sequencer_policy_arn" {
  value = aws_iam_policy.sequencer.arn
}

output "submitter_policy_arn" {
  description = "Attach to the users or roles that run tlog submit / tlog status"
  value       = aws_iam_policy.submitter.arn
}

output "submitter_policy_json" {
  description = "The same policy as JSON, for another account's roles"
  value       = data.aws_iam_policy_document.submitter.json
}

output "api_url" {
  description = "The ALB's host name (point your DNS name with alb_certificate_arn at it)"
  value       = one(aws_lb.api[*].dns_name)
}

output "alarm_topic_arn" {
  value = aws_sns_topic.alarms.arn
}
