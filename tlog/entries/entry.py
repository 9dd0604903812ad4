"""An admitted entry: the value every entry type's canonicalizer returns.

Kept apart from :mod:`tlog.entries` (the package's dispatch) so that the type modules
import it without importing the package that dispatches to them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """An admitted entry: its kind, API version and canonical leaf bytes (RFC 8785 JSON)."""

    kind: str
    api_version: str
    body: bytes
