"""A log in a local folder: one file per object, made durable with fsync and rename.

Object ``key`` lives at ``root/key``. Every mutation first writes the new bytes to a temp
file in the target's directory (:mod:`tlog.storage.temp`: ``.tmp-tlog-<pid>-<n>``, never
a valid key), flushes and fsyncs it, and only then makes it visible in one atomic step:

* :meth:`FolderStore.write` renames the temp file over the target;
* :meth:`FolderStore.create` (``create_file``: copied from a file) hard-links it to the
  target, which fails if it exists: no reader sees a partial file, no two creators win;
* :meth:`FolderStore.create_many` does the same for a batch, with one ``syncfs`` of the
  temp files (some perhaps written ahead: :meth:`FolderStore.prepare_many`);
* :meth:`FolderStore.swap` holds an exclusive ``flock`` on a sidecar lock file
  (``.lock-<name>`` next to the object, never a valid key) while it compares and renames.

The directory is fsynced after the rename, link or unlink, so the new name is durable
when the call returns (POSIX rename/link atomicity; Linux ``fsync(2)`` on directories).
A crash leaves at worst a temp file behind, which reads and listings ignore and the
next write into that directory removes once it is stale.

Keys are checked by :func:`tlog.layout.check_key`; on top of that no object may resolve
(through a symlink) to a path outside ``root``. Symlinks are never listed.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO

from tlog.errors import (
    ConflictError,
    CorruptionError,
    MalformedError,
    NotFoundError,
    OversizeError,
    StorageError,
)
from tlog.layout import check_key, is_key
from tlog.storage import check_range, file_sha256, temp

_LOCK = ".lock-"
_CHUNK = 1 << 20
#: How often :meth:`FolderStore.create` retries when the object it found vanishes.
_CREATE_ATTEMPTS = 3


class FolderStore:
    """A :class:`~tlog.storage.Store` over the files under ``root``.

    The version token of :meth:`read_versioned` and :meth:`swap` is the lowercase hex
    SHA-256 of the object's bytes: writing the same bytes again yields the same token.

    Safe to share between threads and between processes on one host (``flock`` is not
    reliable on network filesystems). Directories are created as needed, ``root``
    included; which ones exist is remembered, so steady-state writes cost no ``mkdir``.
    Every OS failure surfaces as a one-line :class:`~tlog.errors.StorageError` naming
    the path.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))  # the same folder after a chdir, or pickled
        self._root = str(self.root)
        self._real_root = os.path.realpath(self._root)
        self._inside: set[str] = {""}  # relative folders whose real path stays inside
        self._made: set[str] = set()  # relative folders known to exist
        self._seq = temp.NUMBERS  # shared: two stores on one root pick different names
        self._ahead = temp.Ahead()  # temp files of a coming create_many (prepare_many)

    def __repr__(self) -> str:
        return f"FolderStore({self._root!r})"

    # -- Store -----------------------------------------------------------------------

    def read(self, key: str, limit: int) -> bytes:
        """The object's bytes, reading at most ``limit + 1`` of them."""
        return self._read(key, limit)

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` (one pread)."""
        _, _, path = self._locate(key)
        fd = self._open(path)
        if fd is None:
            raise NotFoundError(f"no object {key!r} in {self._root}")
        try:
            with self._failing("read", path):
                data = os.pread(fd, length, start) if length else b""
        finally:
            os.close(fd)
        return check_range(key, data, start, length)

    def read_versioned(self, key: str, limit: int) -> tuple[bytes, str]:
        """The object's bytes and their hex SHA-256 (the version :meth:`swap` expects)."""
        data = self._read(key, limit)
        return data, hashlib.sha256(data).hexdigest()

    def create(self, key: str, data: bytes) -> None:
        """Create-if-absent by hard-linking a synced temp file to the target name."""
        self._create(key, data)

    def create_file(self, key: str, file: BinaryIO) -> None:
        """:meth:`create`, the temp file copied from ``file`` a chunk at a time."""
        self._create(key, file)

    def _create(self, key: str, data: bytes | BinaryIO) -> None:
        rel, folder, path = self._locate(key)
        for _ in range(_CREATE_ATTEMPTS):
            tmp = self._stage(rel, folder, data)
            with self._failing("create", path):
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    linked = False
                else:
                    linked = True
                finally:
                    with suppress(OSError):  # a leftover temp file is harmless
                        os.unlink(tmp)
                if not linked and os.path.isdir(path):
                    raise StorageError(f"cannot create {path}: it is a directory")
                if not linked:
                    existing = self._digest(path)
                    if existing is None:
                        continue  # deleted since the link failed: try again
                    if existing != _sha256(data):
                        raise CorruptionError(f"immutable object {key!r} in {self._root} differs")
                # Created, or there with identical bytes: success once the name is durable.
                self._sync_dir(folder)
                return
        raise StorageError(f"cannot create {path}: it keeps vanishing under concurrent deletes")

    def create_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """:meth:`create` for a batch, made durable with one filesystem sync.

        Temp files are written unsynced (or were, by :meth:`prepare_many`), the whole
        filesystem is synced once (``syncfs(2)``, else ``sync(2)``), then each is
        hard-linked into place (existing identical bytes are success, different bytes
        CorruptionError), and each directory touched is fsynced once. A batch of
        thousands of tiles costs one sync instead of one per file.
        """
        prepared = self._ahead.take({key for key, _ in items})
        staged: list[tuple[str, str, str, str, bytes]] = []
        try:
            for key, data in items:
                rel, folder, path = self._locate(key)
                tmp = temp.pick(prepared, key, data) or self._stage(rel, folder, data, False)
                staged.append((key, folder, path, tmp, data))
            if not staged:
                return
            with self._failing("sync", self._root):
                temp.syncfs(self._root)
            folders: set[str] = set()
            fallback: list[tuple[str, bytes]] = []
            for key, folder, path, tmp, data in staged:
                with self._failing("create", path):
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        fallback.append((key, data))  # compare bytes the careful way
                    else:
                        folders.add(folder)
            for folder in folders:
                with self._failing("sync", folder):
                    self._sync_dir(folder)
            for key, data in fallback:
                self.create(key, data)
        finally:
            temp.remove([*(s[3] for s in staged), *(t for t, _ in prepared.values())])

    def prepare_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Have a helper process (:mod:`tlog.storage.maker`) write, unsynced, the temp
        files of a coming :meth:`create_many` while the caller works (making a file is
        most of a tile's cost). Nothing is visible: create_many links those whose key
        and bytes match after its sync, and removes the rest of the jobs up to its own
        (later jobs stay). Best effort: create_many writes a file not made."""
        files: list[tuple[str, str, bytes]] = []
        for key, data in items:
            with suppress(StorageError, MalformedError):
                rel, folder, _ = self._locate(key)
                self._ensure_dir(rel, folder)
                files.append((key, temp.path(folder, self._seq.__next__), data))
        self._ahead.start(files)

    def preparing(self) -> bool:
        return not self._ahead.idle()  # files prepare_many asked for are being written

    def discard_prepared(self) -> None:
        self._ahead.drop()  # stop writing ahead; remove what no create_many took

    def write(self, key: str, data: bytes) -> None:
        """Replace the object by renaming a synced temp file over it."""
        rel, folder, path = self._locate(key)
        self._replace(rel, folder, path, data)

    def swap(self, key: str, data: bytes, expect: str | None) -> str:
        """Compare-and-swap under an exclusive ``flock`` on ``.lock-<name>``.

        ``expect`` is the hex SHA-256 of the bytes the caller last read (``None``: the
        object must be absent). Only :meth:`swap` takes the lock, so a concurrent
        :meth:`write` or :meth:`delete` of the same key is not excluded.
        """
        rel, folder, path = self._locate(key)
        lock = os.path.join(folder, _LOCK + os.path.basename(path))
        self._ensure_dir(rel, folder)
        with self._failing("lock", lock):
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            with self._failing("lock", lock):
                fcntl.flock(fd, fcntl.LOCK_EX)
            if self._digest(path) != expect:
                raise ConflictError(
                    f"{key!r} in {self._root} changed under us (compare-and-swap lost)"
                )
            self._replace(rel, folder, path, data)
        finally:
            os.close(fd)  # releases the lock
        return hashlib.sha256(data).hexdigest()

    def delete(self, key: str) -> None:
        """Unlink the object (a directory or nothing at ``key`` is no object: success)."""
        _, folder, path = self._locate(key)
        with self._failing("delete", path):
            try:
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                return
            self._sync_dir(folder)

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted; temp, lock and stray files skipped.

        ``prefix`` is a key prefix, not necessarily whole segments (``tile/0/x0``); one
        that no valid key can start with (``..``, a leading ``/``) is MalformedError.
        """
        _check_prefix(prefix)
        base = prefix.rpartition("/")[0]
        start = self._inside_dir(base)
        keys: list[str] = []
        todo = [(start, base)]
        while todo:
            folder, rel = todo.pop()
            with self._failing("list", folder):
                try:
                    entries = list(os.scandir(folder))
                except (FileNotFoundError, NotADirectoryError):
                    continue
            for entry in entries:
                name = f"{rel}/{entry.name}" if rel else entry.name
                if not is_key(name):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if (name + "/").startswith(prefix) or prefix.startswith(name + "/"):
                        todo.append((entry.path, name))
                elif entry.is_file(follow_symlinks=False) and name.startswith(prefix):
                    keys.append(name)
        return sorted(keys)

    # -- paths -----------------------------------------------------------------------

    def _locate(self, key: str) -> tuple[str, str, str]:
        """(relative directory, absolute directory, absolute path) of a checked key."""
        check_key(key)
        rel, _, _ = key.rpartition("/")
        return rel, self._inside_dir(rel), os.path.join(self._root, key)

    def _inside_dir(self, rel: str) -> str:
        """The absolute path of directory ``rel``, refused if it resolves outside root."""
        folder = os.path.join(self._root, rel) if rel else self._root
        if rel not in self._inside:
            real = os.path.realpath(folder)
            if not self._is_inside(real):
                raise StorageError(
                    f"refusing {folder}: it resolves to {real}, outside the store root"
                    f" {self._real_root}"
                )
            self._inside.add(rel)
        return folder

    def _is_inside(self, real: str) -> bool:
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)

    def _ensure_dir(self, rel: str, folder: str) -> None:
        """Create ``folder`` and missing parents, fsyncing each new entry's parent; an
        existing one is first swept of killed runs' temp files (once per store)."""
        if rel in self._made:
            return
        missing: list[str] = []
        current = folder
        while True:
            try:
                mode = os.stat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                missing.append(current)
                parent = os.path.dirname(current)
                if parent == current:
                    break
                current = parent
                continue
            except OSError as e:
                raise StorageError(f"cannot use folder {current}: {_reason(e)}") from e
            if not stat.S_ISDIR(mode):
                raise StorageError(f"cannot use folder {current}: it is not a directory")
            break
        for new in reversed(missing):
            try:
                os.mkdir(new)
            except FileExistsError:  # made by a concurrent writer
                if not os.path.isdir(new):
                    raise StorageError(f"cannot use folder {new}: it is not a directory") from None
            except OSError as e:
                raise StorageError(f"cannot create folder {new}: {_reason(e)}") from e
            self._sync_dir(os.path.dirname(new))
        if not missing:
            temp.sweep(folder)
        self._made.add(rel)

    # -- IO --------------------------------------------------------------------------

    @contextmanager
    def _failing(self, action: str, path: str) -> Iterator[None]:
        """Turn an OSError into a one-line StorageError naming ``path``."""
        try:
            yield
        except OSError as e:
            raise StorageError(f"cannot {action} {path}: {_reason(e)}") from e

    def _stage(self, rel: str, folder: str, data: bytes | BinaryIO, sync: bool = True) -> str:
        """Write ``data`` to a fresh (by default synced) temp file in ``folder``."""
        for attempt in range(2):
            self._ensure_dir(rel, folder)
            try:
                return temp.write(folder, self._seq.__next__, data, sync)
            except FileNotFoundError:
                if attempt:
                    raise StorageError(f"cannot write in {folder}: it keeps vanishing") from None
                self._made.discard(rel)  # removed behind our back: create it again
        raise AssertionError("unreachable")

    def _replace(self, rel: str, folder: str, path: str, data: bytes) -> None:
        tmp = self._stage(rel, folder, data)
        try:
            with self._failing("write", path):
                os.replace(tmp, path)
                self._sync_dir(folder)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise

    def _sync_dir(self, folder: str) -> None:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        except OSError as e:
            if e.errno != errno.EINVAL:  # some filesystems cannot sync a directory
                raise
        finally:
            os.close(fd)

    def _open(self, path: str) -> int | None:
        """A read-only descriptor of the regular file at ``path``, or None if there is none.

        A symlink is followed only when its target stays inside root.
        """
        with self._failing("read", path):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError):
                return None
            except OSError as e:
                if e.errno != errno.ELOOP:
                    raise
                real = os.path.realpath(path)
                if not self._is_inside(real):
                    raise StorageError(
                        f"refusing {path}: it links to {real}, outside the store root"
                        f" {self._real_root}"
                    ) from None
                try:
                    fd = os.open(real, os.O_RDONLY | os.O_CLOEXEC)
                except (FileNotFoundError, NotADirectoryError):
                    return None
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                return None
            return fd

    def _read(self, key: str, limit: int) -> bytes:
        _, _, path = self._locate(key)
        return self._load(path, key, limit)

    def _load(self, path: str, key: str, limit: int) -> bytes:
        """The file's bytes; never more than ``limit + 1`` of them are read."""
        fd = self._open(path)
        if fd is None:
            raise NotFoundError(f"no object {key!r} in {self._root}")
        chunks: list[bytes] = []
        try:
            with self._failing("read", path):
                size = os.fstat(fd).st_size
                want = min(size, limit) + 1
                got = 0
                while got < want and (chunk := os.read(fd, want - got)):
                    chunks.append(chunk)
                    got += len(chunk)
        finally:
            os.close(fd)
        if max(size, got) > limit:
            raise OversizeError(
                f"object {key!r} in {self._root} is {max(size, got)} bytes, over the {limit} limit"
            )
        return b"".join(chunks)

    def _digest(self, path: str) -> str | None:
        """Hex SHA-256 of the file at ``path``, streamed; None if absent."""
        fd = self._open(path)
        if fd is None:
            return None
        digest = hashlib.sha256()
        try:
            with self._failing("read", path):
                while chunk := os.read(fd, _CHUNK):
                    digest.update(chunk)
        finally:
            os.close(fd)
        return digest.hexdigest()


def _check_prefix(prefix: str) -> None:
    """Refuse a list prefix that no valid key can start with."""
    if prefix and not is_key(prefix + "x" if prefix.endswith("/") else prefix):
        raise MalformedError(f"list prefix {prefix[:100]!r} cannot start any valid key")


def _sha256(data: bytes | BinaryIO) -> str:
    """Hex SHA-256 of the bytes or the file (streamed: the object may be big)."""
    if isinstance(data, bytes):
        return hashlib.sha256(data).hexdigest()
    return file_sha256(data).hex()


def _reason(e: OSError) -> str:
    return e.strerror or str(e)
