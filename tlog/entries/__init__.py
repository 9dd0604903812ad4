"""Entry types: turning one submitted document into the canonical bytes of one leaf.

The sequencer calls :func:`admit_json` for each JSON input line (or stores raw bytes
as-is with ``--raw``). A document is either a Rekor v1 proposed entry
``{"kind", "apiVersion", "spec"}`` or a Rekor v2 request such as
``{"hashedRekordRequestV002": ...}``. Each supported (kind, version) registers a
canonicalizer in :data:`REGISTRY`; it validates the document, verifies its signature and
returns the leaf bytes (RFC 8785 canonical JSON of the entry body), or raises a
:class:`~tlog.errors.TlogError` whose message names the field and what was wrong.

This module is pure (stdlib + cryptography + rfc8785) and must stay importable in a
worker process: admission runs in parallel across cores. What is admitted (signing
algorithms, rekord PKI formats, trusted CAs) is the process-local
:class:`~tlog.entries.policy.AdmissionPolicy`; a pool passes it to its workers with
``initializer=tlog.entries.policy.init_worker, initargs=(policy,)``.

Types: ``hashedrekord`` 0.0.1 and 0.0.2 (:mod:`.hashedrekord`, also the Rekor v2
``hashedRekordRequestV002`` request), ``rekord`` 0.0.1 with x509, ssh, minisign and pgp
signatures (:mod:`.rekord`), ``dsse`` 0.0.1 (:mod:`.dsse`), ``intoto`` 0.0.2
(:mod:`.intoto`). :mod:`.proposal` builds proposed entries as ``rekor-cli upload`` does;
:mod:`.describe` reads stored entries back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tlog.errors import MalformedError, OversizeError
from tlog.tile import MAX_ENTRY_SIZE

#: Input documents larger than this are refused before parsing.
MAX_INPUT_SIZE = 1 << 20


class UnsupportedEntryError(MalformedError):
    """A well-formed document of a kind or version this log does not admit."""


@dataclass(frozen=True)
class Entry:
    """An admitted entry: its kind, API version and canonical leaf bytes."""

    kind: str
    api_version: str
    body: bytes


#: (kind, apiVersion) → canonicalizer of the whole proposed-entry document.
Canonicalizer = Callable[[dict[str, Any]], Entry]
REGISTRY: dict[tuple[str, str], Canonicalizer] = {}
#: Rekor v2 request wrapper key → canonicalizer of the whole request document.
V2_REQUESTS: dict[str, Canonicalizer] = {}


def _load_json(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_INPUT_SIZE:
        raise OversizeError(f"input document is {len(data)} bytes, over {MAX_INPUT_SIZE}")
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedError(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict):
        raise MalformedError(f"entry must be a JSON object, not {type(doc).__name__}")
    return doc


def admit_json(data: bytes) -> Entry:
    """Validate one JSON input document and return its canonical entry.

    Raises UnsupportedEntryError for kinds/versions not registered, and other
    TlogErrors with a one-line reason for invalid ones.
    """
    load_types()
    doc = _load_json(data)
    wrappers = [k for k in doc if k.endswith("Request") or "RequestV" in k]
    if "kind" not in doc and len(doc) == 1 and wrappers:
        (name,) = wrappers
        canon = V2_REQUESTS.get(name)
        if canon is None:
            known = ", ".join(sorted(V2_REQUESTS)) or "none yet"
            raise UnsupportedEntryError(
                f"request type {name!r} is not supported (supported: {known})"
            )
        entry = canon(doc)
    else:
        kind, version = doc.get("kind"), doc.get("apiVersion")
        if not isinstance(kind, str) or not isinstance(version, str):
            raise MalformedError("entry needs string fields 'kind' and 'apiVersion'")
        canon = REGISTRY.get((kind, version))
        if canon is None:
            known = ", ".join(f"{k} {v}" for k, v in sorted(REGISTRY)) or "none yet"
            raise UnsupportedEntryError(
                f"entry kind {kind!r} version {version!r} is not supported (supported: {known})"
            )
        entry = canon(doc)
    if len(entry.body) > MAX_ENTRY_SIZE:
        raise OversizeError(f"canonical entry is {len(entry.body)} bytes, over {MAX_ENTRY_SIZE}")
    return entry


_types_loaded = False


def load_types() -> None:
    """Import every entry type module; each registers itself in REGISTRY / V2_REQUESTS.

    :func:`admit_json` calls this first, so importing ``tlog.entries`` is enough to admit
    every type. It is lazy so that code which only reads stored entries
    (:mod:`tlog.entries.describe`, used by the proof and verify side) does not load the
    X.509 and OpenPGP machinery (``cryptography.x509`` pulls in ``email`` and ``socket``).
    """
    global _types_loaded
    if not _types_loaded:
        from tlog.entries import dsse, hashedrekord, intoto, rekord  # noqa: F401

        _types_loaded = True
