"""tlog.layout: safe object keys, public/private split and serving headers."""

from __future__ import annotations

import pytest

from tlog import layout
from tlog.errors import MalformedError
from tlog.tile import ENTRIES, TileId

TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"


@pytest.mark.parametrize(
    "key",
    [
        "checkpoint",
        "checkpoints/0",
        "checkpoints/20852163",
        "tile/0/000",
        "tile/0/x001/x234/067.p/5",
        "tile/entries/x001/000.p/255",
        "private/lock",
        "private/staging/5-" + "ab" * 32,
        "private/pending/" + "0f" * 32,
        "a" * layout.MAX_KEY_LENGTH,
        "_x/y-z.w",
    ],
)
def test_check_key_accepts(key: str) -> None:
    assert layout.check_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        ".",
        "..",
        "../checkpoint",
        "tile/../private/lock",
        "tile/./0/000",
        "tile/0/..",
        "tile//000",
        "tile/0/",
        "/checkpoint",
        "/",
        "//evil.example/x",
        "tile\\0\\000",
        "tile/0\\..\\..\\x",
        "checkpoint\x00",
        "tile/0/\x00/000",
        "a" * (layout.MAX_KEY_LENGTH + 1),
        "x/" * 300 + "x",
        ".hidden",
        "-flag",
        "check point",
        "checkpoint\n",
        "tile/0/%2e%2e",
        "cafe\u0301",
        "\u0130",
        "~/x",
        "C:/x",
    ],
)
def test_check_key_refuses(key: str) -> None:
    with pytest.raises(MalformedError):
        layout.check_key(key)


def test_every_tile_path_is_a_safe_key() -> None:
    for tid in [TileId(0, 0), TileId(63, 10**12, 1), TileId(ENTRIES, 1234067, 255)]:
        assert layout.check_key(tid.path()) == tid.path()


def test_helper_keys_are_safe() -> None:
    for key in [
        layout.history_key(0),
        layout.history_key(2**63 - 1),
        layout.staging_key(7, b"origin\n7\n..."),
        layout.pending_key("ab" * 32),
        layout.LOCK,
        layout.CHECKPOINT,
    ]:
        layout.check_key(key)
    assert layout.history_key(12) == "checkpoints/12"


def test_headers() -> None:
    # tlog-tiles: checkpoint is text/plain; charset=utf-8 and mutable (no long caching);
    # tiles and bundles are application/octet-stream and immutable.
    assert layout.headers("checkpoint") == (TEXT, "no-cache")
    immutable = "public, max-age=31536000, immutable"
    assert layout.headers("checkpoints/42") == (TEXT, immutable)
    assert layout.headers("tile/0/000") == (BINARY, immutable)
    assert layout.headers("tile/3/x001/000.p/7") == (BINARY, immutable)
    assert layout.headers("tile/entries/000.p/1") == (BINARY, immutable)
    for key in ["private/lock", "private/staging/1-00", "private/pending/ab"]:
        _, cache = layout.headers(key)
        assert cache.startswith("private")
        assert "public" not in cache and "immutable" not in cache


def test_is_public() -> None:
    for key in ["checkpoint", "checkpoints/1", "tile/0/000", "tile/entries/000.p/3"]:
        assert layout.is_public(key)
    for key in [
        "private/lock",
        "private/staging/1-00",
        "private/pending/ab",
        "checkpoint.tmp",
        "checkpointx",
        "tiles/0/000",
        "tile",
        "checkpoints",
        "",
    ]:
        assert not layout.is_public(key), key
