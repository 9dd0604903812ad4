"""The Rekor v2 API of ``tlog server``, driven by sigstore-python's own client over HTTP.

One ECDSA log and one server (a real subprocess on 127.0.0.1) for the module; the
entries it returns are verified by sigstore-python's verification, with the trust
config ``tlog sigstore-config`` prints.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from sigstore._internal.rekor import RekorClientError
from sigstore._internal.rekor.client_v2 import RekorV2Client
from sigstore._internal.trust import KeyringPurpose
from sigstore.models import SigningConfig, TransparencyLogEntry, TrustedRoot
from sigstore_models.rekor.v1 import TransparencyLogEntry as Inner
from sigstore_models.trustroot import v1 as trustroot_v1

from tests.server.helpers import Log, Server, make_log, request, running, tlog
from tlog.client import open_log

FULCIO = {"url": "https://fulcio.example", "majorApiVersion": 1, "operator": "example"}


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> Log:
    return make_log(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def server(log: Log, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    err = tmp_path_factory.mktemp("api-server") / "stderr"
    with running(log, log.key, "--pool-wait", "30ms", "--workers", "0", stderr=err) as s:
        yield s


def trust(log: Log, url: str) -> tuple[TrustedRoot, SigningConfig]:
    """sigstore-python's TrustedRoot and SigningConfig from ``tlog sigstore-config``."""
    out = json.loads(tlog("sigstore-config", "--log", url, "--vkey", str(log.vkey)).stdout)
    root = trustroot_v1.TrustedRoot.from_json(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
                "tlogs": out["tlogs"],
                "certificateAuthorities": [],
                "ctlogs": [],
            }
        )
    )
    config = trustroot_v1.SigningConfig.from_json(
        json.dumps(
            {
                "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                "caUrls": [FULCIO],
                "rekorTlogUrls": out["rekorTlogUrls"],
                "rekorTlogConfig": {"selector": "ANY"},
            }
        )
    )
    return TrustedRoot(root), SigningConfig(config)


def post(server: Server, body: Any) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(f"{server.url}/api/v2/log/entries", data=data, timeout=60)


def test_sigstore_client_logs_entries_that_sigstore_verifies(log: Log, server: Server) -> None:
    root, config = trust(log, server.url)
    (client,) = config.get_tlogs()  # the trust config points sigstore at our server
    assert isinstance(client, RekorV2Client)
    with ThreadPoolExecutor(8) as pool:  # concurrent requests share batches
        entries = list(pool.map(lambda i: client.create_entry(request(i, "v")), range(16)))
    keyring = root.rekor_keyring(KeyringPurpose.VERIFY)
    for entry in entries:
        entry._verify(keyring)  # inclusion proof and signed checkpoint
        inner = entry._inner
        assert (inner.kind_version.kind, inner.kind_version.version) == ("hashedrekord", "0.0.2")
        assert inner.integrated_time == 0 and inner.inclusion_promise is None  # as Rekor v2
    assert len({e._inner.log_index for e in entries}) == 16
    # The bodies are the log's entries: read back through tlog's verifying client.
    reader = open_log(str(log.path), [str(log.vkey)], cache=False, state_dir=log.path.parent)
    for entry in entries:
        assert reader.entry(entry._inner.log_index) == entry._inner.canonicalized_body


def test_a_tampered_entry_fails_sigstore_verification(log: Log, server: Server) -> None:
    root, _ = trust(log, server.url)
    doc = post(server, request(1, "tamper")).json()
    doc["canonicalizedBody"] = base64.b64encode(b"{}").decode()
    entry = TransparencyLogEntry(Inner.from_json(json.dumps(doc)))
    with pytest.raises(Exception, match="inclusion"):
        entry._verify(root.rekor_keyring(KeyringPurpose.VERIFY))


def test_response_has_rekor_tiles_shape(server: Server) -> None:
    resp = post(server, request(2, "shape"))
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert list(doc) == [
        "logIndex",
        "logId",
        "kindVersion",
        "integratedTime",
        "inclusionPromise",
        "inclusionProof",
        "canonicalizedBody",
    ]
    proof = doc["inclusionProof"]
    assert proof["logIndex"] == doc["logIndex"] and isinstance(proof["treeSize"], str)
    assert proof["checkpoint"]["envelope"].split("\n")[1] == proof["treeSize"]


def test_a_resubmitted_entry_gets_409_with_its_index(server: Server) -> None:
    body = request(3, "dup")
    first = post(server, body)
    assert first.status_code == 201
    again = post(server, body)
    assert again.status_code == 409
    assert again.headers["x-log-index"] == first.json()["logIndex"]
    assert again.json()["code"] == 6
    assert "already exists" in again.json()["message"]
    with pytest.raises(RekorClientError):  # and sigstore's client reports an error
        RekorV2Client(server.url).create_entry(body)  # type: ignore[arg-type]


def test_duplicates_in_one_batch_get_one_entry(server: Server) -> None:
    body = request(4, "same-batch")
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: post(server, body), range(4)))
    created = [a for a in answers if a.status_code == 201]
    assert len(created) == 1
    index = created[0].json()["logIndex"]
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert {a.headers["x-log-index"] for a in answers if a.status_code == 409} == {index}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{", "not a JSON document"),
        (b"[]", "must be a JSON object"),
        (b'{"fooRequestV002": {}}', "not supported"),
    ],
)
def test_bad_requests_get_400_with_the_reason(server: Server, body: bytes, says: str) -> None:
    resp = post(server, body)
    assert resp.status_code == 400
    doc = resp.json()
    assert doc["code"] == 3 and says in doc["message"] and doc["details"] == []


