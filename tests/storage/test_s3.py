"""S3Store beyond the shared contract: headers, prefixes, endpoints, failures, 409s."""

from __future__ import annotations

import io
import socket
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from tlog import layout
from tlog.errors import (
    ConfigError,
    ConflictError,
    CorruptionError,
    MalformedError,
    OversizeError,
    StorageError,
)
from tlog.storage import s3
from tlog.storage.locate import open_store
from tlog.storage.s3 import S3Store

S3Bucket = tuple[str, str]


def _client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint)


def _all_keys(endpoint: str, bucket: str) -> list[str]:
    resp = _client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(obj["Key"] for obj in resp.get("Contents", []))


# -- headers and prefix ------------------------------------------------------------------


def test_every_put_sets_layout_headers(s3_bucket: S3Bucket) -> None:
    endpoint, bucket = s3_bucket
    store = S3Store.from_url(f"s3://{bucket}/log", endpoint_url=endpoint)
    keys = {
        "checkpoint": lambda k: store.write(k, b"cp"),
        "checkpoints/12": lambda k: store.create(k, b"cp12"),
        "tile/0/000": lambda k: store.create_many([(k, b"t"), ("tile/0/001", b"u")]),
        "tile/entries/000.p/3": lambda k: store.create(k, b"bundle"),
        "private/lock": lambda k: store.swap(k, b"lock", None),
        "private/pending/ab": lambda k: store.write(k, b"entry"),
    }
    for key, put in keys.items():
        put(key)
    _, version = store.read_versioned("private/lock", 100)
    store.swap("private/lock", b"lock 2", version)
    client = _client(endpoint)
    for key in [*keys, "tile/0/001"]:
        head = client.head_object(Bucket=bucket, Key=f"log/{key}")
        assert (head["ContentType"], head["CacheControl"]) == layout.headers(key), key


@pytest.mark.parametrize("prefix", ["", "logs/a", "deep/er/prefix"])
def test_prefix_is_honoured(s3_bucket: S3Bucket, prefix: str) -> None:
    endpoint, bucket = s3_bucket
    _client(endpoint).put_object(Bucket=bucket, Key="logs/ab/checkpoint", Body=b"neighbour")
    store = S3Store.from_url(f"s3://{bucket}/{prefix}/", endpoint_url=endpoint)
    store.write("checkpoint", b"mine")
    store.create("tile/0/000", b"tile")
    base = f"{prefix}/" if prefix else ""
    expected = {f"{base}checkpoint", f"{base}tile/0/000", "logs/ab/checkpoint"}
    assert set(_all_keys(endpoint, bucket)) == expected
    mine = ["checkpoint", "tile/0/000"]
    # With no prefix the whole bucket is the log, the neighbour's object included.
    assert store.list("") == (mine if prefix else sorted([*mine, "logs/ab/checkpoint"]))
    assert store.read("checkpoint", 100) == b"mine"
    for key in mine:
        store.delete(key)
    assert _all_keys(endpoint, bucket) == ["logs/ab/checkpoint"]


def test_neighbouring_prefixes_do_not_mix(s3_bucket: S3Bucket) -> None:
    endpoint, bucket = s3_bucket
    a = S3Store.from_url(f"s3://{bucket}/log", endpoint_url=endpoint)
    b = S3Store.from_url(f"s3://{bucket}/log2", endpoint_url=endpoint)
    a.create("tile/0/000", b"a")
    b.create("tile/0/000", b"b")
    assert a.list("") == b.list("") == ["tile/0/000"]
    assert (a.read("tile/0/000", 10), b.read("tile/0/000", 10)) == (b"a", b"b")


def test_invalid_object_names_under_the_prefix_are_not_listed(s3_bucket: S3Bucket) -> None:
    endpoint, bucket = s3_bucket
    client = _client(endpoint)
    for key in ("log/tile/0/000", "log/tile/../x", "log//double", "log/tile/0/.hidden"):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    store = S3Store.from_url(f"s3://{bucket}/log", endpoint_url=endpoint)
    assert store.list("") == ["tile/0/000"]


# -- endpoints and locations -------------------------------------------------------------


