"""A reader's own local directories (XDG Base Directory spec) and atomic writes there.

The reader keeps two things on the user's disk: the last verified checkpoint of each
log (:mod:`tlog.state`, under ``$XDG_STATE_HOME/tlog``) and authenticated tiles
(:mod:`tlog.fetch.cache`, under ``$XDG_CACHE_HOME/tlog``), one folder per log named by
:func:`log_dirname`. Both write through :func:`atomic_write`: a reader killed mid-write
leaves the old file or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Literal
from urllib.parse import quote

_DEFAULTS = {"state": (".local", "state"), "cache": (".cache",)}


def user_dir(kind: Literal["state", "cache"]) -> Path:
    """``$XDG_STATE_HOME/tlog`` (else ``~/.local/state/tlog``) or ``$XDG_CACHE_HOME/tlog``
    (else ``~/.cache/tlog``); a relative value of the variable is ignored, as the XDG
    Base Directory spec asks.
    """
    base = os.environ.get(f"XDG_{kind.upper()}_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home().joinpath(*_DEFAULTS[kind])
    return root / "tlog"


def log_dirname(origin: str) -> str:
    """A file name for a log's origin: percent-encoded, or hashed when too long."""
    name = quote(origin, safe="")
    if len(name) > 120 or name.startswith("."):
        name = "sha256-" + hashlib.sha256(origin.encode()).hexdigest()
    return name


def atomic_write(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temporary file, rename), creating its
    folder. ``durable``: fsync the file and then the folder, so the new content
    survives a crash once this returns. Raises OSError; no temporary file is left.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if durable:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