def test_a_bad_signature_gets_400(server: Server) -> None:
    body = request(5, "badsig")
    sig = body["hashedRekordRequestV002"]["signature"]
    sig["content"] = base64.b64encode(b"\x30\x06\x02\x01\x01\x02\x01\x01").decode()
    assert post(server, body).status_code == 400


def test_a_body_over_4_mib_gets_413(server: Server) -> None:
    resp = post(server, b" " * (4 * 1024 * 1024 + 1))
    assert resp.status_code == 413
    chunked = requests.post(  # no Content-Length: cut while reading
        f"{server.url}/api/v2/log/entries",
        data=iter([b" " * (1 << 20)] * 5),
        timeout=60,
    )
    assert chunked.status_code == 413


def test_answers_carry_their_content_type_and_other_methods_get_405(server: Server) -> None:
    body = request(7, "types")
    logged = post(server, body)
    assert logged.status_code == 201
    assert logged.headers["content-type"] == "application/json"
    assert int(logged.headers["content-length"]) == len(logged.content)
    again = post(server, body)
    assert again.status_code == 409 and again.headers["x-log-index"] == logged.json()["logIndex"]
    for method in ("GET", "PUT"):
        url = f"{server.url}/api/v2/log/entries"
        assert requests.request(method, url, timeout=30).status_code == 405


def test_reads_serve_the_public_objects(log: Log, server: Server) -> None:
    post(server, request(6, "read"))
    resp = requests.get(f"{server.url}/api/v2/checkpoint", timeout=30)
    assert resp.status_code == 200
    assert resp.content == (log.path / "checkpoint").read_bytes()
    assert resp.headers["cache-control"] == "no-cache"
    tile = next(p for p in (log.path / "tile" / "0").rglob("*") if p.is_file())
    rel = tile.relative_to(log.path).as_posix()
    resp = requests.get(f"{server.url}/api/v2/{rel}", timeout=30)
    assert resp.status_code == 200 and resp.content == tile.read_bytes()
    assert "immutable" in resp.headers["cache-control"]
    bundle = next(p for p in (log.path / "tile" / "entries").rglob("*") if p.is_file())
    rel = bundle.relative_to(log.path).as_posix()
    assert requests.get(f"{server.url}/api/v2/{rel}", timeout=30).content == bundle.read_bytes()
    for path in ("tile/../private/lock", "tile/x/..%2F..%2Fprivate%2Flock", "tile/0/999"):
        assert requests.get(f"{server.url}/api/v2/{path}", timeout=30).status_code == 404


def test_reads_redirect_to_the_cdn(log: Log, tmp_path: Path) -> None:
    cdn = "https://cdn.example/log"
    with running(log, log.key, "--read-url", cdn, "--workers", "0", stderr=tmp_path / "e") as s:
        resp = requests.get(f"{s.url}/api/v2/tile/0/000", allow_redirects=False, timeout=30)
        assert resp.status_code == 302 and resp.headers["location"] == f"{cdn}/tile/0/000"
        resp = requests.get(f"{s.url}/api/v2/checkpoint", allow_redirects=False, timeout=30)
        assert resp.headers["location"] == f"{cdn}/checkpoint"


def test_a_dsse_request_is_logged_as_rekor_tiles_did(log: Log, server: Server) -> None:
    from tests.entries.test_dsse_v002 import EC, ec_sig, verifier
    from tests.entries.test_dsse_v002 import request as dsse_request

    body = dsse_request([ec_sig()], [verifier(EC, "PKIX_ECDSA_P256_SHA_256")])
    resp = post(server, body)
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    assert doc["kindVersion"] == {"kind": "dsse", "version": "0.0.2"}
    root, _ = trust(log, server.url)
    entry = TransparencyLogEntry(Inner.from_json(resp.text))
    entry._verify(root.rekor_keyring(KeyringPurpose.VERIFY))
    assert post(server, body).headers["x-log-index"] == doc["logIndex"]


def test_a_log_in_s3(tmp_path: Path, s3_bucket: tuple[str, str]) -> None:
    endpoint, bucket = s3_bucket
    keys = tmp_path / "keys"
    tlog("keygen", "--origin", "s3.test/log", "--out", str(keys))
    location = f"s3://{bucket}/log"
    ep = ("--endpoint-url", endpoint)
    tlog("init", "--log", location, "--origin", "s3.test/log", "--key", str(keys / "log.key"), *ep)
    log = Log(tmp_path, keys / "log.key", keys / "log.vkey", "s3.test/log")
    with running(location, log.key, *ep, "--workers", "0", "--pool-wait", "30ms",
                 stderr=tmp_path / "err") as s:  # fmt: skip
        root, config = trust(log, s.url)
        (client,) = config.get_tlogs()
        with ThreadPoolExecutor(4) as pool:
            entries = list(pool.map(lambda i: client.create_entry(request(i, "s3")), range(6)))
        for entry in entries:
            entry._verify(root.rekor_keyring(KeyringPurpose.VERIFY))
        checkpoint = requests.get(f"{s.url}/api/v2/checkpoint", timeout=30).text
        assert checkpoint.split("\n")[:2] == ["s3.test/log", "6"]
