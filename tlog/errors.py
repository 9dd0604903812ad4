"""The one exception tree of tlog.

Every error tlog raises on purpose derives from :class:`TlogError`; the CLI catches
only these and prints their message as one line. Messages say what was being done and
name the offending value, never a secret.

::

    TlogError
    ├── MalformedError          input bytes that do not parse (note, tile, bundle, entry, key)
    │   ├── OversizeError       input over a documented bound
    │   ├── NothingAdmitted     no input of a batch could be admitted (with each reason)
    │   └── UnsupportedEntryError  a well-formed entry this log does not admit (kind, key)
    ├── VerificationError       a signature, proof or hash that does not check out
    │   └── InconsistencyError  two signed views of a log that cannot both be true (evidence)
    ├── NotFoundError           an object, entry or key that does not exist
    ├── ConflictError           a lost compare-and-swap (another writer won; retry)
    ├── CorruptionError         an immutable object exists with other bytes (fatal alarm)
    ├── StorageError            a backend failure (I/O, permissions, exhausted retries)
    │   └── TransientError      one failed try worth another (network, HTTP 429/5xx)
    └── ConfigError             a bad key, origin, location or option (user error)
        └── LogFrozenError      the log is frozen: it takes no more entries
"""

from __future__ import annotations


class TlogError(Exception):
    """Root of every error tlog raises deliberately."""


class MalformedError(TlogError):
    """Bytes or text that do not follow the format they claim."""


class OversizeError(MalformedError):
    """An input larger than the bound tlog enforces for it."""


class NothingAdmitted(MalformedError):
    """No input of a batch could be admitted; nothing was written.

    ``outcomes`` holds the :class:`tlog.admission.Outcome` of each input (why each was
    refused).
    """

    def __init__(self, message: str, outcomes: tuple[object, ...]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


class UnsupportedEntryError(MalformedError):
    """A well-formed entry of a kind, version, key type or algorithm this log does not admit."""


class VerificationError(TlogError):
    """A signature, inclusion/consistency proof or hash that does not verify."""


class InconsistencyError(VerificationError):
    """Two signed statements by a log that contradict each other.

    ``evidence`` holds what a user can publish to show it: both checkpoints (as signed
    notes) and, where there is one, the proof that fails.
    """

    def __init__(self, message: str, *, evidence: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.evidence: dict[str, object] = dict(evidence or {})


class NotFoundError(TlogError):
    """An object, entry or key that does not exist."""


class ConflictError(TlogError):
    """A compare-and-swap that lost: another writer changed the object first."""


class CorruptionError(TlogError):
    """An immutable object already exists with different bytes: never overwrite, alarm."""


class StorageError(TlogError):
    """A storage backend failed (I/O error, permission, retries exhausted)."""


class TransientError(StorageError):
    """One try that failed in a way worth retrying (a network error, HTTP 429 or 5xx).

    ``retry_after`` is the server's requested wait in seconds (``Retry-After``), if any.
    Fetchers retry these themselves and raise a plain StorageError once they give up.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ConfigError(TlogError):
    """A user-supplied key, origin, location or option that cannot be used."""


class LogFrozenError(ConfigError):
    """The log is frozen (``tlog freeze``): it takes no more entries; use its successor."""
