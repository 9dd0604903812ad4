"""C2SP tlog-policy: which logs and witnesses a party knows, and the quorum of
cosignatures (C2SP tlog-cosignature v1) a checkpoint needs to be accepted.

A policy file is lines of items separated by spaces and tabs; blank and ``#`` lines are
ignored (tlog-policy "Structure")::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <member>...
    quorum <name>|none

A group or the quorum may only name witnesses and groups defined on earlier lines, a
name is a member at most once in the whole file, and exactly one quorum line is
required. Duplicate keys (the same public key under any name) are refused. Errors name
the line. Names are opaque octets (tlog-policy "Character set"); this parser reads them
as UTF-8 with surrogate escapes, so distinct octets stay distinct names.

:meth:`Policy.cosigners` verifies a note's cosignature lines against the policy's
witness keys (type 0x04, key ID = SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4]): lines from
unknown keys are ignored, a known key whose line fails verification rejects the note
(altered, or replayed from another checkpoint), and so does a cosignature timestamped
further in the future than the allowed skew. :meth:`Policy.check` then requires the
quorum.

Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tlog.codec import b64decode
from tlog.errors import MalformedError, OversizeError, VerificationError
from tlog.note import CosignatureVerifier, Note, Verifier
from tlog.vkey import parse_vkey

#: Bounds: the spec recommends supporting at least 32 of each; tlog allows far more.
MAX_POLICY_SIZE = 1 << 20
MAX_ITEMS = 1024
#: How far in the future a cosignature timestamp may be (clock skew), in seconds.
MAX_FUTURE_SKEW = 600

NONE = "none"


@dataclass(frozen=True)
class Log:
    """A log the policy accepts: its vkey (whose name is its origin) and optional URL."""

    verifier: Verifier
    url: str | None = None

    @property
    def origin(self) -> str:
        return self.verifier.name


@dataclass(frozen=True)
class Witness:
    """A witness: its policy-local name, cosignature/v1 verifier and optional
    submission prefix URL (tlog-witness "HTTP Interface")."""

    name: str
    verifier: CosignatureVerifier
    url: str | None = None


@dataclass(frozen=True)
class Group:
    """Witnessed iff at least ``threshold`` of ``members`` (witnesses or groups) are."""

    name: str
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed policy; ``quorum`` is None for ``quorum none``."""

    logs: tuple[Log, ...]
    witnesses: tuple[Witness, ...]
    groups: tuple[Group, ...]
    quorum: str | None

    @classmethod
    def parse(cls, data: bytes) -> Policy:
        """Parse a policy file strictly (tlog-policy "Policy file syntax and structure")."""
        if len(data) > MAX_POLICY_SIZE:
            raise OversizeError(f"policy is {len(data)} bytes, over {MAX_POLICY_SIZE}")
        return _Parser().run(data)

    def format(self) -> bytes:
        lines = [_opt(f"log {lg.verifier.vkey()}", lg.url) for lg in self.logs]
        lines += [_opt(f"witness {w.name} {w.verifier.vkey()}", w.url) for w in self.witnesses]
        for g in self.groups:
            lines.append(f"group {g.name} {g.threshold} {' '.join(g.members)}")
        lines.append(f"quorum {self.quorum or NONE}")
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")

    def log_verifiers(self, origin: str) -> list[Verifier]:
        """The keys of the logs whose origin is ``origin`` (empty if unknown)."""
        return [lg.verifier for lg in self.logs if lg.origin == origin]

    def satisfied(self, cosigned: Iterable[str]) -> bool:
        """Whether witnesses named ``cosigned`` make up the quorum (tlog-policy "Defining
        a witness group": a group is witnessed iff k of its n members are)."""
        if self.quorum is None:
            return True
        done = set(cosigned)
        groups = {g.name: g for g in self.groups}

        def witnessed(name: str) -> bool:
            group = groups.get(name)
            if group is None:
                return name in done
            return sum(witnessed(m) for m in group.members) >= group.threshold

        return witnessed(self.quorum)

    def cosigners(self, note: Note, now: int | None = None) -> dict[str, int]:
        """The witnesses whose cosignature on ``note`` verifies, with its timestamp.

        Unknown lines are ignored; a known key's line that fails, or (given ``now``) is
        dated more than :data:`MAX_FUTURE_SKEW` seconds ahead, raises VerificationError.
        """
        text = note.text.encode("utf-8")
        known = {(w.verifier.name, w.verifier.key_id): w for w in self.witnesses}
        out: dict[str, int] = {}
        for sig in note.signatures:
            w = known.get((sig.name, sig.key_id))
            if w is None:
                continue
            if not w.verifier.verify(text, sig.signature):
                raise VerificationError(
                    f"cosignature by witness {w.name} ({sig.name}+{sig.key_id.hex()}) does not "
                    "verify: altered, or taken from another checkpoint"
                )
            ts = w.verifier.timestamp(sig.signature)
            if now is not None and ts > now + MAX_FUTURE_SKEW:
                raise VerificationError(
                    f"cosignature by witness {w.name} is dated {ts}, in the future (now {now})"
                )
            out[w.name] = ts
        return out

    def check(self, note: Note, now: int | None = None) -> dict[str, int]:
        """:meth:`cosigners`, and VerificationError unless they satisfy the quorum."""
        cosigned = self.cosigners(note, now)
        if not self.satisfied(cosigned):
            have = ", ".join(sorted(cosigned)) or "none"
            raise VerificationError(
                f"checkpoint is not cosigned by a quorum of witnesses ({self.quorum}); "
                f"valid cosignatures from: {have}"
            )
        return cosigned


