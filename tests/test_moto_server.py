"""The S3 emulator the tests and benchmarks run (``tools/moto_server.py``) serves as S3
does: connections kept alive between requests, no per-request cost S3 does not have."""

from __future__ import annotations

import http.client
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "moto_server.py"


@pytest.fixture(scope="module")
def moto_server() -> ModuleType:
    spec = importlib.util.spec_from_file_location("moto_server_tool", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


#: moto routes a request by its signature's credential scope (it checks no signature).
SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, "
    "SignedHeaders=host, Signature=0"
}


def _connect(endpoint: str) -> http.client.HTTPConnection:
    url = urlsplit(endpoint)
    assert url.hostname is not None
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def test_one_connection_serves_many_requests(s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    conn = _connect(endpoint)
    try:
        conn.request("PUT", f"/{bucket}/a", body=b"first object", headers=SIGNED)
        first = conn.getresponse()
        assert first.status == 200 and not first.will_close, first.getheaders()
        first.read()
        sock = conn.sock
        # A body announced with Expect: 100-continue, then a read: the same socket.
        conn.request(
            "PUT", f"/{bucket}/b", body=b"second", headers={**SIGNED, "Expect": "100-continue"}
        )
        second = conn.getresponse()
        assert second.status == 200 and not second.will_close
        second.read()
        conn.request("GET", f"/{bucket}/a", headers=SIGNED)
        got = conn.getresponse()
        assert got.status == 200 and got.read() == b"first object"
        conn.request("HEAD", f"/{bucket}/b", headers=SIGNED)
        head = conn.getresponse()
        assert head.status == 200 and head.getheader("Content-Length") == "6"
        assert head.read() == b""
        conn.request("DELETE", f"/{bucket}/b", headers=SIGNED)
        gone = conn.getresponse()
        assert gone.status == 204 and gone.read() == b""
        conn.request("GET", f"/{bucket}/b", headers=SIGNED)
        missing = conn.getresponse()
        assert missing.status == 404 and b"NoSuchKey" in missing.read()
        assert conn.sock is sock  # never reconnected
    finally:
        conn.close()


def test_the_service_of_a_host_is_found_once(
    moto_server: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str | None] = []

    def slow_lookup(self: Any, host: str | None) -> str | None:
        asked.append(host)
        return "s3" if host else None

    monkeypatch.setattr(
        moto_server.DomainDispatcherApplication, "get_backend_for_host", slow_lookup
    )
    dispatcher = moto_server.Dispatcher(lambda service: None)
    for _ in range(3):
        assert dispatcher.get_backend_for_host("s3.us-east-1.amazonaws.com") == "s3"
        assert dispatcher.get_backend_for_host(None) is None
    assert asked == ["s3.us-east-1.amazonaws.com", None]


def test_s3_requests_are_answered_by_moto_s_s3_handlers_without_flask(
    s3_bucket: tuple[str, str],
) -> None:
    """Each route of moto's S3 (key, bucket, the service) answers as moto's server does;
    no CORS headers (S3 sends them only for a bucket with a CORS configuration)."""
    endpoint, bucket = s3_bucket
    conn = _connect(endpoint)

    def ask(method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        conn.request(method, path, body=body, headers=SIGNED)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()

    try:
        status, headers, _ = ask("PUT", f"/{bucket}/dir/key", b"twelve bytes")
        assert status == 200 and headers["etag"]
        assert not any(k.startswith("access-control-") for k in headers)
        status, headers, body = ask("HEAD", f"/{bucket}/dir/key")
        assert status == 200 and headers["content-length"] == "12" and body == b""
        status, _, body = ask("GET", f"/{bucket}/missing")
        assert status == 404 and b"<Code>NoSuchKey</Code>" in body
        status, _, body = ask("GET", f"/{bucket}?list-type=2&prefix=dir/")
        assert status == 200 and b"<Key>dir/key</Key>" in body
        status, _, body = ask("GET", f"/{bucket}/")
        assert status == 200 and b"<Key>dir/key</Key>" in body
        status, _, body = ask("GET", "/")
        assert status == 200 and f"<Name>{bucket}</Name>".encode() in body
    finally:
        conn.close()
