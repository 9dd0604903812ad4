"""C2SP tlog-policy parsing and quorums, and cosignature checks against a policy."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from tlog.checkpoint import Checkpoint
from tlog.errors import MalformedError, VerificationError
from tlog.note import CosignatureSigner, Ed25519Signer, Note, Signature, sign
from tlog.policy import Policy

NOW = 1_700_000_000


def cosigner(name: str, ts: int = NOW) -> CosignatureSigner:
    return CosignatureSigner(name, ed25519.Ed25519PrivateKey.generate(), lambda: ts)


def log_signer(origin: str = "example.com/log") -> Ed25519Signer:
    return Ed25519Signer(origin, ed25519.Ed25519PrivateKey.generate())


LOG = log_signer()
W = {n: cosigner(f"w{n}.example") for n in range(1, 7)}


def example_policy() -> bytes:
    """The spec's example: 2 of X1..X3 and any of Y1..Y3."""
    lines = [f"log {LOG.verifier().vkey()}"]
    lines += [f"witness X{n} {W[n].verifier().vkey()}" for n in (1, 2, 3)]
    lines += ["group X-witnesses 2 X1 X2 X3"]
    lines += [
        f"witness Y{n - 3}\t{W[n].verifier().vkey()} https://w{n}.example/" for n in (4, 5, 6)
    ]
    lines += ["  # a comment", "", "group Y-witnesses any Y1 Y2 Y3"]
    lines += ["group X-and-Y all X-witnesses Y-witnesses", "quorum X-and-Y"]
    return ("\n".join(lines) + "\n").encode()


def test_parse_the_spec_example() -> None:
    p = Policy.parse(example_policy())
    assert [lg.origin for lg in p.logs] == ["example.com/log"]
    assert [w.name for w in p.witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert p.witnesses[3].url == "https://w4.example/"
    assert p.quorum == "X-and-Y"
    assert [(g.name, g.threshold) for g in p.groups] == [
        ("X-witnesses", 2),
        ("Y-witnesses", 1),
        ("X-and-Y", 2),
    ]
    assert Policy.parse(p.format()) == p


@pytest.mark.parametrize(
    ("cosigned", "ok"),
    [
        ({"X1", "X2", "Y3"}, True),
        ({"X1", "X3", "Y1", "Y2"}, True),
        ({"X1", "Y1", "Y2", "Y3"}, False),
        ({"X1", "X2", "X3"}, False),
        (set(), False),
    ],
)
def test_quorum_of_nested_groups(cosigned: set[str], ok: bool) -> None:
    assert Policy.parse(example_policy()).satisfied(cosigned) is ok


def test_quorum_none_needs_nothing() -> None:
    assert Policy.parse(b"quorum none\n").satisfied(()) is True


def test_many_logs_witnesses_and_groups() -> None:
    lines = [f"log {log_signer(f'l{i}.example').verifier().vkey()}" for i in range(40)]
    lines += [f"witness w{i} {cosigner(f'w{i}.example').verifier().vkey()}" for i in range(40)]
    lines += [f"group g{i} any w{i}" for i in range(40)]
    lines += ["group top 40 " + " ".join(f"g{i}" for i in range(40)), "quorum top"]
    p = Policy.parse(("\n".join(lines) + "\n").encode())
    assert (len(p.logs), len(p.witnesses), len(p.groups)) == (40, 40, 41)
    assert p.satisfied({f"w{i}" for i in range(40)})
    assert not p.satisfied({f"w{i}" for i in range(39)})


WV = W[1].verifier().vkey()
WV2 = W[2].verifier().vkey()


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("quorum none\nquorum none\n", 2, "second quorum"),
        (f"witness a {WV}\nquorum b\n", 2, "not defined"),
        (f"witness a {WV}\nwitness b {WV}\nquorum a\n", 2, "duplicate key"),
        (f"witness a {WV}\nwitness a {WV2}\nquorum a\n", 2, "defined twice"),
        (f"witness a {WV}\ngroup g 2 a\nquorum g\n", 2, "between 1 and 1"),
        (f"witness a {WV}\ngroup g 0 a\nquorum g\n", 2, "between 1 and 1"),
        (f"witness a {WV}\ngroup g 01 a\nquorum g\n", 2, "threshold"),
        (f"witness a {WV}\ngroup g any a\ngroup h any a\nquorum h\n", 3, "already a group"),
        (f"witness a {WV}\ngroup g any a none\nquorum g\n", 2, "not defined"),
        (f"witness none {WV}\nquorum none\n", 1, "predefined"),
        (f"witness a {LOG.verifier().vkey()}\nquorum a\n", 1, "type 0x04"),
        (f"log {WV}\nquorum none\n", 1, "not type 0x04"),
        ("frobnicate x\nquorum none\n", 1, "unknown keyword"),
        (f"witness a {WV[:-4]}AAA=\nquorum a\n", 1, ""),
        ("\n\nwitness a\nquorum none\n", 3, "want"),
    ],
)
def test_errors_name_the_line(text: str, line: int, why: str) -> None:
    with pytest.raises(MalformedError, match=f"policy line {line}: .*{why}"):
        Policy.parse(text.encode())


