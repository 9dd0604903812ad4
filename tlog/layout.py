"""The object layout of one log under one prefix, and what each object is served with.

Public objects (served by a CDN or ``tlog serve``), per C2SP tlog-tiles v0.1.0::

    checkpoint                 the latest signed checkpoint (mutable, no-cache)
    tile/<L>/<N>[.p/<W>]       hash tiles (immutable)
    tile/entries/<N>[.p/<W>]   entry bundles (immutable)
    checkpoints/<size>         every checkpoint ever published (immutable)
    checkpoints/covers/<L>/<N>[.p/<W>]   named like hash tile L/N (L = 0, 1): ascending
                               sizes of the checkpoints that end in entry bundle N (L=0)
                               or cross the end of one of bundles 256N..256N+255 (L=1),
                               one per line (immutable; find an entry's integrated time;
                               see tlog.tree "Covers objects")
    index/heads/<size>         the signed index head of each checkpoint (immutable;
                               a reader takes <size> from the checkpoint)
    index/segments/<root hex>  index segments (immutable; docs/index.md)

Private objects, never served (the bucket policy and ``tlog serve`` expose only the
public names above)::

    private/lock               the latest committed checkpoint, compare-and-swapped
    private/staging/<size>-<sha256 of note>   one staged batch (crash recovery)
    private/pending/<time>-<uuid>    queued submissions, oldest first (:mod:`tlog.queue`)
    private/refused/<time>-<uuid>    why a queued submission was refused (submitter-readable)
    private/rejected/<time>-<uuid>   queued submissions that were refused (operator only)

Every key is checked by :func:`check_key` before any backend sees it, so no key can
climb out of the log's prefix.
"""

from __future__ import annotations

import hashlib
import re

from tlog.errors import ConfigError, MalformedError
from tlog.tile import TILE_WIDTH, TileId, hash_tile_for

CHECKPOINT = "checkpoint"
HISTORY_PREFIX = "checkpoints/"
TILE_PREFIX = "tile/"
LOCK = "private/lock"
STAGING_PREFIX = "private/staging/"
PENDING_PREFIX = "private/pending/"
REJECTED_PREFIX = "private/rejected/"
REFUSED_PREFIX = "private/refused/"
INDEX_PREFIX = "index/"
INDEX_HISTORY_PREFIX = "index/heads/"
INDEX_SEGMENT_PREFIX = "index/segments/"

#: Bounds for reads of each kind of object.
MAX_CHECKPOINT_SIZE = 1 << 20
MAX_KEY_LENGTH = 512

_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")

CONTENT_TEXT = "text/plain; charset=utf-8"
CONTENT_BINARY = "application/octet-stream"
CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_NONE = "no-cache"
CACHE_PRIVATE = "private, no-store"


def check_key(key: str) -> str:
    """Refuse any key that is not a plain relative path of safe segments."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise MalformedError(f"object key of length {len(key)} is not allowed")
    for seg in key.split("/"):
        if not _SEGMENT.fullmatch(seg) or seg in (".", ".."):
            raise MalformedError(f"object key {key[:100]!r} has an unsafe segment {seg[:40]!r}")
    return key


def is_key(key: str) -> bool:
    """True iff :func:`check_key` accepts ``key``."""
    try:
        check_key(key)
    except MalformedError:
        return False
    return True


def history_key(size: int) -> str:
    return f"{HISTORY_PREFIX}{size}"


def index_history_key(size: int) -> str:
    """The index head of the checkpoint of ``size`` (docs/index.md)."""
    return f"{INDEX_HISTORY_PREFIX}{size}"


#: Bound of a covers object: at most 256 sizes (≤ 19 digits and a newline each).
MAX_COVER_SIZE = TILE_WIDTH * 20


def covers_key(tid: TileId) -> str:
    """The covers object named like hash tile ``tid`` (level 0: per entry bundle, level 1:
    per 256 bundles; :mod:`tlog.tree` "Covers objects"), e.g.
    ``checkpoints/covers/0/x001/234.p/5`` beside ``tile/0/x001/234.p/5``."""
    if tid.is_entries or tid.level > 1:
        raise MalformedError(
            f"covers objects are named by level-0 and level-1 tiles, not {tid.path()}"
        )
    return f"{HISTORY_PREFIX}covers/{tid.path()[len(TILE_PREFIX) :]}"


def cover_for(index: int, size: int) -> str:
    """The level-0 covers object a reader of a tree of ``size`` consults for leaf ``index``
    (the one of its entry bundle)."""
    if not 0 <= index < size:
        raise MalformedError(f"no covers object for leaf {index} of a tree of size {size}")
    return covers_key(hash_tile_for(0, size, index // TILE_WIDTH))


def staging_key(size: int, note: bytes) -> str:
    """The staging bundle of the batch whose signed checkpoint is ``note``.

    Named by the note's hash, not the root: two runs staging the same entries on the
    same state get different notes (timestamps, ECDSA nonces), so never share a bundle.
    """
    return f"{STAGING_PREFIX}{size}-{hashlib.sha256(note).hexdigest()}"


def pending_key(name: str) -> str:
    return f"{PENDING_PREFIX}{name}"


def refused_key(name: str) -> str:
    return f"{REFUSED_PREFIX}{name}"


def is_public(key: str) -> bool:
    """True for the objects a reader may fetch; private ones are never served."""
    if not is_key(key):
        return False
    return key == CHECKPOINT or key.startswith(
        (TILE_PREFIX, HISTORY_PREFIX, INDEX_HISTORY_PREFIX, INDEX_SEGMENT_PREFIX)
    )


def headers(key: str) -> tuple[str, str]:
    """(Content-Type, Cache-Control) for an object, as docs/design.md's "Object layout" gives."""
    if key == CHECKPOINT:
        return CONTENT_TEXT, CACHE_NONE
    if key.startswith((HISTORY_PREFIX, INDEX_HISTORY_PREFIX)):
        return CONTENT_TEXT, CACHE_IMMUTABLE
    if key.startswith((TILE_PREFIX, INDEX_SEGMENT_PREFIX)):
        return CONTENT_BINARY, CACHE_IMMUTABLE
    return CONTENT_BINARY, CACHE_PRIVATE


def check_public(path: str) -> str:
    """``path`` if a reader may fetch it; ConfigError for private or unsafe paths."""
    check_key(path)
    if not is_public(path):
        raise ConfigError(f"refusing to fetch non-public object {path!r}")
    return path
