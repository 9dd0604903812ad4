"""tlog.note against C2SP signed-note v1.0.0, tlog-cosignature v1 and Go's sumdb/note.

Known-answer data (keys, the signed Peter Neumann note, the Enoch Root signature) are
copied from golang.org/x/mod/sumdb/note/note_test.go (BSD-style licence), as data.
The Quasimodo note is the example of the signed-note spec; the witness line is the
example of the tlog-cosignature spec (C2SP/C2SP, CC BY 4.0).
"""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog import note
from tlog.errors import ConfigError, MalformedError, OversizeError, VerificationError
from tlog.note import (
    CosignatureSigner,
    CosignatureVerifier,
    ECDSASigner,
    ECDSAVerifier,
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    Signature,
)
from tlog.vkey import parse_vkey

# --- golang.org/x/mod/sumdb/note/note_test.go ---------------------------------------
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotp"
    "RZb6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox"
    "33WWd1RvMc+QQ=\n"
)
GO_SIGNED = GO_TEXT + "\n" + GO_PETER_SIG
# ------------------------------------------------------------------------------------

# c2sp.org/signed-note: the example note (its text holds a blank line).
SPEC_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMo"
    "uFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)
# c2sp.org/tlog-cosignature: the example witness cosignature line, time 1679315147.
SPEC_COSIG_LINE = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJs"
    "X3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def ed_key(seed: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


def ed_pub(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sig_line(name: str, raw: bytes) -> str:
    return f"— {name} {base64.b64encode(raw).decode()}\n"


TEXT = "example.com/log\n42\n" + base64.b64encode(bytes(32)).decode() + "\n"
ALICE = Ed25519Signer("alice.example", ed_key("alice"))
BOB = Ed25519Signer("bob.example", ed_key("bob"))


def signed(text: str, *signers: note.Signer) -> bytes:
    return note.sign(text, signers).format()


# --- format -----------------------------------------------------------------------

_TEXT_CHAR = st.characters(min_codepoint=0x20, blacklist_categories=["Cs"]) | st.just("\n")
_NAME = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="+"),
    min_size=1,
    max_size=20,
)
_SIG = st.builds(
    Signature, _NAME, st.binary(min_size=4, max_size=4), st.binary(min_size=1, max_size=80)
)


@settings(max_examples=100, deadline=None)
@given(
    st.text(_TEXT_CHAR, max_size=200),
    st.lists(_SIG, min_size=1, max_size=20, unique_by=lambda s: (s.name, s.key_id)),
)
def test_round_trip(body: str, sigs: list[Signature]) -> None:
    n = Note(body + "\n", tuple(sigs))
    data = n.format()
    assert bytes(n) == data
    assert Note.parse(data) == n


def test_a_repeated_signature_line_is_refused_by_the_parser() -> None:
    # Decided once, when parsing: every reader (loginfo, get, prove, verify) agrees.
    sig = Signature("k", b"\x01\x02\x03\x04", b"sig")
    other = Signature("k", b"\x01\x02\x03\x05", b"sig")
    assert len(Note.parse(Note("t\n", (sig, other)).format()).signatures) == 2
    for sigs in [(sig, sig), (sig, Signature("k", sig.key_id, b"other"))]:
        with pytest.raises(MalformedError, match="repeats a signature line"):
            Note.parse(Note("t\n", sigs).format())


def test_spec_example_splits_at_last_blank_line() -> None:
    n = Note.parse(SPEC_NOTE.encode())
    assert n.text == (
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\n"
        "ed è subito sera.\n"
    )
    assert [s.name for s in n.signatures] == ["quasimodo.example/salvatore"]
    assert n.format() == SPEC_NOTE.encode()


def test_text_ending_in_blank_lines() -> None:
    data = b"a\n\n\n" + GO_PETER_SIG.encode()
    n = Note.parse(data)
    assert n.text == "a\n\n"
    assert n.format() == data


