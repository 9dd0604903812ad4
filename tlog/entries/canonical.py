"""RFC 8785 (JSON Canonicalization Scheme) bytes of an entry body.

Rekor v1 marshals each canonical entry with Go's ``encoding/json`` and then runs it
through a JCS canonicalizer; Rekor v2 does the same after ``protojson.Marshal``. JCS
output depends only on the JSON value (members sorted by UTF-16 code units, shortest
number form, minimal string escapes), so building the same value here and serializing
it with the ``rfc8785`` library yields the same bytes.
"""

from __future__ import annotations

from typing import Any

import rfc8785

from tlog.errors import MalformedError


def canonical_json(value: dict[str, Any]) -> bytes:
    """The RFC 8785 serialization of ``value`` (a JSON object of str/int/list/dict)."""
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError as exc:
        raise MalformedError(f"entry cannot be canonicalized (RFC 8785): {exc}") from exc