def test_only_ascii_space_and_tab_separate_and_names_are_opaque() -> None:
    nbsp = "a\u00a0b"  # one name: U+00A0 is not policy whitespace
    p = Policy.parse(f"witness {nbsp} {WV}\ngroup g any {nbsp}\nquorum g\n".encode())
    assert p.witnesses[0].name == nbsp
    raw = b"witness \xff\xfe " + WV.encode() + b"\nquorum \xff\xfe\n"  # not UTF-8: fine
    assert Policy.parse(raw).satisfied([raw.split(b" ")[1].decode("utf-8", "surrogateescape")])
    assert Policy.parse(raw).format() == raw


def test_no_quorum_line_and_control_characters() -> None:
    with pytest.raises(MalformedError, match="no quorum line"):
        Policy.parse(f"witness a {WV}\n".encode())
    with pytest.raises(MalformedError, match="control character"):
        Policy.parse(b"quorum none\r\n")


# -- cosignatures against a policy ------------------------------------------------------


def checkpoint_note(size: int = 5, *signers: CosignatureSigner) -> Note:
    text = Checkpoint("example.com/log", size, bytes(range(32))).format()
    return sign(text, [LOG, *signers])


def two_of_three() -> Policy:
    lines = [f"witness a{n} {W[n].verifier().vkey()}" for n in (1, 2, 3)]
    return Policy.parse(("\n".join([*lines, "group q 2 a1 a2 a3", "quorum q"]) + "\n").encode())


def test_quorum_of_valid_cosignatures() -> None:
    p = two_of_three()
    assert p.check(checkpoint_note(5, W[1], W[3]), NOW) == {"a1": NOW, "a3": NOW}
    with pytest.raises(VerificationError, match="not cosigned by a quorum"):
        p.check(checkpoint_note(5, W[2]), NOW)


def test_unknown_cosigner_does_not_count() -> None:
    stranger = cosigner(W[2].name)  # same name, another key: another key ID
    with pytest.raises(VerificationError, match="quorum"):
        two_of_three().check(checkpoint_note(5, W[1], stranger), NOW)


def test_altered_cosignature_is_refused() -> None:
    note = checkpoint_note(5, W[1], W[2])
    sig = note.signatures[2]
    bad = Signature(sig.name, sig.key_id, sig.signature[:-1] + bytes([sig.signature[-1] ^ 1]))
    with pytest.raises(VerificationError, match="does not verify"):
        two_of_three().check(Note(note.text, (*note.signatures[:2], bad)), NOW)


def test_altered_timestamp_is_refused() -> None:
    note = checkpoint_note(5, W[1], W[2])
    sig = note.signatures[1]
    later = (NOW + 1).to_bytes(8, "big") + sig.signature[8:]
    with pytest.raises(VerificationError, match="does not verify"):
        two_of_three().check(
            Note(
                note.text,
                (note.signatures[0], Signature(sig.name, sig.key_id, later), note.signatures[2]),
            ),
            NOW,
        )


def test_replayed_cosignature_is_refused() -> None:
    old = checkpoint_note(4, W[1], W[2])
    new = checkpoint_note(5)
    with pytest.raises(VerificationError, match="another checkpoint"):
        two_of_three().check(Note(new.text, (*new.signatures, *old.signatures[1:])), NOW)


def test_cosignature_from_the_future_is_refused() -> None:
    note = checkpoint_note(5, cosigner_with(W[1], NOW + 3600), W[2])
    with pytest.raises(VerificationError, match="in the future"):
        two_of_three().check(note, NOW)
    assert two_of_three().check(note) == {"a1": NOW + 3600, "a2": NOW}


def cosigner_with(signer: CosignatureSigner, ts: int) -> CosignatureSigner:
    return CosignatureSigner(signer.name, signer._key, lambda: ts)
