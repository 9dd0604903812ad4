"""Where a monitor resumes: how far it scanned and what it has checked (an adapter).

One JSON file per log, keys and watch list, next to the reader's checkpoint state
(:mod:`tlog.state`): ``<state dir>/<origin>/<key>/monitor-<config digest>.json``,
replaced atomically (:func:`tlog.xdg.atomic_write`) only after the findings of what it
records were delivered (docs/monitor.md "Delivery"), so a monitor killed at any point
resumes where its last write says, reporting again at most what it had not recorded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tlog.errors import ConfigError
from tlog.xdg import atomic_write

__all__ = ["MonitorState", "ScanState"]


@dataclass(frozen=True)
class ScanState:
    """Progress: entries below ``next`` were scanned and their findings delivered; the
    index was checked for entries below ``index_from``, whose head listed
    ``index_segments`` (segment roots, hex); ``findings`` counts what was reported."""

    next: int = 0
    index_from: int = 0
    index_segments: tuple[str, ...] = ()
    findings: dict[str, int] = field(default_factory=dict)

    def counted(self, kinds: list[str]) -> ScanState:
        counts = dict(self.findings)
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        return replace(self, findings=counts)


class MonitorState:
    """The :class:`ScanState` file of one log and watch list."""

    def __init__(self, folder: Path, config_text: str) -> None:
        digest = hashlib.sha256(config_text.encode()).hexdigest()[:16]
        self.path = Path(folder) / f"monitor-{digest}.json"

    def load(self) -> ScanState | None:
        try:
            doc: Any = json.loads(self.path.read_bytes())
            return ScanState(
                next=int(doc["next"]),
                index_from=int(doc["index_from"]),
                index_segments=tuple(str(s) for s in doc["index_segments"]),
                findings={str(k): int(v) for k, v in doc["findings"].items()},
            )
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(
                f"monitor state {self.path} is unreadable ({exc}); remove it to scan afresh"
            ) from exc

    def save(self, state: ScanState) -> None:
        doc = asdict(state)
        doc["index_segments"] = list(state.index_segments)
        try:
            atomic_write(self.path, (json.dumps(doc, sort_keys=True) + "\n").encode())
        except OSError as exc:
            raise ConfigError(f"cannot write monitor state {self.path}: {exc}") from exc
