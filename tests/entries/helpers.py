"""Shared helpers for the entry tests: fixture files, document building, refusals.

The fixtures under ``data/`` were made by real tools (openssl, ssh-keygen, minisign,
gpg, pycryptodome for Ed25519ph) with ``tools/make_entry_fixtures.py``; every signature
in them signs ``data/artifact.txt``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tlog.entries import Entry, admit_json
from tlog.entries.policy import DEFAULT_POLICY, AdmissionPolicy
from tlog.errors import TlogError

DATA = Path(__file__).parent / "data"


def data(name: str) -> bytes:
    """The bytes of fixture file ``name`` (relative to ``data/``)."""
    return (DATA / name).read_bytes()


ARTIFACT = data("artifact.txt")
SHA256 = hashlib.sha256(ARTIFACT).digest()


def b64(raw: bytes) -> str:
    """Standard, padded base64 text."""
    return base64.b64encode(raw).decode()


def flip(raw: bytes, index: int = -1, bit: int = 0) -> bytes:
    """``raw`` with one bit flipped."""
    out = bytearray(raw)
    out[index] ^= 1 << bit
    return bytes(out)


def admit(doc: dict[str, Any] | bytes, policy: AdmissionPolicy = DEFAULT_POLICY) -> Entry:
    """Admit a document given as a dict (JSON-encoded here) or as bytes."""
    return admit_json(doc if isinstance(doc, bytes) else json.dumps(doc).encode(), policy)


def refuse(
    doc: dict[str, Any] | bytes,
    error: type[TlogError],
    field: str,
    text: str = "",
    *,
    policy: AdmissionPolicy = DEFAULT_POLICY,
) -> str:
    """Assert that admission (under ``policy``) fails with ``error`` whose message starts
    with ``field:`` and contains ``text``; return the message."""
    with pytest.raises(error) as info:
        admit(doc, policy)
    message = str(info.value)
    assert message.startswith(f"{field}: "), message
    assert text in message, message
    assert "\n" not in message
    return message


def edit(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``doc`` with the dotted ``path`` set to ``value`` (None: removed)."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is None:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return out


def body(entry: Entry) -> dict[str, Any]:
    """The stored JSON of an admitted entry."""
    parsed: dict[str, Any] = json.loads(entry.body)
    return parsed
