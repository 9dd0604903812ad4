"""The AWS deployment in ``terraform/`` is checked offline: it parses, and each role may do
what the code calls and nothing more (docs/operating.md; checkov: test_terraform_scan.py).

The S3 and KMS actions are derived from the code: the boto3 calls ``tlog/storage/s3.py``
and ``tlog/kms.py`` make, and the ``Store`` methods the submitter's functions in
``tlog/queue.py`` call. The public names come from ``tlog/layout.py``. The parser and
checkov come with the ``test`` extra (checkov brings ``hcl2``, its fork of python-hcl2).
"""

from __future__ import annotations

import ast
import fnmatch
import json
import re
from collections.abc import Iterator
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tlog import layout
from tlog.storage.folder import FolderStore

ROOT = Path(__file__).resolve().parents[1]
TF = ROOT / "terraform"
TF_FILES = sorted(TF.glob("*.tf"))

#: boto3 operation → the IAM action that authorises it.
S3_ACTIONS = {
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "put_object": "s3:PutObject",
    "delete_object": "s3:DeleteObject",
    "list_objects_v2": "s3:ListBucket",
}
KMS_ACTIONS = {"sign": "kms:Sign", "get_public_key": "kms:GetPublicKey"}
#: Store method → the IAM actions it needs on S3 (see tlog/storage/s3.py: create re-reads
#: the object after a 412 to compare bytes).
STORE_ACTIONS = {
    "read": {"s3:GetObject"},
    "read_versioned": {"s3:GetObject"},
    "read_range": {"s3:GetObject"},
    "create": {"s3:PutObject", "s3:GetObject"},
    "create_file": {"s3:PutObject", "s3:GetObject"},
    "create_many": {"s3:PutObject", "s3:GetObject"},
    "write": {"s3:PutObject"},
    "swap": {"s3:PutObject"},
    "delete": {"s3:DeleteObject"},
    "list": {"s3:ListBucket"},
}
#: What a submitter runs: tlog submit and tlog status (tlog/queue.py).
SUBMITTER_FUNCTIONS = {
    "public_size",
    "queued_uuids",
    "submit",
    "status",
    "_find_name",
    "_refusal",
    "find_leaf",
    "_bundles_newest_first",
}

LOG = "${local.log_arn}"


# -- the code's calls ------------------------------------------------------------------------


