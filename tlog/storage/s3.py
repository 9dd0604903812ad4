"""A log in an S3-compatible bucket, coordinated only by S3 conditional writes.

Object ``key`` is stored as ``<prefix>/<key>`` (just ``key`` for an empty prefix). Every
PUT carries the Content-Type and Cache-Control of :func:`tlog.layout.headers`, so a CDN
in front of the bucket serves the tlog-tiles layout as is.

* :meth:`S3Store.create` is ``PUT`` with ``If-None-Match: *``. A 412 means the object
  exists: identical bytes are success (this is also how a retried PUT whose first
  attempt landed resolves), other bytes a CorruptionError.
* :meth:`S3Store.swap` is ``PUT`` with ``If-Match: <ETag>`` (``If-None-Match: *`` when
  the object must be absent); a 412 is a lost race, ConflictError.
* A 409 ConditionalRequestConflict (another conditional write to the key in flight) is
  retried a few times before giving up.

The version token is the object's ETag as S3 returns it (quotes included). For a
single-part PUT it is derived from the bytes, so writing the same bytes again yields the
same token. Note that a PUT retried after a lost response can make :meth:`swap` report a
ConflictError although its own first attempt won: callers reload and find their own bytes.

Transient failures (5xx, throttling, dropped connections) are retried by botocore's
"standard" mode, a bounded number of times with bounded timeouts; what remains is a
StorageError naming the bucket and key.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)

from tlog.errors import (
    ConfigError,
    ConflictError,
    CorruptionError,
    MalformedError,
    NotFoundError,
    OversizeError,
    StorageError,
    TlogError,
)
from tlog.layout import check_key, headers, is_key
from tlog.storage import check_range, file_sha256
from tlog.storage.s3client import s3_client

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import PutObjectOutputTypeDef

#: Total attempts per request, first one included (botocore "standard" retry mode).
MAX_ATTEMPTS = 5
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
#: Enough pooled connections for a sequencer writing tiles from a thread pool.
MAX_POOL_CONNECTIONS = 32
#: Attempts of one conditional PUT that keeps meeting 409 ConditionalRequestConflict.
CONFLICT_ATTEMPTS = 5
#: Seconds: the n-th retry of a conflicting PUT waits up to BACKOFF_BASE * 2**n.
BACKOFF_BASE = 0.05

_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_MISSING = frozenset({"NoSuchKey", "NotFound", "404"})
_CHUNK = 1 << 20


class S3Store:
    """A :class:`~tlog.storage.Store` over ``s3://bucket/prefix`` through a boto3 client.

    The client is thread-safe, so one store may be shared by a pool of writers (the
    factory sizes the connection pool for that). ``sleep`` waits out the backoff
    between conflicting conditional PUTs (injected so tests need not wait).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: S3Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bucket = bucket
        self.prefix = _check_location(bucket, prefix)
        self._base = f"{self.prefix}/" if self.prefix else ""
        self._client = client
        self._sleep = sleep

    @classmethod
    def from_url(
        cls, url: str, endpoint_url: str | None = None, *, max_attempts: int = MAX_ATTEMPTS
    ) -> S3Store:
        """A store for ``s3://bucket/prefix`` with tlog's retry and timeout settings.

        The endpoint is ``endpoint_url``, else ``AWS_ENDPOINT_URL_S3``, else
        ``AWS_ENDPOINT_URL``, else AWS itself; a custom endpoint is addressed path-style
        (``<endpoint>/<bucket>/<key>``), which every S3-compatible server accepts.
        Credentials and region come from the usual AWS sources (region: ``us-east-1``
        when none is configured). Each request is tried at most ``max_attempts`` times.
        """
        parts = urlsplit(url)
        if parts.scheme != "s3" or parts.query or parts.fragment:
            raise ConfigError(f"not an s3://bucket/prefix location: {url!r}")
        if not parts.netloc:
            raise ConfigError(f"no bucket name in {url!r}")
        _check_location(parts.netloc, parts.path)  # before the slow client set-up
        endpoint = (
            endpoint_url
            or os.environ.get("AWS_ENDPOINT_URL_S3")
            or os.environ.get("AWS_ENDPOINT_URL")
            or None
        )
        client = s3_client(
            endpoint,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            max_attempts=max_attempts,
            pool=MAX_POOL_CONNECTIONS,
        )
        return cls(parts.netloc, parts.path, client)

    def __repr__(self) -> str:
        return f"S3Store({self._where('')!r})"

    # -- Store -----------------------------------------------------------------------

    def read(self, key: str, limit: int) -> bytes:
        """The object's bytes; refused from Content-Length, never more than limit+1 read."""
        return self.read_versioned(key, limit)[0]

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (GET with ``Range: bytes=start-end``)."""
        name = self._name(key)
        if length == 0:
            return b""
        try:
            resp = self._client.get_object(
                Bucket=self.bucket, Key=name, Range=f"bytes={start}-{start + length - 1}"
            )
            body = resp["Body"]
            try:
                data = body.read(length + 1)
            finally:
                body.close()
        except ClientError as e:
            if _code(e) in _MISSING:
                raise NotFoundError(f"no object {self._where(name)}") from e
            if _code(e) == "InvalidRange":
                raise MalformedError(f"object {self._where(name)} ends before byte {start}") from e
            raise self._failure("read", name, e) from e
        except BotoCoreError as e:
            raise self._failure("read", name, e) from e
        return check_range(key, data, start, length)

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        """The object's bytes and its ETag (the version :meth:`swap` expects)."""
        name = self._name(key)
        try:
            resp = self._client.get_object(Bucket=self.bucket, Key=name)
        except ClientError as e:
            if _code(e) in _MISSING:
                raise NotFoundError(f"no object {self._where(name)}") from e
            raise self._failure("read", name, e) from e
        except BotoCoreError as e:
            raise self._failure("read", name, e) from e
        body = resp["Body"]
        try:
            size = resp.get("ContentLength")
            if size is not None and size > limit:
                raise OversizeError(
                    f"object {self._where(name)} is {size} bytes, over the {limit} limit"
                )
            chunks: list[bytes] = []
            got = 0
            while got <= limit and (chunk := body.read(min(limit + 1 - got, _CHUNK))):
                chunks.append(chunk)
                got += len(chunk)
        except BotoCoreError as e:
            raise self._failure("read", name, e) from e
        finally:
            body.close()
        if got > limit:
            raise OversizeError(f"object {self._where(name)} is over the {limit} limit")
        return b"".join(chunks), resp["ETag"]

    def create(self, key: str, data: bytes) -> None:
        """``PUT`` with ``If-None-Match: *``; on 412 compare with the stored bytes."""
        name = self._name(key)
        for _ in range(CONFLICT_ATTEMPTS):
            if self._put_if("create", key, name, data, StorageError, IfNoneMatch="*") is not None:
                return
            try:
                existing = self.read(key, len(data))
            except OversizeError:
                existing = None
            except NotFoundError:
                continue  # deleted since: try again
            if existing != data:
                raise CorruptionError(
                    f"immutable object {self._where(name)} exists with different bytes"
                ) from None
            return
        raise StorageError(
            f"cannot create {self._where(name)}: deleted under us {CONFLICT_ATTEMPTS} times"
        )

    def create_file(self, key: str, file: BinaryIO) -> None:
        """:meth:`create` whose ``PUT`` body is ``file`` (botocore streams it, and seeks
        it back for a retry); on 412 the stored object is compared by SHA-256, streamed."""
        name = self._name(key)
        for _ in range(CONFLICT_ATTEMPTS):
            file.seek(0)
            if self._put_if("create", key, name, file, StorageError, IfNoneMatch="*") is not None:
                return
            try:
                resp = self._client.get_object(Bucket=self.bucket, Key=name)
                digest = hashlib.sha256()
                for chunk in resp["Body"].iter_chunks(_CHUNK):
                    digest.update(chunk)
            except ClientError as e:
                if _code(e) in _MISSING:
                    continue  # deleted since: try again
                raise self._failure("read", name, e) from e
            except BotoCoreError as e:
                raise self._failure("read", name, e) from e
            if digest.digest() != file_sha256(file):
                raise CorruptionError(
                    f"immutable object {self._where(name)} exists with different bytes"
                )
            return
        raise StorageError(
            f"cannot create {self._where(name)}: deleted under us {CONFLICT_ATTEMPTS} times"
        )

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """:meth:`create` for every item, up to ``MAX_POOL_CONNECTIONS`` PUTs at a time.

        Every key is checked before the first PUT; every item is attempted, then the
        error of the first failed item (in ``items`` order) is raised.
        """
        for key, _ in items:
            check_key(key)
        if len(items) <= 1:
            for key, data in items:
                self.create(key, data)
            return
        with ThreadPoolExecutor(min(len(items), MAX_POOL_CONNECTIONS)) as pool:
            futures = [pool.submit(self.create, key, data) for key, data in items]
        for future in futures:
            future.result()

    def write(self, key: str, data: bytes) -> None:
        """Unconditional ``PUT``."""
        name = self._name(key)
        try:
            self._put(key, name, data)
        except (ClientError, BotoCoreError) as e:
            raise self._failure("write", name, e) from e

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        """``PUT`` with ``If-Match: expect`` (``If-None-Match: *`` for None); the new ETag."""
        name = self._name(key)
        condition = {"IfNoneMatch": "*"} if expect is None else {"IfMatch": expect}
        etag = self._put_if("swap", key, name, data, ConflictError, **condition)
        if etag is None:
            raise ConflictError(f"{self._where(name)} changed under us (compare-and-swap lost)")
        return etag

    def delete(self, key: str) -> None:
        """``DELETE``, which S3 answers with success for an absent object too."""
        name = self._name(key)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=name)
        except (ClientError, BotoCoreError) as e:
            raise self._failure("delete", name, e) from e

    def list(self, prefix: str) -> list[str]:
        """Every key under ``prefix``, sorted: ListObjectsV2 pages, each continuing from
        the last (called directly: botocore's paginator loads its own model and costs
        more CPU than the call; a listing is in the first round of every batch).

        Objects under the log prefix whose names are not valid keys are skipped.
        """
        start = self._base + prefix
        keys: list[str] = []
        token: str | None = None
        seen: set[str] = set()
        try:
            while True:
                page = (
                    self._client.list_objects_v2(Bucket=self.bucket, Prefix=start)
                    if token is None
                    else self._client.list_objects_v2(
                        Bucket=self.bucket, Prefix=start, ContinuationToken=token
                    )
                )
                for obj in page.get("Contents", []):
                    key = obj.get("Key", "")[len(self._base) :]
                    if is_key(key):
                        keys.append(key)
                token = page.get("NextContinuationToken")
                if not page.get("IsTruncated") or not token:
                    break
                if token in seen:
                    raise StorageError(
                        f"cannot list {self._where(start)}: the listing repeats itself"
                    )
                seen.add(token)
        except (ClientError, BotoCoreError) as e:
            raise self._failure("list", start, e) from e
        return sorted(keys)

    # -- helpers ---------------------------------------------------------------------

    def _backoff(self, attempt: int) -> None:
        """Full-jitter exponential backoff before retrying a conflicting conditional PUT
        (none after the last attempt: nothing follows it)."""
        if attempt + 1 < CONFLICT_ATTEMPTS:
            self._sleep(random.uniform(0, BACKOFF_BASE * 2**attempt))

    def _put_if(
        self,
        op: str,
        key: str,
        name: str,
        data: bytes | BinaryIO,
        lost: type[TlogError],
        **condition: str,
    ) -> str | None:
        """A conditional ``PUT``: the new ETag, or None when the condition failed (412;
        404 for ``If-Match`` on a deleted object).

        S3 answers 409 ConditionalRequestConflict while another conditional write to the
        key is in flight: retried after :meth:`_backoff`, ``CONFLICT_ATTEMPTS`` tries in
        all, then ``lost`` is raised.
        """
        for attempt in range(CONFLICT_ATTEMPTS):
            if not isinstance(data, bytes):
                data.seek(0)  # a retry sends the whole file again (botocore read it)
            try:
                return self._put(key, name, data, **condition)["ETag"]
            except ClientError as e:
                code = _code(e)
                if code == "PreconditionFailed" or _status(e) == 412 or code in _MISSING:
                    return None
                if code != "ConditionalRequestConflict" and _status(e) != 409:
                    raise self._failure(op, name, e) from e
                self._backoff(attempt)
            except BotoCoreError as e:
                raise self._failure(op, name, e) from e
        raise lost(
            f"cannot {op} {self._where(name)}: still conflicting with concurrent writers "
            f"after {CONFLICT_ATTEMPTS} attempts"
        )

    def _name(self, key: str) -> str:
        return self._base + check_key(key)

    def _where(self, name: str) -> str:
        return f"s3://{self.bucket}/{name}"

    def _put(
        self, key: str, name: str, data: bytes | BinaryIO, **condition: str
    ) -> PutObjectOutputTypeDef:
        content_type, cache_control = headers(key)
        return self._client.put_object(
            Bucket=self.bucket,
            Key=name,
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control,
            **condition,  # type: ignore[arg-type]
        )

    def _failure(self, action: str, name: str, err: Exception) -> StorageError:
        """One line naming the bucket, key and endpoint for a botocore failure."""
        where = self._where(name)
        endpoint = self._client.meta.endpoint_url
        if isinstance(err, ClientError):
            code = _code(err)
            status = _status(err)
            meta = err.response.get("ResponseMetadata")
            retries = meta.get("RetryAttempts", 0) if meta else 0
            if code == "NoSuchBucket":
                why = f"bucket {self.bucket!r} does not exist at {endpoint}"
            elif code == "AccessDenied" or status == 403:
                why = "access denied"
            else:
                message = " ".join(err.response.get("Error", {}).get("Message", "").split())
                why = f"{code} (HTTP {status}){': ' + message if message else ''}"
            if retries:
                why += f", after {retries} retries"
            return StorageError(f"cannot {action} {where}: {why}")
        if isinstance(err, NoCredentialsError):
            return StorageError(f"cannot {action} {where}: no AWS credentials found")
        if isinstance(err, (EndpointConnectionError, ConnectTimeoutError)):
            return StorageError(
                f"cannot {action} {where}: S3 endpoint {endpoint} unreachable (retries exhausted)"
            )
        return StorageError(f"cannot {action} {where}: {' '.join(str(err).split())}")


def _check_location(bucket: str, prefix: str) -> str:
    """The prefix without outer slashes; ConfigError for a bad bucket or prefix."""
    if not _BUCKET.fullmatch(bucket):
        raise ConfigError(f"bad S3 bucket name {bucket!r}")
    prefix = prefix.strip("/")
    if prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
        raise ConfigError(f"S3 prefix {prefix!r} has an empty, '.' or '..' segment")
    return prefix


def _code(err: ClientError) -> str:
    return err.response.get("Error", {}).get("Code", "")


def _status(err: ClientError) -> int | None:
    meta = err.response.get("ResponseMetadata")
    return meta.get("HTTPStatusCode") if meta else None