def test_endpoint_from_environment(s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint, bucket = s3_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    store = S3Store.from_url(f"s3://{bucket}/log")
    store.write("checkpoint", b"via env")
    # boto3 reads the same variable by itself.
    got = boto3.client("s3").get_object(Bucket=bucket, Key="log/checkpoint")["Body"].read()
    assert got == b"via env"
    via_locate = open_store(f"s3://{bucket}/log")
    assert via_locate.read("checkpoint", 100) == b"via env"


def test_explicit_endpoint_beats_environment(
    s3_bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, bucket = s3_bucket
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    store = open_store(f"s3://{bucket}/log", endpoint_url=endpoint)
    assert isinstance(store, S3Store)
    store.write("checkpoint", b"explicit")
    assert store.read("checkpoint", 100) == b"explicit"


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("s3://b1", "b1", ""),
        ("s3://b1/", "b1", ""),
        ("s3://b1/a/b/", "b1", "a/b"),
        ("s3://my.bucket-1/log", "my.bucket-1", "log"),
    ],
)
def test_from_url_parses(url: str, bucket: str, prefix: str) -> None:
    store = S3Store.from_url(url, endpoint_url="http://127.0.0.1:9")
    assert (store.bucket, store.prefix) == (bucket, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "s3://",
        "s3:///prefix",
        "s3://b/../x",
        "s3://b/a/../../x",
        "s3://b/a//c",
        "s3://b/./x",
        "s3://b/x?versionId=1",
        "s3://b/x#frag",
        "s3://bad:bucket/x",
        "s3://user@bucket/x",
        "s3://-b/x",
    ],
)
def test_from_url_refuses(url: str) -> None:
    with pytest.raises(ConfigError):
        open_store(url, endpoint_url="http://127.0.0.1:9")


# -- failures ----------------------------------------------------------------------------


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_unreachable_endpoint_is_storage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    default = S3Store.from_url("s3://nobucket/log", endpoint_url=endpoint)
    retries = default._client.meta.config.retries
    assert retries == {"mode": "standard", "total_max_attempts": s3.MAX_ATTEMPTS}
    # Two attempts keep the test fast; the default (five) takes up to ~15 s of backoff.
    store = S3Store.from_url("s3://nobucket/log", endpoint_url=endpoint, max_attempts=2)
    for call in (
        lambda: store.read("checkpoint", 100),
        lambda: store.create("tile/0/000", b"x"),
        lambda: store.swap("private/lock", b"x", None),
        lambda: store.list("tile/"),
    ):
        started = time.monotonic()
        with pytest.raises(StorageError) as err:
            call()
        assert time.monotonic() - started < 10
        message = str(err.value)
        assert "s3://nobucket/log/" in message and endpoint in message and "\n" not in message