def test_go_parse() -> None:
    n = Note.parse((GO_SIGNED + GO_ENOCH_SIG).encode())
    assert n.text == GO_TEXT
    assert [(s.name, s.key_id.hex()) for s in n.signatures] == [
        ("PeterNeumann", "c74f20a3"),
        ("EnochRoot", "af0cfe78"),
    ]


@pytest.mark.parametrize(
    "data",
    [
        # Go's "Invalid encoded message syntax" cases.
        GO_TEXT.encode(),
        (GO_TEXT + "\n").encode(),
        (GO_TEXT + "\n" + GO_PETER_SIG[:-1]).encode(),
        ("\x01" + GO_SIGNED).encode(),
        b"\xff" + GO_SIGNED.encode(),
        (GO_TEXT + "\n" + GO_PETER_SIG.replace("PeterNeumann", "Bad Name")).encode(),
        (GO_SIGNED + "Unexpected line.\n").encode(),
        # More of the format rules.
        b"",
        b"\n",
        b"\n\n",
        GO_PETER_SIG.encode(),  # no text, no blank line
        (GO_SIGNED + "\n").encode(),  # empty signature line at the end
        (GO_TEXT + "\n\n" + GO_PETER_SIG).encode().replace(b"\n\n\n", b"\n\n \n"),
        GO_SIGNED.replace("\n", "\r\n").encode(),
        (GO_TEXT.replace("cryptography", "crypto\tgraphy") + "\n" + GO_PETER_SIG).encode(),
        (GO_TEXT.replace("cryptography", "crypto\x00graphy") + "\n" + GO_PETER_SIG).encode(),
        (GO_TEXT.replace("cryptography", "crypto\x1bgraphy") + "\n" + GO_PETER_SIG).encode(),
        GO_SIGNED.replace("— ", "- ").encode(),  # hyphen, not em dash
        GO_SIGNED.replace("— ", "—").encode(),
        GO_SIGNED.replace("— ", "—  ").encode(),
        GO_SIGNED.replace("— PeterNeumann ", "— PeterNeumann  ").encode(),
        GO_SIGNED.replace("AM=\n", "AM= \n").encode(),
        GO_SIGNED.replace("— PeterNeumann ", "— Peter+Neumann ").encode(),
        GO_SIGNED.replace("— PeterNeumann ", "— Peter\u00a0Neumann ").encode(),
        GO_SIGNED.replace("— PeterNeumann ", "— Peter\u2003Neumann ").encode(),
        GO_SIGNED.replace("— PeterNeumann ", "— Peter\u3000Neumann ").encode(),
        GO_SIGNED.replace("— PeterNeumann ", "—  ").encode(),  # empty name
        GO_SIGNED.replace("— PeterNeumann x08", "— PeterNeumann ").encode(),  # bad base64
        # Over-long UTF-8, a lone surrogate and a truncated sequence: not UTF-8.
        GO_SIGNED.encode().replace(b"If", b"\xc0\xafIf"),
        GO_SIGNED.encode().replace(b"If", b"\xed\xa0\x80If"),
        GO_SIGNED.encode().replace(b"If", b"\xe2\x80If"),
    ],
)
def test_parse_refuses(data: bytes) -> None:
    with pytest.raises(MalformedError):
        Note.parse(data)


def test_signature_base64_must_be_canonical() -> None:
    b64 = GO_PETER_SIG.split()[2]
    raw = base64.b64decode(b64)
    assert len(raw) == 68 and b64.endswith("AM=")
    # 68 bytes end in 2 padding bits; setting one still decodes leniently.
    lenient = b64[:-2] + "N="
    assert base64.b64decode(lenient) == raw
    for bad in [lenient, b64[:-1], b64 + "=", b64.replace("/", "_"), b64.replace("+", "-")]:
        if bad == b64:
            continue
        with pytest.raises(MalformedError):
            Note.parse((GO_TEXT + "\n" + f"— PeterNeumann {bad}\n").encode())
    with pytest.raises(MalformedError):
        Note.parse((GO_TEXT + "\n" + f"— PeterNeumann {b64[:30]}\n{b64[30:]}\n").encode())


