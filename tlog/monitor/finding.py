"""What a monitor run reports: one :class:`Finding` per alert (docs/monitor.md "Report").

A finding is one JSON object on one line (:meth:`Finding.to_json`), the document a hook
receives on stdin or in a POST body, or one readable line (:meth:`Finding.text`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tlog.errors import MalformedError

__all__ = ["KINDS", "Finding"]

#: Every kind of finding; ``unverified-identity`` is an identity match in a certificate
#: that does not chain to the given CA roots (a spoofed identity, not a match).
KINDS = (
    "match",
    "unverified-identity",
    "fork",
    "rollback",
    "split-view",
    "invalid-entry",
    "duplicate",
    "index-mismatch",
    "error",
)


@dataclass(frozen=True)
class Finding:
    """One alert: its kind, the entry it is about (if any), what matched, the evidence."""

    kind: str
    message: str
    index: int | None = None
    uuid: str | None = None
    matched: tuple[Mapping[str, str], ...] = ()
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MalformedError(f"unknown finding kind {self.kind!r}")

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.index is not None:
            doc["index"] = self.index
        if self.uuid is not None:
            doc["uuid"] = self.uuid
        if self.matched:
            doc["matched"] = [dict(m) for m in self.matched]
        if self.evidence:
            doc["evidence"] = dict(self.evidence)
        return doc

    def to_json(self) -> str:
        """The finding as one line of JSON (keys sorted)."""
        return json.dumps(self.document(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Finding:
        doc = json.loads(text)
        return cls(
            kind=doc["kind"],
            message=doc["message"],
            index=doc.get("index"),
            uuid=doc.get("uuid"),
            matched=tuple(doc.get("matched", ())),
            evidence=doc.get("evidence", {}),
        )

    def text(self) -> str:
        """One readable line: the kind, then the message (which names the entry)."""
        return f"{self.kind}: {self.message}"
