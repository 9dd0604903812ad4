"""An admitted entry: the value every entry type's canonicalizer returns.

Kept apart from :mod:`tlog.entries` (the package's dispatch) so that the type modules
import it without importing the package that dispatches to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entry:
    """An admitted entry: its kind, API version and canonical leaf bytes (RFC 8785 JSON)."""

    kind: str
    api_version: str
    body: bytes
    #: For a hashedrekord 0.0.2 body with a bare public key: its hash name
    #: (``sha256``...), digest and key DER, as admission decoded them — what
    #: :func:`tlog.index.keys.joined_key_hashes` would read back from the body (the
    #: index rows, computed where the request is already parsed). Not part of the value.
    bare_key: tuple[str, bytes, bytes] | None = field(default=None, compare=False, repr=False)