def test_signature_lengths() -> None:
    for size in range(5):
        with pytest.raises(MalformedError):
            Note.parse((GO_TEXT + "\n" + sig_line("a", bytes(size))).encode())
    n = Note.parse((GO_TEXT + "\n" + sig_line("a", b"\x01\x02\x03\x04\x05")).encode())
    assert n.signatures == (Signature("a", b"\x01\x02\x03\x04", b"\x05"),)
    # Post-quantum signatures are large (signed-note "Format"): ~5 kB must parse.
    big = sig_line("pq.example", bytes(4 + 4627))
    assert Note.parse((GO_TEXT + "\n" + big).encode()).signatures[0].signature == bytes(4627)


def test_control_characters_are_below_0x20_only() -> None:
    # signed-note: "MUST NOT contain any ASCII control characters (those below U+0020)
    # other than newline". DEL and C1 characters are not in that set.
    for c in ["\x7f", "\x85", "\u200b"]:
        text = f"odd {c} text\n"
        assert Note.parse((text + "\n" + GO_PETER_SIG).encode()).text == text
    for code in range(0x20):
        if code == 0x0A:
            continue
        with pytest.raises(MalformedError):
            Note.parse((f"x{chr(code)}\n" + "\n" + GO_PETER_SIG).encode())
        with pytest.raises(MalformedError):
            Note.parse((GO_TEXT + "\n" + GO_PETER_SIG.replace("Peter", f"Pe{chr(code)}")).encode())


def test_signature_count_limits() -> None:
    assert note.MAX_SIGNATURES >= 16

    def others(n: int) -> str:  # distinct lines by keys nobody knows
        return "".join(sig_line("w", i.to_bytes(4, "big") + b"sig") for i in range(n))

    for count in [16, note.MAX_SIGNATURES]:
        data = (GO_TEXT + "\n" + GO_PETER_SIG + others(count - 1)).encode()
        assert len(Note.parse(data).signatures) == count
        v = parse_vkey(GO_VKEY)
        assert len(note.open_note(data, [v]).signed_by) == 1
    data = (GO_TEXT + "\n" + GO_PETER_SIG + others(note.MAX_SIGNATURES)).encode()
    with pytest.raises(OversizeError):
        Note.parse(data)
    with pytest.raises(MalformedError):
        note.open_note(data, [parse_vkey(GO_VKEY)])


def test_note_size_limit() -> None:
    tail = ("\n" + GO_PETER_SIG).encode()
    filler = note.MAX_NOTE_SIZE - len(tail) - 1
    at_limit = b"a" * filler + b"\n" + tail
    assert len(at_limit) == note.MAX_NOTE_SIZE
    Note.parse(at_limit)
    with pytest.raises(OversizeError):
        Note.parse(b"a" + at_limit)


def test_format_requires_final_newline() -> None:
    with pytest.raises(MalformedError):
        Note("abc", (Signature("a", bytes(4), b"x"),)).format()
    with pytest.raises(MalformedError):
        note.sign("abc", [ALICE]).format()


def test_key_names() -> None:
    for good in ["a", "example.com/log42", "oid/1.3.6.1.4.1.5", "é—名", "x\x7f"]:
        note.check_key_name(good)
    for bad in ["", "a b", "a+b", "+", " a", "a\t", "a\n", "a\u00a0b", "a\u2028b", "a\x00"]:
        with pytest.raises(MalformedError):
            note.check_key_name(bad)


# --- opening notes ----------------------------------------------------------------


