"""tlog.checkpoint against C2SP tlog-checkpoint v1.0.0 (and tlog-cosignature v1 times)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import note
from tlog.checkpoint import MAX_TREE_SIZE, Checkpoint, open_checkpoint
from tlog.errors import MalformedError, VerificationError
from tlog.note import CosignatureSigner, ECDSASigner, Ed25519Signer, Note, Signature

ORIGIN = "example.com/behind-the-sofa"
ROOT = base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
# c2sp.org/tlog-checkpoint: the example checkpoint body.
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def ed_key(seed: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


LOG = Ed25519Signer(ORIGIN, ed_key("log"))
TIMESTAMPER = CosignatureSigner(ORIGIN, ed_key("log time"), clock=lambda: 1700000123)
WITNESS = CosignatureSigner("witness.example/w1", ed_key("witness"), clock=lambda: 1700000999)


def signed(body: str, *signers: note.Signer) -> bytes:
    return note.sign(body, signers).format()


# --- body -------------------------------------------------------------------------


def test_spec_example() -> None:
    cp = Checkpoint.parse(SPEC_BODY)
    assert cp == Checkpoint(ORIGIN, 20852163, ROOT)
    assert cp.format() == SPEC_BODY


_LINE = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\n"), min_size=1, max_size=40
)


@settings(max_examples=100, deadline=None)
@given(
    _LINE,
    st.integers(0, MAX_TREE_SIZE),
    st.binary(min_size=32, max_size=32),
    st.lists(_LINE, max_size=4),
)
def test_round_trip(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(ext))
    text = cp.format()
    assert text.endswith("\n")
    assert text.split("\n")[1] == str(size)
    assert Checkpoint.parse(text) == cp


def test_extension_lines_preserved() -> None:
    body = SPEC_BODY + "ext one\n— not a signature\n"
    cp = Checkpoint.parse(body)
    assert cp.extensions == ("ext one", "— not a signature")
    assert cp.format() == body


def test_origin_is_opaque() -> None:
    # "clients MUST NOT assume that the origin is following this format": spaces, '+'
    # and non-URLs are valid origins.
    root = base64.b64encode(ROOT).decode()
    for origin in ["my log", "a+b", "https://example.com/log/", "é", "0"]:
        assert Checkpoint.parse(f"{origin}\n0\n{root}\n").origin == origin


@pytest.mark.parametrize("size", ["0", "1", "10", "20852163", str(MAX_TREE_SIZE)])
def test_sizes_accepted(size: str) -> None:
    assert Checkpoint.parse(SPEC_BODY.replace("20852163", size)).size == int(size)


@pytest.mark.parametrize(
    "size",
    [
        "",
        "00",
        "01",
        "020852163",
        "+1",
        "-1",
        "-0",
        " 1",
        "1 ",
        "1\t",
        "1.0",
        "1e3",
        "0x10",
        "1_000",
        "\u0661",
        "1\u0660",
        "١٢",
        str(MAX_TREE_SIZE + 1),
        "9" * 21,
        "NaN",
    ],
)
def test_sizes_refused(size: str) -> None:
    with pytest.raises(MalformedError):
        Checkpoint.parse(SPEC_BODY.replace("20852163", size))


@pytest.mark.parametrize(
    "root",
    [
        base64.b64encode(ROOT[:31]).decode(),
        base64.b64encode(ROOT + b"\x00").decode(),
        base64.b64encode(ROOT * 2).decode(),
        "",
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I",  # no padding
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=",  # non-canonical last character
        "CsUYapGGPo4dkMgIAUqom_Xajj7h2fB2MPA3j2jxq2I=",  # URL alphabet
        " CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        ROOT.hex(),
    ],
)
def test_roots_refused(root: str) -> None:
    with pytest.raises(MalformedError):
        Checkpoint.parse(SPEC_BODY.replace("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", root))


@pytest.mark.parametrize(
    "body",
    [
        SPEC_BODY[:-1],  # no final newline
        SPEC_BODY + "extension",  # no final newline after an extension line
        SPEC_BODY[:-1] + " ",
        "",
        "\n",
        f"{ORIGIN}\n",
        f"{ORIGIN}\n20852163\n",  # fewer than 3 lines
        f"{ORIGIN}\n20852163",
        "\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",  # empty origin
        SPEC_BODY + "\n",  # empty extension line
        SPEC_BODY + "ext\n\n",
        SPEC_BODY + "\next\n",
        SPEC_BODY.replace("\n", "\r\n"),
    ],
)
def test_bodies_refused(body: str) -> None:
    with pytest.raises(MalformedError):
        Checkpoint.parse(body)


def test_constructor_invariants() -> None:
    for args in [
        ("", 1, ROOT),
        ("a\nb", 1, ROOT),
        (ORIGIN, -1, ROOT),
        (ORIGIN, MAX_TREE_SIZE + 1, ROOT),
        (ORIGIN, 1, ROOT[:31]),
    ]:
        with pytest.raises(MalformedError):
            Checkpoint(*args)
    for ext in [("",), ("a\nb",)]:
        with pytest.raises(MalformedError):
            Checkpoint(ORIGIN, 1, ROOT, ext)


# --- signed checkpoints -----------------------------------------------------------


def test_open_plain() -> None:
    data = signed(SPEC_BODY, LOG)
    sc = open_checkpoint(data, [LOG.verifier()], origin=ORIGIN)
    assert sc.checkpoint == Checkpoint(ORIGIN, 20852163, ROOT)
    assert sc.timestamp is None
    assert sc.format() == data
    assert open_checkpoint(data, [LOG.verifier()]).checkpoint.size == 20852163


def test_open_with_ecdsa_log_key() -> None:
    ecdsa = ECDSASigner(ORIGIN, ec.derive_private_key(424242, ec.SECP256R1()))
    data = signed(SPEC_BODY, ecdsa)
    assert open_checkpoint(data, [ecdsa.verifier()], origin=ORIGIN).checkpoint.root == ROOT


def test_origin_mismatch_rejected() -> None:
    data = signed(SPEC_BODY, LOG)
    with pytest.raises(VerificationError):
        open_checkpoint(data, [LOG.verifier()], origin="example.com/other")


def test_log_key_name_must_be_origin() -> None:
    other = Ed25519Signer("example.com/other", ed_key("log"))
    with pytest.raises(VerificationError):
        open_checkpoint(signed(SPEC_BODY, other), [other.verifier()])
    with pytest.raises(VerificationError):
        open_checkpoint(signed(SPEC_BODY, other), [other.verifier()], origin=ORIGIN)


def test_timestamp_key_alone_is_not_enough() -> None:
    data = signed(SPEC_BODY, TIMESTAMPER)
    with pytest.raises(VerificationError):
        open_checkpoint(data, [LOG.verifier(), TIMESTAMPER.verifier()])
    with pytest.raises(VerificationError):
        open_checkpoint(data, [TIMESTAMPER.verifier()])
    with pytest.raises(VerificationError):
        open_checkpoint(signed(SPEC_BODY, LOG, TIMESTAMPER), [TIMESTAMPER.verifier()])


def test_timestamp_from_verified_cosignature() -> None:
    data = signed(SPEC_BODY, LOG, TIMESTAMPER)
    sc = open_checkpoint(data, [LOG.verifier(), TIMESTAMPER.verifier()], origin=ORIGIN)
    assert sc.timestamp == 1700000123
    # Unknown timestamp key: its line is ignored, and so is its time.
    assert open_checkpoint(data, [LOG.verifier()]).timestamp is None


def test_bad_cosignature_rejects_checkpoint() -> None:
    good = note.sign(SPEC_BODY, [LOG, TIMESTAMPER])
    log_sig, ts_sig = good.signatures
    other_time = (1700009999).to_bytes(8, "big") + ts_sig.signature[8:]
    forged = Signature(ts_sig.name, ts_sig.key_id, other_time)
    data = Note(SPEC_BODY, (log_sig, forged)).format()
    with pytest.raises(VerificationError):
        open_checkpoint(data, [LOG.verifier(), TIMESTAMPER.verifier()])
    # Without the timestamp key configured the forged line is just unknown.
    assert open_checkpoint(data, [LOG.verifier()]).timestamp is None


def test_unknown_witness_cosignatures_ignored() -> None:
    data = signed(SPEC_BODY, LOG, WITNESS)
    sc = open_checkpoint(data, [LOG.verifier()], origin=ORIGIN)
    assert sc.timestamp is None
    assert len(sc.note.signatures) == 2


def test_failing_log_signature_rejects() -> None:
    n = note.sign(SPEC_BODY, [LOG])
    (s,) = n.signatures
    bad = Signature(s.name, s.key_id, bytes([s.signature[0] ^ 0x80]) + s.signature[1:])
    with pytest.raises(VerificationError):
        open_checkpoint(Note(SPEC_BODY, (bad,)).format(), [LOG.verifier()])
    other_body = SPEC_BODY.replace("20852163", "20852164")
    with pytest.raises(VerificationError):
        open_checkpoint(Note(other_body, (s,)).format(), [LOG.verifier()])


def test_signed_but_malformed_body() -> None:
    for body in [SPEC_BODY.replace("20852163", "020852163"), f"{ORIGIN}\n5\n", SPEC_BODY + "\n"]:
        try:
            data = signed(body, LOG)
        except MalformedError:
            continue  # not even a note
        with pytest.raises(MalformedError):
            open_checkpoint(data, [LOG.verifier()])


def test_signed_note_rules_apply() -> None:
    data = signed(SPEC_BODY, LOG)
    with pytest.raises(MalformedError):
        open_checkpoint(data.replace(b"sofa", b"so\x01a"), [LOG.verifier()])
    with pytest.raises(MalformedError):
        open_checkpoint(data[:-1], [LOG.verifier()])