def test_bad_keys_fail_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    store = S3Store.from_url("s3://nobucket/log", endpoint_url=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(MalformedError):
        store.read("../checkpoint", 100)
    with pytest.raises(MalformedError):
        store.create_many([("tile/0/000", b"x"), ("/abs", b"x")])


def test_missing_bucket_is_storage_error(s3_bucket: S3Bucket) -> None:
    endpoint, _ = s3_bucket
    missing = f"tlog-missing-{uuid.uuid4().hex[:12]}"
    store = S3Store.from_url(f"s3://{missing}/log", endpoint_url=endpoint)
    for call in (
        lambda: store.read("checkpoint", 100),
        lambda: store.write("checkpoint", b"x"),
        lambda: store.create("tile/0/000", b"x"),
        lambda: store.swap("private/lock", b"x", None),
        lambda: store.delete("checkpoint"),
        lambda: store.list(""),
    ):
        with pytest.raises(StorageError, match=f"{missing}.*does not exist"):
            call()


def test_access_denied_names_the_object(s3_bucket: S3Bucket) -> None:
    endpoint, bucket = s3_bucket
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    stub = Stubber(client)
    stub.add_client_error("put_object", "AccessDenied", "Access Denied", 403)
    with stub, pytest.raises(StorageError, match=f"s3://{bucket}/log/checkpoint: access denied"):
        S3Store(bucket, "log", client).write("checkpoint", b"x")


# -- conditional-write conflicts (stubbed: no emulator answers 409) ----------------------


def _stubbed(sleeps: list[float] | None = None) -> tuple[S3Store, Stubber]:
    """A store on a stubbed client; backoff sleeps are recorded in ``sleeps``, not slept."""
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    record = sleeps if sleeps is not None else []
    return S3Store("bucket", "log", client, sleep=record.append), Stubber(client)


def _conflict(stub: Stubber) -> None:
    stub.add_client_error("put_object", "ConditionalRequestConflict", "in flight", 409)


def test_create_retries_409_after_a_jittered_exponential_backoff() -> None:
    sleeps: list[float] = []
    store, stub = _stubbed(sleeps)
    _conflict(stub)
    _conflict(stub)
    stub.add_response("put_object", {"ETag": '"e"'})
    with stub:
        store.create("tile/0/000", b"x")
    stub.assert_no_pending_responses()
    assert len(sleeps) == 2
    assert all(0 <= s <= s3.BACKOFF_BASE * 2**n for n, s in enumerate(sleeps))


def test_create_file_retries_409_with_the_whole_file() -> None:
    """Each PUT of a streamed create starts at the file's first byte: a retry after a
    409 must not send what is left after the first attempt read it (nothing)."""
    store, stub = _stubbed()
    starts: list[int] = []

    def upload(params: dict[str, Any], **_: Any) -> None:
        starts.append(params["Body"].tell())
        params["Body"].read()  # as sending it would

    store._client.meta.events.register("provide-client-params.s3.PutObject", upload)
    _conflict(stub)
    stub.add_response("put_object", {"ETag": '"e"'})
    with stub:
        store.create_file("index/segments/" + "ab" * 32, io.BytesIO(b"x" * 5000))
    stub.assert_no_pending_responses()
    assert starts == [0, 0]


def test_create_gives_up_after_bounded_409s() -> None:
    sleeps: list[float] = []
    store, stub = _stubbed(sleeps)
    for _ in range(s3.CONFLICT_ATTEMPTS):
        _conflict(stub)
    with stub, pytest.raises(StorageError, match="tile/0/000"):
        store.create("tile/0/000", b"x")
    assert len(sleeps) == s3.CONFLICT_ATTEMPTS - 1  # no wait after the last attempt


def test_create_412_compares_bytes() -> None:
    store, stub = _stubbed()
    stub.add_client_error("put_object", "PreconditionFailed", "exists", 412)
    stub.add_response("get_object", {"Body": _body(b"old"), "ContentLength": 3, "ETag": '"e"'})
    stub.add_client_error("put_object", "PreconditionFailed", "exists", 412)
    stub.add_response("get_object", {"Body": _body(b"new"), "ContentLength": 3, "ETag": '"e"'})
    with stub:
        with pytest.raises(CorruptionError):
            store.create("tile/0/000", b"new")
        store.create("tile/0/000", b"new")


def test_swap_409_then_412_is_conflict() -> None:
    sleeps: list[float] = []
    store, stub = _stubbed(sleeps)
    _conflict(stub)
    stub.add_client_error("put_object", "PreconditionFailed", "changed", 412)
    with stub, pytest.raises(ConflictError):
        store.swap("private/lock", b"x", '"etag"')
    assert len(sleeps) == 1


class _CountingBody(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.served = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.served += len(chunk)
        return chunk


def _body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def test_read_never_takes_more_than_limit_plus_one() -> None:
    store, stub = _stubbed()
    raw = _CountingBody(bytes(10_000_000))
    # No Content-Length (as with some proxies): the body itself must be cut off.
    stub.add_response("get_object", {"Body": StreamingBody(raw, None), "ETag": '"e"'})
    stub.add_response("get_object", {"Body": _body(bytes(100)), "ContentLength": 100})
    with stub:
        with pytest.raises(OversizeError):
            store.read("tile/entries/000", 1000)
        assert raw.served <= 1001
        with pytest.raises(OversizeError, match="100 bytes"):
            store.read("tile/entries/000", 99)


def test_list_follows_continuation_tokens_and_stops_on_a_repeated_one() -> None:
    store, stub = _stubbed()

    def page(keys: list[str], token: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"Contents": [{"Key": f"log/{k}"} for k in keys]}
        out["IsTruncated"] = token is not None
        if token is not None:
            out["NextContinuationToken"] = token
        return out

    prefix = {"Bucket": "bucket", "Prefix": "log/private/staging/"}
    stub.add_response("list_objects_v2", page(["private/staging/2-b"], "t1"), prefix)
    stub.add_response(
        "list_objects_v2",
        page(["private/staging/1-a", "private/staging/x/../y"], None),
        {**prefix, "ContinuationToken": "t1"},
    )
    with stub:
        assert store.list("private/staging/") == ["private/staging/1-a", "private/staging/2-b"]
    stub.assert_no_pending_responses()
    stub.add_response("list_objects_v2", page([], "t1"), prefix)
    stub.add_response("list_objects_v2", page([], "t1"), {**prefix, "ContinuationToken": "t1"})
    with stub, pytest.raises(StorageError, match="repeats itself"):
        store.list("private/staging/")
