"""Regenerate the golden log in ``tiles/`` byte for byte.

The golden log is small and deterministic: a fixed Ed25519 key (seed derived from a
fixed string), a fixed clock, and fixed raw entries sequenced in several batches, so
that it has full and partial level-0 tiles and bundles, a partial level-1 tile, and a
history of checkpoints with their covers objects (one per entry bundle and width).
Ed25519 is deterministic (RFC 8032), so every byte is reproducible. Client and
sequencer tests read it.

Usage: python tools/make_golden.py [OUT]   (default: tiles/ next to this folder)
       python tools/make_golden.py --check  (exit 1 if tiles/ differs from a rebuild)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog import layout
from tlog.keys import LogKeys
from tlog.note import Ed25519Signer
from tlog.sequencer import Candidate, Sequencer
from tlog.storage.memory import MemoryStore

ORIGIN = "golden.tlog.example/log"
SEED = hashlib.sha256(b"tlog golden log key, not secret").digest()
BATCHES = (1, 2, 13, 240, 1, 255, 16, 100, 3, 70)
START_TIME = 1_767_225_600  # 2026-01-01T00:00:00Z


def golden_keys() -> LogKeys:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(SEED)
    return LogKeys(ORIGIN, key)


def entry(i: int) -> bytes:
    return f"golden entry {i}: {hashlib.sha256(b'%d' % i).hexdigest()}\n".encode()


def build(out: Path) -> None:
    keys = golden_keys()
    store = MemoryStore()
    batch_no = 0

    def clock() -> int:
        return START_TIME + 60 * batch_no

    seq = Sequencer(store, keys, clock=clock)
    seq.init()
    n = 0
    for size in BATCHES:
        batch_no += 1
        seq.sequence([Candidate(f"e{n + i}", entry(n + i)) for i in range(size)])
        n += size
    for key, data in sorted(store.objects.items()):
        if layout.is_public(key):
            path = out / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    (out / "log.vkey").write_text("".join(v + "\n" for v in keys.vkeys()))
    (out / "signer.key").write_text(Ed25519Signer(ORIGIN, keys.ed25519).signer_key() + "\n")
    (out / "entries.txt").write_text(f"{n} entries; batches {list(BATCHES)}\n")


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parents[1] / "tiles"
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=here, help="folder to write (tiles/)")
    ap.add_argument("--check", action="store_true", help="exit 1 if tiles/ differs from a rebuild")
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            build(Path(tmp))
            fresh, committed = tree(Path(tmp)), tree(args.out)
            committed.pop("README.md", None)
            if fresh != committed:
                diff = sorted(set(fresh) ^ set(committed)) or sorted(
                    k for k in fresh if fresh[k] != committed.get(k)
                )
                print(f"{args.out} differs from a rebuild: {diff[:10]}")
                return 1
        print(f"{args.out} matches a rebuild")
        return 0
    out: Path = args.out
    for child in out.glob("*"):
        if child.name != "README.md":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    build(out)
    print(f"wrote golden log to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
