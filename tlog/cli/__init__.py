"""The ``tlog`` command line (click). Errors: one line on stderr, non-zero exit.

The group, :data:`main`, and the error wrapper live in :mod:`tlog.cli.app`; the options
several commands share in :mod:`tlog.cli.options`. Commands live in one module per
noun, each registering itself on :data:`main`: :mod:`tlog.cli.keys` (keygen, key
show), :mod:`tlog.cli.write` (init, sequence, submit), :mod:`tlog.cli.serve`,
:mod:`tlog.cli.upload`, :mod:`tlog.cli.checkpoint` (loginfo,
logproof), :mod:`tlog.cli.entry` (get), :mod:`tlog.cli.proof` (prove, verify),
:mod:`tlog.cli.search`, :mod:`tlog.cli.index` (index rebuild), :mod:`tlog.cli.audit` and
:mod:`tlog.cli.monitor`. This package imports them all; none imports it back.
"""

from __future__ import annotations

from tlog.cli import (
    audit,
    checkpoint,
    entry,
    index,
    keys,
    monitor,
    proof,
    search,
    serve,
    upload,
    write,
)
from tlog.cli.app import main

__all__ = [
    "audit",
    "checkpoint",
    "entry",
    "index",
    "keys",
    "main",
    "monitor",
    "proof",
    "search",
    "serve",
    "upload",
    "write",
]