def _opt(line: str, url: str | None) -> str:
    return f"{line} {url}" if url else line


class _Parser:
    """One pass over the lines, checking each against those before it."""

    def __init__(self) -> None:
        self.logs: list[Log] = []
        self.witnesses: list[Witness] = []
        self.groups: list[Group] = []
        self.quorum: str | bool | None = False  # False: no quorum line yet
        self.names: set[str] = set()
        self.members: set[str] = set()
        self.keys: set[bytes] = set()

    def run(self, data: bytes) -> Policy:
        for b in data:
            if (b < 0x20 and b not in (0x09, 0x0A)) or b == 0x7F:
                raise MalformedError(f"policy holds control character 0x{b:02x}")
        text = data.decode("utf-8", "surrogateescape")
        for n, line in enumerate(text.split("\n"), 1):
            # Whitespace is ASCII space and tab only (tlog-policy "Structure").
            fields = [f for f in line.replace("\t", " ").split(" ") if f]
            if not fields or fields[0].startswith("#"):
                continue
            try:
                self.line(fields)
            except MalformedError as exc:
                raise MalformedError(f"policy line {n}: {exc}") from None
        if self.quorum is False:
            raise MalformedError("policy has no quorum line")
        quorum = self.quorum if isinstance(self.quorum, str) else None
        return Policy(tuple(self.logs), tuple(self.witnesses), tuple(self.groups), quorum)

    def line(self, fields: Sequence[str]) -> None:
        kind, args = fields[0], fields[1:]
        if len(self.logs) + len(self.witnesses) + len(self.groups) >= MAX_ITEMS:
            raise OversizeError(f"over {MAX_ITEMS} logs, witnesses and groups")
        if kind == "log":
            self.log(args)
        elif kind == "witness":
            self.witness(args)
        elif kind == "group":
            self.group(args)
        elif kind == "quorum":
            if len(args) != 1:
                raise MalformedError("want 'quorum <name>' or 'quorum none'")
            if self.quorum is not False:
                raise MalformedError("a second quorum line")
            if args[0] != NONE and args[0] not in self.names:
                raise MalformedError(f"quorum names {args[0]!r}, not defined on an earlier line")
            self.quorum = None if args[0] == NONE else args[0]
        else:
            raise MalformedError(f"unknown keyword {kind!r}")

    def key(self, vkey: str) -> Verifier:
        v = parse_vkey(vkey)
        public = b64decode(v.vkey().split("+", 2)[2], "vkey")[1:]  # the key, whatever its type
        if public in self.keys:
            raise MalformedError(f"duplicate key {vkey[:60]!r}")
        self.keys.add(public)
        return v

    def log(self, args: Sequence[str]) -> None:
        if len(args) not in (1, 2):
            raise MalformedError("want 'log <vkey> [<url>]'")
        v = self.key(args[0])
        if isinstance(v, CosignatureVerifier):
            raise MalformedError("a log key must be a checkpoint signing key, not type 0x04")
        self.logs.append(Log(v, args[1] if len(args) == 2 else None))

    def define(self, name: str) -> None:
        if name == NONE:
            raise MalformedError("'none' is predefined")
        if name in self.names:
            raise MalformedError(f"name {name!r} is defined twice")
        self.names.add(name)

    def witness(self, args: Sequence[str]) -> None:
        if len(args) not in (2, 3):
            raise MalformedError("want 'witness <name> <vkey> [<url>]'")
        v = self.key(args[1])
        if not isinstance(v, CosignatureVerifier):
            raise MalformedError("a witness key must be a cosignature/v1 (type 0x04) vkey")
        self.define(args[0])
        self.witnesses.append(Witness(args[0], v, args[2] if len(args) == 3 else None))

    def group(self, args: Sequence[str]) -> None:
        if len(args) < 3:
            raise MalformedError("want 'group <name> all|any|<k> <member>...'")
        name, k, members = args[0], args[1], args[2:]
        for m in members:
            if m not in self.names:
                raise MalformedError(f"group member {m!r} is not defined on an earlier line")
            if m in self.members:
                raise MalformedError(f"{m!r} is already a group member")
            self.members.add(m)
        if k == "all":
            threshold = len(members)
        elif k == "any":
            threshold = 1
        elif k.isascii() and k.isdigit() and (k == "0" or not k.startswith("0")):
            threshold = int(k)
            if not 1 <= threshold <= len(members):
                raise MalformedError(f"threshold {k} is not between 1 and {len(members)}")
        else:
            raise MalformedError(f"threshold {k!r} is not all, any or a decimal")
        self.define(name)
        self.groups.append(Group(name, threshold, tuple(members)))