def test_go_known_answer_sign() -> None:
    signer = note.parse_signer_key(GO_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.verifier().vkey() == GO_VKEY
    assert signer.signer_key() == GO_SKEY
    assert note.sign(GO_TEXT, [signer]).format() == GO_SIGNED.encode()


def test_go_known_answer_open() -> None:
    peter = parse_vkey(GO_VKEY)
    enoch = parse_vkey(GO_ENOCH_VKEY)
    assert isinstance(peter, Ed25519Verifier) and isinstance(enoch, Ed25519Verifier)
    assert peter.vkey() == GO_VKEY and enoch.vkey() == GO_ENOCH_VKEY
    data = (GO_SIGNED + GO_ENOCH_SIG).encode()

    v = note.open_note(data, [peter])
    assert v.note.text == GO_TEXT
    assert [(ver.name, s.key_id.hex()) for ver, s in v.signed_by] == [("PeterNeumann", "c74f20a3")]

    v = note.open_note(data, [peter, enoch])
    assert [ver.name for ver, _ in v.signed_by] == ["PeterNeumann", "EnochRoot"]

    v = note.open_note(data, [enoch])
    assert [ver.name for ver, _ in v.signed_by] == ["EnochRoot"]

    with pytest.raises(VerificationError):
        note.open_note(data, [])
    with pytest.raises(VerificationError):
        note.open_note((GO_TEXT + "\n" + GO_ENOCH_SIG).encode(), [peter])


def test_go_invalid_signature() -> None:
    # Go: peterSig[:60] + "ABCD" + peterSig[60:] is an invalid signature by a known key.
    bad = GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:]
    with pytest.raises(VerificationError):
        note.open_note((GO_TEXT + "\n" + bad).encode(), [parse_vkey(GO_VKEY)])


def test_unknown_signatures_are_ignored() -> None:
    v = ALICE.verifier()
    good = signed(TEXT, ALICE)
    junk = bytes(range(64))
    same_name = sig_line(ALICE.name, bytes(a ^ 0xFF for a in ALICE.key_id) + junk)
    same_id = sig_line("mallory.example", ALICE.key_id + junk)
    for extra in [same_name, same_id, same_name + same_id]:
        opened = note.open_note(good + extra.encode(), [v])
        assert [s for _, s in opened.signed_by] == [note.Note.parse(good).signatures[0]]
        # Unknown lines before the known one are ignored just the same.
        first = TEXT.encode() + b"\n" + extra.encode() + good[len(TEXT) + 1 :]
        assert len(note.open_note(first, [v]).signed_by) == 1
        # With only the unknown lines, nothing known verified: rejected.
        with pytest.raises(VerificationError):
            note.open_note(TEXT.encode() + b"\n" + extra.encode(), [v])


def test_a_failing_known_signature_rejects_the_note() -> None:
    n = note.sign(TEXT, [ALICE, BOB])
    a, b = n.signatures
    broken = Signature(b.name, b.key_id, bytes([b.signature[0] ^ 1]) + b.signature[1:])
    data = Note(TEXT, (a, broken)).format()
    # Bob unknown: his broken line is ignored.
    assert len(note.open_note(data, [ALICE.verifier()]).signed_by) == 1
    # Bob known: the whole note is rejected even though Alice's line is good.
    with pytest.raises(VerificationError):
        note.open_note(data, [ALICE.verifier(), BOB.verifier()])
    # Alice's signature over other text.
    other = note.sign(TEXT.replace("42", "43"), [ALICE]).signatures[0]
    with pytest.raises(VerificationError):
        note.open_note(Note(TEXT, (other,)).format(), [ALICE.verifier()])


def test_signature_of_wrong_length_by_known_key() -> None:
    for size in [1, 63, 65]:
        data = TEXT.encode() + b"\n" + sig_line(ALICE.name, ALICE.key_id + bytes(size)).encode()
        with pytest.raises(VerificationError):
            note.open_note(data, [ALICE.verifier()])


def test_open_note_malformed_is_malformed() -> None:
    with pytest.raises(MalformedError):
        note.open_note(TEXT.encode(), [ALICE.verifier()])


def test_sign_keeps_existing_signatures() -> None:
    first = note.sign(TEXT, [ALICE])
    both = note.sign(TEXT, [BOB], keep=first.signatures)
    assert [s.name for s in both.signatures] == [ALICE.name, BOB.name]
    opened = note.open_note(both.format(), [ALICE.verifier(), BOB.verifier()])
    assert len(opened.signed_by) == 2


# --- Ed25519 keys -----------------------------------------------------------------


