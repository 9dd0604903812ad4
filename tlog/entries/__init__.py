"""Entry types: turning one submitted document into the canonical bytes of one leaf.

The sequencer calls :func:`admit_json` for each JSON input line (or stores raw bytes
as-is with ``--raw``). A document is either a Rekor v1 proposed entry
``{"kind", "apiVersion", "spec"}`` or a Rekor v2 request such as
``{"hashedRekordRequestV002": ...}``. Each supported (kind, version) has a canonicalizer
(see :func:`load_types`); it validates the document, verifies its signature and returns
the leaf bytes (RFC 8785 canonical JSON of the entry body), or raises a
:class:`~tlog.errors.TlogError` whose message names the field and what was wrong. No
input, however hostile, makes it raise anything else.

What is admitted (signing algorithms, rekord PKI formats, trusted CAs) is the
:class:`~tlog.entries.policy.AdmissionPolicy` passed to :func:`admit_json`; there is no
process-wide policy. This package is pure (stdlib + cryptography + rfc8785) and its
values are picklable, so admission runs in worker processes with
``functools.partial(admit_json, policy=policy)``.

Types: ``hashedrekord`` 0.0.1 and 0.0.2 (:mod:`.hashedrekord`, also the Rekor v2
``hashedRekordRequestV002`` request), ``dsse`` 0.0.2 (:mod:`.dsse_v002`, the Rekor v2
``dsseRequestV002`` request), ``rekord`` 0.0.1 with x509, ssh, minisign and pgp
signatures (:mod:`.rekord`), ``dsse`` 0.0.1 (:mod:`.dsse`), ``intoto`` 0.0.2
(:mod:`.intoto`). :mod:`.proposal` builds proposed entries as ``rekor-cli upload`` does;
:mod:`.describe` reads stored entries back.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tlog.codec import load_json
from tlog.entries.entry import Entry
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import MalformedError, OversizeError, UnsupportedEntryError
from tlog.tile import MAX_ENTRY_SIZE

__all__ = ["MAX_INPUT_SIZE", "Canonicalizer", "Entry", "Registry", "admit_json", "load_types"]

#: Input documents larger than this are refused before parsing.
MAX_INPUT_SIZE = 1 << 20

#: A canonicalizer of one whole parsed document under an admission policy.
Canonicalizer = Callable[[dict[str, Any], AdmissionPolicy], Entry]


@dataclass(frozen=True)
class Registry:
    """The supported entry types: (kind, apiVersion) and Rekor v2 request wrapper key,
    each to its canonicalizer."""

    kinds: Mapping[tuple[str, str], Canonicalizer]
    requests: Mapping[str, Canonicalizer]
    #: Reads the commonest documents without a JSON parse, or returns None (then the
    #: parse and the canonicalizers above decide): the hot path of a big batch.
    quick: Callable[[bytes, AdmissionPolicy], Entry | None] | None = None


@functools.cache
def load_types() -> Registry:
    """Import every entry type module and return the registry of their canonicalizers.

    :func:`admit_json` calls this first, so importing ``tlog.entries`` is enough to admit
    every type; a pool may call it before starting workers so that forked workers
    inherit the loaded modules. It is lazy so that code which only reads stored entries
    (:mod:`tlog.entries.describe`, used by the proof and verify side) does not load the
    X.509 and OpenPGP machinery (``cryptography.x509`` pulls in ``email`` and ``socket``).
    """
    from tlog.entries import dsse, dsse_v002, hashedrekord, intoto, rekord

    kinds: dict[tuple[str, str], Canonicalizer] = {
        (hashedrekord.KIND, "0.0.1"): hashedrekord.admit_v001,
        (hashedrekord.KIND, "0.0.2"): hashedrekord.admit_v002,
        (rekord.KIND, rekord.VERSION): rekord.admit_v001,
        (dsse.KIND, dsse.VERSION): dsse.admit_v001,
        (intoto.KIND, intoto.VERSION): intoto.admit_v002,
    }
    requests: dict[str, Canonicalizer] = {
        hashedrekord.V2_WRAPPER: hashedrekord.admit_v2_request,
        dsse_v002.V2_WRAPPER: dsse_v002.admit_v2_request,
    }
    return Registry(
        MappingProxyType(kinds), MappingProxyType(requests), hashedrekord.admit_request_bytes
    )


def _load_document(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_INPUT_SIZE:
        raise OversizeError(f"input document is {len(data)} bytes, over {MAX_INPUT_SIZE}")
    try:
        doc = load_json(data, "input")
    except MalformedError as exc:
        raise MalformedError(f"not a JSON document: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedError(f"entry must be a JSON object, not {type(doc).__name__}")
    return doc


def _canonicalizer(doc: dict[str, Any], registry: Registry) -> Canonicalizer:
    wrappers = [k for k in doc if k.endswith("Request") or "RequestV" in k]
    if "kind" not in doc and len(doc) == 1 and wrappers:
        (name,) = wrappers
        canon = registry.requests.get(name)
        if canon is None:
            known = ", ".join(sorted(registry.requests)) or "none yet"
            raise UnsupportedEntryError(
                f"request type {name!r} is not supported (supported: {known})"
            )
        return canon
    kind, version = doc.get("kind"), doc.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(version, str):
        raise MalformedError("entry needs string fields 'kind' and 'apiVersion'")
    canon = registry.kinds.get((kind, version))
    if canon is None:
        known = ", ".join(f"{k} {v}" for k, v in sorted(registry.kinds)) or "none yet"
        raise UnsupportedEntryError(
            f"entry kind {kind!r} version {version!r} is not supported (supported: {known})"
        )
    return canon


def admit_json(data: bytes, policy: AdmissionPolicy = DEFAULT_POLICY) -> Entry:
    """Validate one JSON input document under ``policy`` and return its canonical entry.

    Raises UnsupportedEntryError for kinds/versions not registered or refused by the
    policy, and other TlogErrors with a one-line reason for invalid ones; never any
    other exception.
    """
    registry = load_types()
    quick = registry.quick and isinstance(data, bytes) and len(data) <= MAX_INPUT_SIZE
    entry = registry.quick(data, policy) if quick and registry.quick else None
    if entry is None:
        doc = _load_document(data)
        entry = _canonicalizer(doc, registry)(doc, policy)
    if len(entry.body) > MAX_ENTRY_SIZE:
        raise OversizeError(f"canonical entry is {len(entry.body)} bytes, over {MAX_ENTRY_SIZE}")
    return entry
