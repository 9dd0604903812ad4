"""The child processes of tlog's a process has (Linux /proc), by the module they serve."""

from __future__ import annotations

import os
from pathlib import Path


def children(module: str, parent: int | None = None) -> list[int]:
    """Pids of ``parent``'s (this process's by default) children running ``module``'s
    ``serve`` (:mod:`tlog.child` names the module on their command line)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == (parent or os.getpid()) and module.encode() in cmdline:
            out.append(int(entry.name))
    return out