def test_ed25519_key_id() -> None:
    pub = ed_pub(ed_key("alice"))
    want = hashlib.sha256(b"alice.example\n\x01" + pub).digest()[:4]
    assert ALICE.key_id == ALICE.verifier().key_id == want
    assert note.key_id("alice.example", note.ALG_ED25519, pub) == want


def test_ed25519_vkey_round_trip() -> None:
    vkey = ALICE.verifier().vkey()
    name, hexid, b64 = vkey.split("+", 2)
    assert (name, hexid) == ("alice.example", ALICE.key_id.hex())
    assert base64.b64decode(b64) == b"\x01" + ed_pub(ed_key("alice"))
    assert parse_vkey(vkey) == ALICE.verifier()
    assert parse_vkey(vkey + "\n") == ALICE.verifier()


def test_signer_key_round_trip() -> None:
    skey = ALICE.signer_key()
    again = note.parse_signer_key(skey)
    assert again.key_id == ALICE.key_id
    assert again.sign(b"x") == ALICE.sign(b"x")


def _mangled(s: str) -> list[str]:
    """Go's TestNewVerifier/TestNewSigner manglings: every proper substring, every byte + 1."""
    out = {s[i:j] for i in range(len(s) + 1) for j in range(i + 1, len(s) + 1)} - {s}
    out |= {s[:i] + chr(ord(s[i]) + 1) + s[i + 1 :] for i in range(len(s))}
    return sorted(out)


def test_go_vkey_manglings_refused() -> None:
    parse_vkey(GO_VKEY)
    for bad in _mangled(GO_VKEY):
        with pytest.raises(MalformedError):
            parse_vkey(bad)


def test_go_signer_key_manglings_refused() -> None:
    note.parse_signer_key(GO_SKEY)
    for bad in _mangled(GO_SKEY):
        with pytest.raises(MalformedError):
            note.parse_signer_key(bad)


def _vkey_with_id(name: str, kid: bytes, alg: int, public: bytes) -> str:
    return f"{name}+{kid.hex()}+{base64.b64encode(bytes([alg]) + public).decode()}"


def _vkey_with(name: str, alg: int, public: bytes) -> str:
    """A vkey whose ID is the signed-note recommended one for ``alg``, so only ``alg`` is odd."""
    kid = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]
    return _vkey_with_id(name, kid, alg, public)


@pytest.mark.parametrize(
    "vkey",
    [
        # Go: wrong length key, with adjusted key hash; unknown algorithm, adjusted hash.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong ID
        "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20g3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW=",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq_LDE4izWy10TW",
        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T W",
        "PeterNeumann+c74f20a3+",
        "PeterNeumann+c74f20a3",
        "Peter+Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
        _vkey_with("a", 0x00, bytes(32)),
        _vkey_with("a", 0x03, bytes(32)),
        _vkey_with("a", 0x05, bytes(32)),
        _vkey_with("a", 0x06, bytes(1312)),
        _vkey_with("a", 0xFF, bytes(32)),
        _vkey_with("a", 0x01, bytes(31)),
        _vkey_with("a", 0x04, bytes(33)),
        _vkey_with("a", 0x02, b"not DER"),
        _vkey_with("a b", 0x01, bytes(32)),
    ],
)
def test_parse_vkey_refuses(vkey: str) -> None:
    with pytest.raises(MalformedError):
        parse_vkey(vkey)


def test_parse_signer_key_refuses() -> None:
    seed = hashlib.sha256(b"seed").digest()
    signer = Ed25519Signer("n", ed25519.Ed25519PrivateKey.from_private_bytes(seed))
    good = signer.signer_key()
    assert note.parse_signer_key(good).key_id == signer.key_id
    kid = signer.key_id.hex()
    other = f"{int(kid, 16) ^ 1:08x}"
    for bad in [
        good.replace(kid, other),  # mismatched ID
        good.replace("+n+", "+m+"),  # name changed, ID no longer matches
        good.replace("PRIVATE+KEY", "PUBLIC+KEY"),
        good.replace(  # type byte 0x04
            base64.b64encode(b"\x01" + seed).decode(), base64.b64encode(b"\x04" + seed).decode()
        ),
        f"PRIVATE+KEY+n+{kid}+{base64.b64encode(bytes([1]) + seed[:31]).decode()}",
        f"PRIVATE+KEY+n+{kid}",
        "PRIVATE+KEY",
    ]:
        with pytest.raises(MalformedError):
            note.parse_signer_key(bad)


