# CloudFront in front of the bucket, reading it through origin access control. Head objects
# (the checkpoint) are cached for head_ttl seconds; tiles, bundles, covers, checkpoints/ and
# immutable index objects for a year, as the Cache-Control tlog writes on them says.

resource "aws_cloudfront_origin_access_control" "log" {
  name                              = "${local.name}-oac"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_cache_policy" "heads" {
  name        = "${local.name}-heads"
  comment     = "tlog checkpoint and index heads: seconds"
  min_ttl     = var.head_ttl
  default_ttl = var.head_ttl
  max_ttl     = var.head_ttl
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config { cookie_behavior = "none" }
    headers_config { header_behavior = "none" }
    query_strings_config { query_string_behavior = "none" }
  }
}

resource "aws_cloudfront_cache_policy" "immutable" {
  name        = "${local.name}-immutable"
  comment     = "tlog tiles, bundles, covers, checkpoints/, immutable index objects: a year"
  min_ttl     = 86400
  default_ttl = 31536000
  max_ttl     = 31536000
  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true
    cookies_config { cookie_behavior = "none" }
    headers_config { header_behavior = "none" }
    query_strings_config { query_string_behavior = "none" }
  }
}

# CORS for GET, so that a page in a browser can fetch and verify the log itself.
resource "aws_cloudfront_response_headers_policy" "log" {
  name    = "${local.name}-cors"
  comment = "tlog: CORS for GET/HEAD and security headers"
  cors_config {
    access_control_allow_credentials = false
    origin_override                  = true
    access_control_max_age_sec       = 86400
    access_control_allow_headers { items = ["*"] }
    access_control_allow_methods { items = ["GET", "HEAD"] }
    access_control_allow_origins { items = var.cors_origins }
    access_control_expose_headers { items = ["ETag", "Content-Length"] }
  }
  security_headers_config {
    content_type_options { override = true }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      preload                    = true
      override                   = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
  }
}

resource "aws_cloudfront_distribution" "log" {
  #checkov:skip=CKV_AWS_68:No WAF: the distribution serves public, read-only, cacheable objects (GET/HEAD only, no query strings or cookies forwarded); its cost per request would exceed the log's.
  #checkov:skip=CKV2_AWS_47:Log4j rules are part of the WAF this read-only static distribution does not use (see CKV_AWS_68); nothing behind it runs Java or parses request headers.
  #checkov:skip=CKV_AWS_310:One origin on purpose: a failover origin would be a replica that may serve an older checkpoint; readers retry, and the CDN cache keeps serving immutable tiles.
  #checkov:skip=CKV_AWS_174:The *.cloudfront.net certificate fixes the minimum protocol; with cdn_certificate_arn set, TLSv1.2_2021 is used (viewer_certificate below).
  #checkov:skip=CKV2_AWS_42:A custom certificate needs a domain the operator owns: set cdn_aliases and cdn_certificate_arn; the default certificate serves the log until then.
  #checkov:skip=CKV_AWS_374:The log is public to the whole world by design; readers anywhere must be able to verify it.
  enabled             = true
  comment             = "tlog ${var.prefix}"
  aliases             = var.cdn_aliases
  price_class         = var.cdn_price_class
  http_version        = "http2and3"
  is_ipv6_enabled     = true
  default_root_object = "${var.prefix}/checkpoint"

  origin {
    domain_name              = aws_s3_bucket.log.bucket_regional_domain_name
    origin_id                = "log"
    origin_access_control_id = aws_cloudfront_origin_access_control.log.id
  }

  # Anything not named below: short-lived, so a new kind of object is never pinned for a year.
  default_cache_behavior {
    target_origin_id           = "log"
    viewer_protocol_policy     = "redirect-to-https"
    allowed_methods            = ["GET", "HEAD", "OPTIONS"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = aws_cloudfront_cache_policy.heads.id
    response_headers_policy_id = aws_cloudfront_response_headers_policy.log.id
  }

  dynamic "ordered_cache_behavior" {
    for_each = var.head_paths
    content {
      path_pattern               = "/${var.prefix}/${ordered_cache_behavior.value}"
      target_origin_id           = "log"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = aws_cloudfront_cache_policy.heads.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.log.id
    }
  }

  dynamic "ordered_cache_behavior" {
    for_each = var.immutable_paths
    content {
      path_pattern               = "/${var.prefix}/${ordered_cache_behavior.value}"
      target_origin_id           = "log"
      viewer_protocol_policy     = "redirect-to-https"
      allowed_methods            = ["GET", "HEAD", "OPTIONS"]
      cached_methods             = ["GET", "HEAD"]
      compress                   = true
      cache_policy_id            = aws_cloudfront_cache_policy.immutable.id
      response_headers_policy_id = aws_cloudfront_response_headers_policy.log.id
    }
  }

  # A missing object (a tile not yet written) is remembered only briefly.
  custom_error_response {
    error_code            = 404
    error_caching_min_ttl = var.head_ttl
  }
  custom_error_response {
    error_code            = 403
    error_caching_min_ttl = var.head_ttl
  }

  logging_config {
    bucket          = aws_s3_bucket.access_logs.bucket_domain_name
    prefix          = "cloudfront/"
    include_cookies = false
  }

  restrictions {
    geo_restriction { restriction_type = "none" }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.cdn_certificate_arn == null
    acm_certificate_arn            = var.cdn_certificate_arn
    ssl_support_method             = var.cdn_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.cdn_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }

  depends_on = [aws_s3_bucket_ownership_controls.access_logs]

  lifecycle {
    precondition {
      condition     = length(var.cdn_aliases) == 0 || var.cdn_certificate_arn != null
      error_message = "cdn_aliases need cdn_certificate_arn (an ACM certificate in us-east-1 covering them)."
    }
  }
}
