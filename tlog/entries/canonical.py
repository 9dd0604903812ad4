"""RFC 8785 (JSON Canonicalization Scheme) bytes of an entry body.

Rekor v1 marshals each canonical entry with Go's ``encoding/json`` and then runs it
through a JCS canonicalizer; Rekor v2 does the same after ``protojson.Marshal``. JCS
output depends only on the JSON value (members sorted by UTF-16 code units, shortest
number form, minimal string escapes), so building the same value here and serializing
it with the ``rfc8785`` library yields the same bytes.

Entry bodies are plain (strings, booleans, small integers, ASCII member names), and for
such values the standard library's compact, key-sorted, non-ASCII-preserving encoding
already *is* the JCS form: no number formatting is involved, code-point order equals
UTF-16 order for ASCII names, and its string escapes are ECMAScript's. That path is
three times faster and is checked against ``rfc8785`` by a property test; anything else
(floats, big integers, non-ASCII names) goes to ``rfc8785``.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

from tlog.errors import MalformedError

_MAX_SAFE_INT = 2**53 - 1
_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
).encode


def _plain(value: Any) -> bool:
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_MAX_SAFE_INT <= value <= _MAX_SAFE_INT)
    if kind is dict:
        return all(type(k) is str and k.isascii() and _plain(v) for k, v in value.items())
    if kind is list:
        return all(_plain(v) for v in value)
    return False


def canonical_json(value: dict[str, Any]) -> bytes:
    """The RFC 8785 serialization of ``value`` (a JSON object of str/int/list/dict)."""
    if _plain(value):
        try:
            return _encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it, with its reason
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError as exc:
        raise MalformedError(f"entry cannot be canonicalized (RFC 8785): {exc}") from exc