# --- ECDSA (type 0x02) ------------------------------------------------------------


def _p256(seed: int) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(seed, ec.SECP256R1())


def test_ecdsa_key_id_and_vkey() -> None:
    key = _p256(123456789)
    signer = ECDSASigner("rekor.example/log", key)
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert signer.key_id == hashlib.sha256(spki).digest()[:4]
    v = signer.verifier()
    assert v.key_id == signer.key_id
    name, hexid, b64 = v.vkey().split("+", 2)
    assert (name, hexid) == ("rekor.example/log", signer.key_id.hex())
    assert base64.b64decode(b64) == b"\x02" + spki
    parsed = parse_vkey(v.vkey())
    assert isinstance(parsed, ECDSAVerifier)
    assert (parsed.name, parsed.spki, parsed.key_id) == (v.name, v.spki, v.key_id)
    # The name is not part of an ECDSA key ID: renaming keeps it.
    assert ECDSAVerifier("other", spki).key_id == v.key_id


def test_ecdsa_sign_verify() -> None:
    key = _p256(987654321)
    signer = ECDSASigner("rekor.example/log", key)
    data = signed(TEXT, signer)
    opened = note.open_note(data, [parse_vkey(signer.verifier().vkey())])
    sig = opened.signed_by[0][1].signature
    # An ASN.1 DER ECDSA-SHA256 signature over the note text, checked independently.
    key.public_key().verify(sig, TEXT.encode(), ec.ECDSA(hashes.SHA256()))
    tampered = data.replace(b"\n42\n", b"\n43\n")
    with pytest.raises(VerificationError):
        note.open_note(tampered, [signer.verifier()])
    with pytest.raises(VerificationError):
        note.open_note(
            TEXT.encode() + b"\n" + sig_line(signer.name, signer.key_id + b"\x30\x00").encode(),
            [signer.verifier()],
        )


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()])
def test_ecdsa_other_nist_curves(curve: ec.EllipticCurve) -> None:
    signer = ECDSASigner("log.example", ec.generate_private_key(curve))
    note.open_note(signed(TEXT, signer), [parse_vkey(signer.verifier().vkey())])


