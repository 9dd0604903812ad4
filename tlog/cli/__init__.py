"""The ``tlog`` command line (click). Errors: one line on stderr, non-zero exit.

The group, :data:`main`, and the error wrapper live in :mod:`tlog.cli.app`; the options
several commands share in :mod:`tlog.cli.options`. Commands live in one module per
noun, each registering itself on :data:`main`: :mod:`tlog.cli.keys` (keygen, key
show), :mod:`tlog.cli.write` (init, sequence, submit), :mod:`tlog.cli.serve`,
:mod:`tlog.cli.upload`, :mod:`tlog.cli.checkpoint` (loginfo,
logproof), :mod:`tlog.cli.entry` (get), :mod:`tlog.cli.proof` (prove, verify),
:mod:`tlog.cli.search`, :mod:`tlog.cli.index` (index rebuild), :mod:`tlog.cli.audit`,
:mod:`tlog.cli.monitor`, :mod:`tlog.cli.witness` (witness keygen, serve),
:mod:`tlog.cli.server` (the Rekor v2 write API), :mod:`tlog.cli.freeze` and
:mod:`tlog.cli.sigstore_config`. ``__all__`` names them; the group imports each only
when one of its commands is used (:data:`tlog.cli.app.COMMANDS`), so ``tlog --help`` and
each command load only what they need. None imports this package back.
"""

from __future__ import annotations

from tlog.cli.app import main

__all__ = [
    "audit",
    "checkpoint",
    "entry",
    "freeze",
    "index",
    "keys",
    "main",
    "monitor",
    "proof",
    "search",
    "serve",
    "server",
    "sigstore_config",
    "upload",
    "witness",
    "write",
]
