"""The botocore client behind the S3 store: set up for little CPU per request."""

from __future__ import annotations

from typing import Any

import botocore.loaders
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.endpoint_provider import RuleSet
from botocore.validate import ParamValidator

from tlog.storage.s3 import S3Store
from tlog.storage.s3client import EXPECT_CONTINUE_MIN, UNREAD_ENDPOINT_PARAMS


def _refs(node: Any) -> set[str]:
    """Every parameter a rule set reads (``{"ref": name}``)."""
    if isinstance(node, dict):
        found = {node["ref"]} if isinstance(node.get("ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_no_rule_of_s3_s_endpoint_rule_set_reads_the_parameters_the_cache_drops() -> None:
    loader = botocore.session.get_session().get_component("data_loader")
    ruleset = loader.load_service_model("s3", "endpoint-rule-set-1")
    read = _refs(ruleset["rules"])
    assert {"Bucket", "Region", "Endpoint", "ForcePathStyle"} <= read  # the walk works
    assert not read & set(UNREAD_ENDPOINT_PARAMS)


LAST_MODIFIED = "Tue, 01 Dec 2026 20:00:00 GMT"


class _Raw:
    """The body of a canned response."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Any:
        yield self.data

    def read(self, amt: int | None = None, **kwargs: Any) -> bytes:
        data, self.data = self.data, b""
        return data

    def close(self) -> None:
        pass


def _answer(request: Any, **kwargs: Any) -> AWSResponse:
    if "list-type=2" in request.url:
        body = b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
        return AWSResponse(request.url, 200, {"Content-Length": str(len(body))}, _Raw(body))
    if request.method != "GET":
        return AWSResponse(request.url, 200, {"ETag": '"e"', "Content-Length": "0"}, _Raw(b""))
    headers = {"ETag": '"e"', "Content-Length": "2", "Last-Modified": LAST_MODIFIED}
    return AWSResponse(request.url, 200, headers, _Raw(b"ok"))


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> S3Store:
    """A store whose requests get a canned 200 instead of going out."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = S3Store.from_url("s3://bucket/log", endpoint_url="http://127.0.0.1:9")
    store._client.meta.events.register("before-send.s3", _answer)
    return store


def test_one_endpoint_evaluation_serves_every_key(
    store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluated: list[dict[str, Any]] = []
    evaluate = RuleSet.evaluate

    def counting(self: RuleSet, params: dict[str, Any]) -> Any:
        evaluated.append(dict(params))
        return evaluate(self, params)

    monkeypatch.setattr(RuleSet, "evaluate", counting)
    for n in range(5):
        assert store.read(f"tile/0/{n:03d}", 10) == b"ok"
        store.create(f"tile/1/{n:03d}", b"ok")
    store.list("tile/")
    assert len(evaluated) == 1, evaluated


def test_requests_skip_what_tlog_does_not_use(
    store: S3Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No parameter validation, no timestamp parsing, checksums only where required."""
    validated: list[object] = []
    monkeypatch.setattr(ParamValidator, "validate", lambda *args: validated.append(args))
    config = store._client.meta.config
    for option in ("request_checksum_calculation", "response_checksum_validation"):
        assert getattr(config, option, "when_required") == "when_required"
    got = store._client.get_object(Bucket="bucket", Key="log/checkpoint")
    assert got["LastModified"] == LAST_MODIFIED  # as sent, not parsed
    store.create("tile/0/000", b"ok")
    assert not validated


def test_only_a_big_put_waits_for_100_continue(store: S3Store) -> None:
    """Waiting for S3's "100 Continue" costs a round trip: small PUTs do not wait."""
    expect: dict[int, object] = {}

    def record(request: Any, **kwargs: Any) -> None:
        expect[len(request.body.getvalue())] = request.headers.get("Expect")

    store._client.meta.events.register_first("before-send.s3", record)
    small, big = b"x" * 1000, b"x" * EXPECT_CONTINUE_MIN
    store.create("tile/entries/000", small)
    store.swap("private/lock", small, None)
    store.write("checkpoint", small)
    store.create("private/staging/1-ab", big)
    assert expect == {len(small): None, len(big): b"100-continue"}


def test_the_client_is_set_up_without_listing_every_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def scan(self: Any, type_name: str) -> list[str]:
        raise AssertionError("listed every service botocore ships")

    monkeypatch.setattr(botocore.loaders.Loader, "list_available_services", scan)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = S3Store.from_url("s3://bucket/log", endpoint_url="http://127.0.0.1:9")
    assert store._client.meta.service_model.service_name == "s3"