@pytest.mark.parametrize("curve", [ec.SECP256K1(), ec.SECP192R1(), ec.BrainpoolP256R1()])
def test_ecdsa_refuses_other_curves(curve: ec.EllipticCurve) -> None:
    spki = (
        ec.generate_private_key(curve)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(MalformedError):
        parse_vkey(_vkey_with_id("a", hashlib.sha256(spki).digest()[:4], 0x02, spki))


def test_ecdsa_refuses_non_ec_and_unsupported_keys() -> None:
    ed_spki = (
        ed_key("x")
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # An EC SPKI on a named curve OpenSSL does not support (sect163k1, 1.3.132.0.1):
    # cryptography raises UnsupportedAlgorithm, which must surface as MalformedError.
    alg = bytes.fromhex("06072a8648ce3d0201") + bytes.fromhex("06052b81040001")
    alg = b"\x30" + bytes([len(alg)]) + alg
    bits = b"\x03\x2c\x00\x04" + bytes(42)
    sect = b"\x30" + bytes([len(alg) + len(bits)]) + alg + bits
    for spki in [ed_spki, sect, b"", b"\x30\x00"]:
        with pytest.raises(MalformedError):
            ECDSAVerifier("a", spki)


# --- cosignature/v1 (type 0x04) ---------------------------------------------------

COSIGNER_KEY = ed_key("witness")


def test_cosignature_format() -> None:
    name = "witness.example/w1"
    signer = CosignatureSigner(name, COSIGNER_KEY, clock=lambda: 1679315147)
    pub = ed_pub(COSIGNER_KEY)
    assert signer.key_id == hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    assert signer.key_id != note.key_id(name, note.ALG_ED25519, pub)
    sig = signer.sign(TEXT.encode())
    assert len(sig) == 72
    assert sig[:8] == struct.pack(">Q", 1679315147)
    # tlog-cosignature "Ed25519 signed message", checked with cryptography directly.
    message = b"cosignature/v1\ntime 1679315147\n" + TEXT.encode()
    COSIGNER_KEY.public_key().verify(sig[8:], message)
    assert note.cosignature_message(TEXT.encode(), 1679315147) == message

    v = signer.verifier()
    assert isinstance(v, CosignatureVerifier)
    assert v.verify(TEXT.encode(), sig)
    assert v.timestamp(sig) == 1679315147
    assert not v.verify(TEXT.encode() + b"x", sig)
    assert not v.verify(TEXT.encode(), struct.pack(">Q", 1679315148) + sig[8:])
    assert not v.verify(TEXT.encode(), sig[8:])  # no timestamp
    vkey = v.vkey()
    assert base64.b64decode(vkey.split("+", 2)[2]) == b"\x04" + pub
    assert parse_vkey(vkey) == v


def test_cosignature_in_note() -> None:
    log = Ed25519Signer("example.com/log", ed_key("log"))
    witness = CosignatureSigner("witness.example/w1", COSIGNER_KEY, clock=lambda: 1700000000)
    data = signed(TEXT, log, witness)
    opened = note.open_note(data, [witness.verifier()])
    ((v, s),) = opened.signed_by
    assert isinstance(v, CosignatureVerifier) and v.timestamp(s.signature) == 1700000000
    # The same Ed25519 key as a plain type 0x01 key has another ID: line ignored.
    plain = Ed25519Verifier("witness.example/w1", ed_pub(COSIGNER_KEY))
    with pytest.raises(VerificationError):
        note.open_note(data, [plain])


def test_cosignature_timestamp_bounds() -> None:
    for bad in [1 << 63, (1 << 64) - 1, -1]:
        s = CosignatureSigner("w", COSIGNER_KEY, clock=lambda: bad)  # noqa: B023
        with pytest.raises(ConfigError):
            s.sign(TEXT.encode())
    CosignatureSigner("w", COSIGNER_KEY, clock=lambda: (1 << 63) - 1).sign(TEXT.encode())
    # A correctly signed cosignature claiming time 2**63 is refused by the verifier.
    ts = 1 << 63
    raw = COSIGNER_KEY.sign(note.cosignature_message(TEXT.encode(), ts))
    v = CosignatureVerifier("w", ed_pub(COSIGNER_KEY))
    assert not v.verify(TEXT.encode(), struct.pack(">Q", ts) + raw)
    data = TEXT.encode() + b"\n" + sig_line("w", v.key_id + struct.pack(">Q", ts) + raw).encode()
    with pytest.raises(VerificationError):
        note.open_note(data, [v])


def test_spec_cosignature_line_timestamp() -> None:
    n = Note.parse(
        (
            "example.com/behind-the-sofa\n20852163\n"
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n" + SPEC_COSIG_LINE
        ).encode()
    )
    (s,) = n.signatures
    assert len(s.signature) == 72
    assert CosignatureVerifier.timestamp(s.signature) == 1679315147


def test_keys_whose_base64_holds_plus() -> None:
    # Standard base64 uses '+': about half of all vkeys hold one after the key ID field.
    seen_plus = 0
    for i in range(64):
        signer = Ed25519Signer(f"log{i}.example", ed_key(f"key {i}"))
        vkey = signer.verifier().vkey()
        seen_plus += "+" in vkey.split("+", 2)[2]
        assert parse_vkey(vkey) == signer.verifier()
        assert note.parse_signer_key(signer.signer_key()).key_id == signer.key_id
        cos = CosignatureSigner(f"w{i}.example", ed_key(f"key {i}"), clock=lambda: 0).verifier()
        assert parse_vkey(cos.vkey()) == cos
    assert seen_plus > 0