def _calls(path: Path, receiver: str) -> set[str]:
    """Names of methods called on ``receiver`` (``self._client``, ``client``, ``store``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if ast.unparse(node.func.value) == receiver:
                out.add(node.func.attr)
            if node.func.attr == "get_paginator" and ast.unparse(node.func.value) == receiver:
                arg = node.args[0]
                assert isinstance(arg, ast.Constant)
                out.add(str(arg.value))
    return out - {"get_paginator", "meta"}


def s3_needed() -> set[str]:
    ops = _calls(ROOT / "tlog" / "storage" / "s3.py", "self._client")
    unknown = ops - S3_ACTIONS.keys()
    assert not unknown, f"map the new S3 calls {unknown} to IAM actions here and in iam.tf"
    return {S3_ACTIONS[op] for op in ops}


def kms_needed() -> set[str]:
    ops = _calls(ROOT / "tlog" / "kms.py", "client") | _calls(
        ROOT / "tlog" / "kms.py", "self._client"
    )
    unknown = ops - KMS_ACTIONS.keys()
    assert not unknown, f"map the new KMS calls {unknown} to IAM actions here and in iam.tf"
    return {KMS_ACTIONS[op] for op in ops}


def submitter_needed() -> set[str]:
    tree = ast.parse((ROOT / "tlog" / "queue.py").read_text())
    methods: set[str] = set()
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef) and fn.name in SUBMITTER_FUNCTIONS:
            methods |= _calls_in(fn, "store")
    return set().union(*(STORE_ACTIONS[m] for m in methods))


def _calls_in(fn: ast.AST, receiver: str) -> set[str]:
    return {
        n.func.attr
        for n in ast.walk(fn)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and ast.unparse(n.func.value) == receiver
    }


def test_the_store_table_covers_every_store_method() -> None:
    tree = ast.parse((ROOT / "tlog" / "storage" / "s3.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "S3Store")
    public = {
        f.name
        for f in cls.body
        if isinstance(f, ast.FunctionDef) and not f.name.startswith("_") and f.name != "from_url"
    }
    assert public == STORE_ACTIONS.keys()


def test_the_code_calls_what_the_policies_are_built_for() -> None:
    # If the storage adapter starts making another call, this fails before AWS does.
    assert s3_needed() == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assert kms_needed() == {"kms:Sign", "kms:GetPublicKey"}
    assert submitter_needed() == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}


# -- the parsed HCL --------------------------------------------------------------------------


def _hcl2() -> ModuleType:
    return pytest.importorskip("hcl2", reason="the test extra (checkov) brings hcl2")


def _v(value: Any) -> Any:
    """One attribute's value: checkov's hcl2 wraps each in a one-element list and keeps
    the escapes of quoted strings."""
    value = value[0] if isinstance(value, list) and len(value) == 1 else value
    return value.replace('\\"', '"') if isinstance(value, str) else value


def _expr(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _strs(value: Any) -> list[str]:
    v = _v(value)
    return [v] if isinstance(v, str) else list(v)


class Config:
    """Every block of terraform/*.tf, by kind, type and name."""

    def __init__(self) -> None:
        hcl2 = _hcl2()
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        self.data: dict[tuple[str, str], dict[str, Any]] = {}
        self.variables: dict[str, dict[str, Any]] = {}
        self.locals: dict[str, Any] = {}
        for path in TF_FILES:
            with path.open() as f:
                doc = hcl2.load(f)
            for kind, target in (("resource", self.resources), ("data", self.data)):
                for block in doc.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            target[(rtype, name)] = body
            for block in doc.get("variable", []):
                self.variables.update(block)
            for block in doc.get("locals", []):
                self.locals.update({k: _v(v) for k, v in block.items()})

    def policy(self, name: str) -> list[dict[str, Any]]:
        body = self.data[("aws_iam_policy_document", name)]
        return [_statement(s) for s in body["statement"]]

    def default(self, variable: str) -> Any:
        return _v(self.variables[variable]["default"])


def _statement(raw: dict[str, Any]) -> dict[str, Any]:
    return {
        "effect": _v(raw.get("effect", "Allow")),
        "actions": set(_strs(raw["actions"])),
        "resources": _strs(raw.get("resources", [])),
        "conditions": [
            (_v(c["test"]), _v(c["variable"]), _strs(c["values"])) for c in raw.get("condition", [])
        ],
        "principals": [(_v(p["type"]), _strs(p["identifiers"])) for p in raw.get("principals", [])],
    }


@pytest.fixture(scope="module")
def tf() -> Config:
    return Config()


def test_every_tf_file_parses() -> None:
    hcl2 = _hcl2()
    assert {p.name for p in TF_FILES} >= {
        "versions.tf",
        "variables.tf",
        "storage.tf",
        "cdn.tf",
        "kms.tf",
        "iam.tf",
        "job.tf",
        "services.tf",
        "alarms.tf",
        "outputs.tf",
    }
    for path in TF_FILES:
        with path.open() as f:
            assert hcl2.load(f), path


def _allowed(statements: list[dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for s in statements:
        if s["effect"] == "Allow":
            for action in s["actions"]:
                for resource in s["resources"]:
                    yield action, resource, s


def _prefixes(s: dict[str, Any]) -> list[str]:
    [(test, variable, values)] = s["conditions"]
    assert (test, variable) == ("StringLike", "s3:prefix")
    return values


def test_the_log_arn_is_the_prefix_of_the_bucket(tf: Config) -> None:
    assert tf.locals["log_arn"] == "${aws_s3_bucket.log.arn}/${var.prefix}"


def test_the_public_names_are_the_layouts(tf: Config) -> None:
    public = [*tf.default("head_paths"), *tf.default("immutable_paths")]
    assert public == [
        layout.CHECKPOINT,
        layout.HISTORY_PREFIX + "*",
        layout.TILE_PREFIX + "*",
        layout.INDEX_HISTORY_PREFIX + "*",
        layout.INDEX_SEGMENT_PREFIX + "*",
    ]
    # Each kind of public object the layout has matches a pattern; private ones none.
    samples = ["checkpoint", "checkpoints/7", "checkpoints/covers/0/000"]
    samples += ["tile/0/000", "tile/entries/000.p/3", "index/heads/7", "index/segments/ab"]
    for key in samples:
        assert layout.is_public(key) and any(fnmatch.fnmatch(key, p) for p in public), key
    for key in (layout.LOCK, layout.PENDING_PREFIX + "x", layout.STAGING_PREFIX + "x"):
        assert not any(fnmatch.fnmatch(key, p) for p in public), key
    assert not any(p.startswith("private") for p in public)
    assert _expr(tf.locals["public_paths"]) == "${concat(var.head_paths,var.immutable_paths)}"


def test_the_sequencer_may_do_what_the_protocol_calls_and_no_more(tf: Config) -> None:
    statements = tf.policy("sequencer")
    granted = {a for a, _, _ in _allowed(statements)}
    assert granted == s3_needed() | kms_needed()
    for action, resource, s in _allowed(statements):
        assert "*" not in action
        if action == "s3:ListBucket":
            assert resource == "${aws_s3_bucket.log.arn}"
            assert _prefixes(s) == ["${var.prefix}/*"]
        elif action.startswith("kms:"):
            assert resource == "${local.kms_key_arn}"
        elif action == "s3:DeleteObject":
            # Only what the protocol consumes: never a public object, the lock or refusals.
            assert resource in {
                f"{LOG}/{layout.PENDING_PREFIX}*",
                f"{LOG}/{layout.STAGING_PREFIX}*",
            }
        else:
            assert resource == f"{LOG}/*"


def test_submitters_write_only_the_queue(tf: Config) -> None:
    statements = tf.policy("submitter")
    assert {a for a, _, _ in _allowed(statements)} == submitter_needed()
    queue = [f"{LOG}/{layout.PENDING_PREFIX}*", f"{LOG}/{layout.REFUSED_PREFIX}*"]
    for action, resource, s in _allowed(statements):
        if action == "s3:PutObject":
            assert resource == f"{LOG}/{layout.PENDING_PREFIX}*"
        elif action == "s3:GetObject":
            assert resource in queue or resource == "${local.public_arns}", resource
        else:
            assert action == "s3:ListBucket" and resource == "${aws_s3_bucket.log.arn}"
            prefixes = _prefixes(s)
            assert prefixes == ["${local.public_list}"] or prefixes == [
                f"${{var.prefix}}/{layout.PENDING_PREFIX}*",
                f"${{var.prefix}}/{layout.REFUSED_PREFIX}*",
            ]
    # Nothing of the operator's: the lock, staging bundles, rejected documents.
    text = json.dumps(statements, default=sorted)
    for private in (layout.LOCK, layout.STAGING_PREFIX, layout.REJECTED_PREFIX):
        assert private not in text


def test_cloudfront_reads_only_public_names(tf: Config) -> None:
    statements = tf.policy("bucket")
    source = ("StringEquals", "AWS:SourceArn", ["${aws_cloudfront_distribution.log.arn}"])
    for action, resource, s in _allowed(statements):
        assert s["principals"] == [("Service", ["cloudfront.amazonaws.com"])]
        assert source in s["conditions"]
        if action == "s3:GetObject":
            assert resource == "${local.public_arns}"
        else:
            assert action == "s3:ListBucket" and resource == "${aws_s3_bucket.log.arn}"
    deny = [s for s in statements if s["effect"] == "Deny"]
    assert deny and deny[0]["conditions"] == [("Bool", "aws:SecureTransport", ["false"])]


def test_cloudfront_list_permission_is_limited_to_public_names(tf: Config) -> None:
    [s] = [s for s in tf.policy("bucket") if "s3:ListBucket" in s["actions"]]
    conditions = {(t, v): vals for t, v, vals in s["conditions"]}
    assert conditions[("StringLike", "s3:prefix")] == ["${local.public_list}"]
    assert tf.locals["public_list"] == '${[for p in local.public_paths : "${var.prefix}/${p}"]}'


def test_no_policy_grants_everything(tf: Config) -> None:
    for (rtype, name), body in tf.data.items():
        if rtype != "aws_iam_policy_document" or name in ("key_admin", "ops_key"):
            continue  # key policies: "*" there is the key itself
        for action, resource, _ in _allowed([_statement(x) for x in body["statement"]]):
            assert not action.endswith(":*"), (name, action)
            if resource == "*":
                assert action == "ecr:GetAuthorizationToken", (name, action)


def test_lifecycle_expires_staging_and_refusals_and_old_versions(tf: Config) -> None:
    body = tf.resources[("aws_s3_bucket_lifecycle_configuration", "log")]
    expiring = set()
    noncurrent = False
    for rule in body["rule"]:
        prefix = _v(_v(rule["filter"]).get("prefix", [""])) if rule.get("filter") else ""
        if "expiration" in rule and "days" in _v(rule["expiration"]):
            expiring.add(prefix)
        noncurrent = noncurrent or "noncurrent_version_expiration" in rule
    assert expiring == {
        f"${{var.prefix}}/{p}"
        for p in (layout.STAGING_PREFIX, layout.REFUSED_PREFIX, layout.REJECTED_PREFIX)
    }
    assert noncurrent
    versioning = tf.resources[("aws_s3_bucket_versioning", "log")]
    assert _v(_v(versioning["versioning_configuration"])["status"]) == "Enabled"


def test_cache_behaviours(tf: Config) -> None:
    heads = tf.resources[("aws_cloudfront_cache_policy", "heads")]
    immutable = tf.resources[("aws_cloudfront_cache_policy", "immutable")]
    assert _v(heads["max_ttl"]) == "${var.head_ttl}" and tf.default("head_ttl") <= 60
    assert _v(immutable["default_ttl"]) == _v(immutable["max_ttl"]) == 31536000
    dist = tf.resources[("aws_cloudfront_distribution", "log")]
    by_paths = {}
    for d in dist["dynamic"]:
        behaviour = d["ordered_cache_behavior"]
        by_paths[_v(behaviour["for_each"])] = _v(_v(behaviour["content"])["cache_policy_id"])
    assert by_paths == {
        "${var.head_paths}": "${aws_cloudfront_cache_policy.heads.id}",
        "${var.immutable_paths}": "${aws_cloudfront_cache_policy.immutable.id}",
    }
    cors = _v(tf.resources[("aws_cloudfront_response_headers_policy", "log")]["cors_config"])
    assert _strs(_v(cors["access_control_allow_methods"])["items"]) == ["GET", "HEAD"]


def test_the_job_runs_the_sequencer_on_a_schedule_with_logs_kept_and_encrypted(
    tf: Config,
) -> None:
    schedule = tf.resources[("aws_scheduler_schedule", "sequencer")]
    assert "var.sequence_every_minutes" in _v(schedule["schedule_expression"])
    task = tf.resources[("aws_ecs_task_definition", "sequencer")]
    assert _v(task["task_role_arn"]) == "${aws_iam_role.sequencer.arn}"
    assert 'command                = ["sequence"]' in (TF / "job.tf").read_text()
    logs = tf.resources[("aws_cloudwatch_log_group", "tasks")]
    assert _v(logs["retention_in_days"]) == "${var.log_retention_days}"
    assert _v(logs["kms_key_id"]) == "${aws_kms_key.ops.arn}"


def test_the_queue_metric_reads_the_line_the_entry_point_prints(
    tf: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tf.resources[("aws_cloudwatch_log_metric_filter", "queue_depth")]
    assert _v(body["pattern"]) == "{ $.queue_depth >= 0 }"
    assert _v(_v(body["metric_transformation"])["value"]) == "$.queue_depth"
    store = FolderStore(tmp_path)
    for name in ("00000000000000000001-aa", "00000000000000000002-bb"):
        store.create(layout.pending_key(name), b"{}")
    store.create(layout.refused_key("00000000000000000000-cc"), b"{}")
    entry().report_queue({"TLOG_LOG": str(tmp_path), "TLOG_MAX_PENDING": "5"})
    assert json.loads(capsys.readouterr().out) == {"queue_depth": 2, "max_pending": 5}


def test_the_error_metric_matches_the_clis_failure_line(
    tf: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    from tlog.cli.app import die

    body = tf.resources[("aws_cloudwatch_log_metric_filter", "errors")]
    assert _v(body["pattern"]) == '"tlog: error:"'
    with pytest.raises(SystemExit):
        die("cannot read s3://b/log/private/lock: access denied")
    assert capsys.readouterr().err.startswith("tlog: error: ")


def test_optional_services_are_off_by_default(tf: Config) -> None:
    for flag in ("enable_server", "enable_witness", "enable_monitor"):
        assert tf.default(flag) is False


def entry() -> Any:
    """terraform/entrypoint.py, loaded as a module."""
    spec = spec_from_file_location("tlog_entrypoint", TF / "entrypoint.py")
    assert spec and spec.loader
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
