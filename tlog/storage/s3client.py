"""The botocore client behind :class:`tlog.storage.s3.S3Store`, set up for little CPU
per request.

A small batch makes about 28 requests in 7 rounds (docs/design.md "Round trips"), and
the requests of a round are prepared one after the other (Python runs one thread at a
time), so botocore's own work on each request adds to every round. Left at its
defaults, botocore spends about 0.55 ms of CPU per request; set up as here, about
0.35 ms (``tools/bench_small_batch.py`` prints the CPU per batch):

* no ``Expect: 100-continue`` on a PUT of less than :data:`EXPECT_CONTINUE_MIN`
  bytes: botocore asks for it on every PUT, and waiting for S3's "100 Continue"
  before sending the body costs a round trip, doubling the time of a small PUT (the
  rounds that stage, commit, apply and publish a batch are all PUTs);
* an endpoint cache that hits for every key (:func:`_cache_endpoints`): botocore
  evaluates S3's endpoint rule set, about 0.2 ms, whenever its cache misses, and the
  object key is part of the cache's key;
* no parameter validation: every call's parameters are the store's own, well typed;
* response timestamps (``LastModified``) kept as text, not parsed by dateutil: the
  store reads none;
* checksums only where S3 requires them (:data:`CHECKSUMS`): every reader checks the
  log's objects against its hashes, and TLS guards the transfer.

Setting the client up costs a process (``tlog sequence``) some tens of milliseconds, and
part of it need not: before loading S3's model and endpoint rules, botocore lists every
service it ships (a directory scan of about 400 services, twice) only to refuse a name
it does not know; the session here loads S3 alone, so its loader knows that name
without the scan (:func:`_known_services`).

botocore itself, not boto3: boto3 adds import time and methods the store never calls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

import botocore.session
from botocore.config import Config
from botocore.utils import determine_content_length

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Checksums only where S3 requires them (botocore 1.36 and later compute and check CRC32
#: on every request by default; older botocore has neither option and never did).
CHECKSUMS: dict[str, Any] = {
    option: "when_required"
    for option in ("request_checksum_calculation", "response_checksum_validation")
    if option in Config.OPTION_DEFAULTS
}

#: Bodies this long or longer are still announced with ``Expect: 100-continue``: S3 can
#: refuse them (a create that finds the object, a lost swap) before they are sent.
EXPECT_CONTINUE_MIN = 1 << 20

#: Parameters of S3's endpoint rule set that no rule reads (the object key, the listing
#: prefix): botocore passes them to its endpoint cache, which then misses on every new key.
UNREAD_ENDPOINT_PARAMS = ("Key", "Prefix")


def s3_client(
    endpoint: str | None,
    *,
    connect_timeout: float,
    read_timeout: float,
    max_attempts: int,
    pool: int,
) -> S3Client:
    """An S3 client for ``endpoint`` (None: AWS), addressed path-style when given, with
    botocore's "standard" retries (``max_attempts`` in all), ``pool`` connections and
    the settings of the module docstring. Credentials and region come from the usual
    AWS sources (region: ``us-east-1`` when none is configured)."""
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        max_pool_connections=pool,
        s3={"addressing_style": "path"} if endpoint else None,
        parameter_validation=False,
        **CHECKSUMS,
    )
    session = botocore.session.get_session()
    _known_services(session)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=str)
    client = session.create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=session.get_config_variable("region") or "us-east-1",
        config=config,
    )
    _cache_endpoints(client)
    client.meta.events.register_last("before-call.s3", _expect_continue_for_big_bodies)
    return cast("S3Client", client)


def _known_services(session: botocore.session.Session) -> None:
    """Answer the loader's "which services are there?" with S3 alone (module docstring):
    this session loads no other service's model. Left as is if the loader is not what
    this expects."""
    loader = session.get_component("data_loader")
    if callable(getattr(loader, "list_available_services", None)):
        loader.list_available_services = _only_s3


def _only_s3(type_name: str) -> list[str]:
    return ["s3"]


def _expect_continue_for_big_bodies(params: dict[str, Any], **kwargs: Any) -> None:
    """Drop the ``Expect: 100-continue`` botocore adds to a PUT of a short body."""
    headers = params.get("headers", {})
    if "Expect" in headers:
        size = determine_content_length(params.get("body"))
        if size is not None and size < EXPECT_CONTINUE_MIN:
            del headers["Expect"]


def _cache_endpoints(client: object) -> None:
    """Make botocore's endpoint cache hit for every key of the bucket.

    botocore resolves each request's endpoint by evaluating S3's endpoint rule set,
    caching the result by the request's endpoint parameters: the object key and listing
    prefix among them, although no rule reads them (``tests/storage/test_s3client.py``
    checks the rule set botocore ships), so every new key missed the cache. Dropping the
    two before the lookup lets one evaluation serve every request to the bucket. Left
    as is if botocore's internals are not what this expects.
    """
    resolver = getattr(client, "_ruleset_resolver", None)
    provider: Any = getattr(resolver, "_provider", None)
    resolve = getattr(provider, "resolve_endpoint", None)
    if resolve is None:
        return

    def resolve_endpoint(**params: object) -> object:
        for name in UNREAD_ENDPOINT_PARAMS:
            params.pop(name, None)
        return resolve(**params)

    provider.resolve_endpoint = resolve_endpoint
