# -- the log -----------------------------------------------------------------------------

variable "bucket_name" {
  type        = string
  description = "Name of the bucket holding the log (also names every other resource)."
}

variable "prefix" {
  type        = string
  default     = "log"
  description = "Log prefix inside the bucket (no leading or trailing slash)."
  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.prefix))
    error_message = "The prefix is one or more safe segments separated by '/', with no outer slash."
  }
}

variable "head_paths" {
  type        = list(string)
  default     = ["checkpoint"]
  description = "Public objects replaced in place (the checkpoint; the search index's heads are immutable, index/heads/<size>): cached for head_ttl seconds."
}

variable "immutable_paths" {
  type        = list(string)
  default     = ["checkpoints/*", "tile/*", "index/heads/*", "index/segments/*"]
  description = "Public objects written once (history, covers, tiles, bundles; immutable index objects): cached for a year. With head_paths, the only names CloudFront may read."
}

variable "head_ttl" {
  type        = number
  default     = 5
  description = "Seconds CloudFront serves a head object (checkpoint) before asking the bucket again."
}

variable "create_kms_key" {
  type        = bool
  default     = true
  description = "Create a KMS ECC_NIST_P256 key for checkpoint signatures (awskms://). If false, give kms_key_arn."
}

variable "kms_key_arn" {
  type        = string
  default     = null
  description = "An existing ECC_NIST_P256 SIGN_VERIFY key, when create_kms_key is false."
}

variable "noncurrent_days" {
  type        = number
  default     = 30
  description = "Days a superseded object version (an overwritten checkpoint, a deleted queue item) is kept."
}

variable "refused_days" {
  type        = number
  default     = 90
  description = "Days refused queue items (private/refused/, private/rejected/) are kept."
}

variable "staging_days" {
  type        = number
  default     = 30
  description = "Days after which a staging bundle left by a dead run expires (the next run deletes it anyway)."
}

variable "access_log_days" {
  type        = number
  default     = 365
  description = "Days S3, CloudFront and ALB access logs are kept."
}

# -- the CDN -----------------------------------------------------------------------------

variable "cdn_aliases" {
  type        = list(string)
  default     = []
  description = "Custom host names for the CDN (needs cdn_certificate_arn, a us-east-1 ACM certificate)."
}

variable "cdn_certificate_arn" {
  type        = string
  default     = null
  description = "ACM certificate (us-east-1) for cdn_aliases; without it the *.cloudfront.net certificate is used."
}

variable "cdn_price_class" {
  type        = string
  default     = "PriceClass_100"
  description = "CloudFront price class."
}

variable "cors_origins" {
  type        = list(string)
  default     = ["*"]
  description = "Origins allowed to GET the log from a browser (the log is public; '*' lets any page verify)."
}

# -- the scheduled sequencer ---------------------------------------------------------------

variable "image" {
  type        = string
  default     = null
  description = "The tlog image (terraform/Dockerfile), by digest: <repo>@sha256:…. Until set, nothing is scheduled."
  validation {
    condition     = var.image == null || can(regex("@sha256:[0-9a-f]{64}$", var.image))
    error_message = "Give the image by digest (<repository>@sha256:<64 hex digits>), so every task runs the same bytes."
  }
}

variable "sequencer_enabled" {
  type        = bool
  default     = true
  description = "Whether the schedule starts the sequencer (false: pause it, e.g. before freezing the log)."
}

variable "sequence_every_minutes" {
  type        = number
  default     = 5
  description = "Minutes between two runs of 'tlog sequence --pending'."
  validation {
    condition     = var.sequence_every_minutes >= 1 && floor(var.sequence_every_minutes) == var.sequence_every_minutes
    error_message = "A whole number of minutes, at least 1."
  }
}

variable "max_pending" {
  type        = number
  default     = 100000
  description = "Queue items one run takes (tlog sequence --max-pending)."
}

variable "task_cpu" {
  type        = number
  default     = 1024
  description = "Fargate CPU units of the sequencer task (1024 = 1 vCPU)."
}

variable "task_memory" {
  type        = number
  default     = 4096
  description = "Fargate memory (MiB) of the sequencer task."
}

variable "vpc_id" {
  type        = string
  default     = null
  description = "VPC for the tasks; null uses the account's default VPC."
}

variable "subnet_ids" {
  type        = list(string)
  default     = []
  description = "Subnets for the tasks (and the ALB); empty uses every subnet of the VPC."
}

variable "assign_public_ip" {
  type        = bool
  default     = true
  description = "Give tasks a public IP (needed in the default VPC, which has no NAT). Set false with private subnets and a NAT or VPC endpoints."
}

variable "log_retention_days" {
  type        = number
  default     = 365
  description = "Days the tasks' CloudWatch logs are kept."
}

# -- alarms ------------------------------------------------------------------------------

variable "queue_alarm_bound" {
  type        = number
  default     = 100000
  description = "Alarm when the queue (private/pending/) holds more items than this at the start of two runs in a row."
}

variable "alarm_email" {
  type        = string
  default     = null
  description = "E-mail address subscribed to the alarm topic (confirm the subscription mail)."
}

# -- optional services -------------------------------------------------------------------

variable "enable_server" {
  type        = bool
  default     = false
  description = "Run the Rekor v2 write server ('tlog server', extra tlog[server]) behind an ALB."
}

variable "server_count" {
  type        = number
  default     = 2
  description = "Write server tasks (more than one: the lock's compare-and-swap keeps them correct)."
}

variable "enable_witness" {
  type        = bool
  default     = false
  description = "Run a witness ('tlog witness serve') behind the ALB, its state in this bucket under witness_prefix."
}

variable "witness_prefix" {
  type        = string
  default     = "witness"
  description = "Where the witness keeps its state in the bucket (never public, outside the log's prefix)."
}

variable "witness_policy" {
  type        = string
  default     = ""
  description = "The witness's C2SP tlog-policy file (the logs it witnesses)."
}

variable "enable_monitor" {
  type        = bool
  default     = false
  description = "Run 'tlog monitor --once' on a schedule against the public log."
}

variable "monitor_every_minutes" {
  type        = number
  default     = 15
  description = "Minutes between two monitor runs."
}

variable "monitor_config" {
  type        = string
  default     = ""
  description = "The monitor's configuration (rekor-monitor YAML shape: monitoredValues …)."
}

variable "log_vkeys" {
  type        = string
  default     = ""
  description = "The log's vkeys (log.vkey, one per line), for the monitor."
}

variable "alb_certificate_arn" {
  type        = string
  default     = null
  description = "ACM certificate (in this region) for the ALB's HTTPS listener; required by the server and the witness."
}

variable "alb_deletion_protection" {
  type        = bool
  default     = true
  description = "Protect the ALB from deletion (turn off before 'terraform destroy')."
}
