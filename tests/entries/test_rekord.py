"""rekord 0.0.1 admission: x509, ssh (SSHSIG), minisign and pgp signatures."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from tlog.entries import pgp
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, UnsupportedEntryError, VerificationError

from .helpers import ARTIFACT, SHA256, admit, b64, body, data, edit, flip, refuse

SIG = "spec.signature.content"
KEY = "spec.signature.publicKey.content"


def proposal(
    fmt: str, sig_file: str, key_file: str, *, content: bool = True, hash_: bool = True
) -> dict[str, Any]:
    spec_data: dict[str, Any] = {}
    if content:
        spec_data["content"] = b64(ARTIFACT)
    if hash_:
        spec_data["hash"] = {"algorithm": "sha256", "value": SHA256.hex()}
    return {
        "kind": "rekord",
        "apiVersion": "0.0.1",
        "spec": {
            "data": spec_data,
            "signature": {
                "format": fmt,
                "content": b64(data(sig_file)),
                "publicKey": {"content": b64(data(key_file))},
            },
        },
    }


X509 = ["rsa2048", "rsa3072", "rsa4096", "p256", "p384", "p521", "ed25519"]
SSH = ["ed25519", "ecdsa", "rsa"]
PGP = [
    ("rsa.sig.asc", "rsa.pub.asc"),
    ("p256.sig.asc", "p256.pub.asc"),
    ("ed25519.sig.asc", "ed25519.pub.asc"),
    ("ed25519.sig", "ed25519.pub.gpg"),
    ("ed25519.text.sig.asc", "ed25519.pub.asc"),
    ("subkey.sig.asc", "subkey.pub.asc"),
]
GOOD = (
    [("x509", f"x509/{n}.sig", f"x509/{n}.pub.pem") for n in X509]
    + [("x509", "x509/leaf.sig", "x509/leaf.pem"), ("x509", "x509/leaf.sig", "x509/chain.pem")]
    + [("ssh", f"ssh/{n}.sig", f"ssh/{n}.pub") for n in SSH]
    + [("ssh", "ssh/ed25519.sha256.sig", "ssh/ed25519.pub")]
    + [("minisign", f"minisign/{n}.minisig", "minisign/key.pub") for n in ("prehashed", "legacy")]
    + [("pgp", f"pgp/{s}", f"pgp/{k}") for s, k in PGP]
)


def _stored_expectation(entry_body: dict[str, Any], fmt: str) -> None:
    """What Rekor's canonical rekord body holds: the data hash, never the content."""
    spec = entry_body["spec"]
    assert entry_body["kind"] == "rekord" and entry_body["apiVersion"] == "0.0.1"
    assert spec["data"] == {"hash": {"algorithm": "sha256", "value": SHA256.hex()}}
    assert spec["signature"]["format"] == fmt
    assert set(spec["signature"]) == {"content", "format", "publicKey"}


@pytest.mark.parametrize(("fmt", "sig", "key"), GOOD, ids=[f"{f}-{s}-{k}" for f, s, k in GOOD])
def test_admitted(fmt: str, sig: str, key: str) -> None:
    first = admit(proposal(fmt, sig, key))
    _stored_expectation(body(first), fmt)
    assert admit(proposal(fmt, sig, key)).body == first.body
    # Content alone (Rekor's usual form) gives the same entry as content and hash.
    assert admit(proposal(fmt, sig, key, hash_=False)).body == first.body


@pytest.mark.parametrize(("fmt", "sig", "key"), GOOD, ids=[f"{f}-{s}-{k}" for f, s, k in GOOD])
def test_flipped_signature_bit(fmt: str, sig: str, key: str) -> None:
    raw = data(sig)
    if fmt in ("ssh", "pgp") and raw.startswith(b"-----"):
        # Flip a bit inside the armored signature value, not the armor.
        blob = (
            pgp.dearmor(raw, {"SIGNATURE"}, "x")
            if fmt == "pgp"
            else base64.b64decode(b"".join(raw.splitlines()[1:-1]))
        )
        blob = flip(blob, -3)
        raw = (
            pgp.armor("PGP SIGNATURE", blob)
            if fmt == "pgp"
            else (
                b"-----BEGIN SSH SIGNATURE-----\n"
                + base64.b64encode(blob)
                + b"\n-----END SSH SIGNATURE-----\n"
            )
        )
    elif fmt == "minisign":
        lines = raw.split(b"\n")
        lines[1] = base64.b64encode(flip(base64.b64decode(lines[1]), -1))
        raw = b"\n".join(lines)
    else:
        raw = flip(raw, -3)
    doc = edit(proposal(fmt, sig, key), SIG, b64(raw))
    refuse(doc, VerificationError, SIG)


OTHER_KEY = {
    "x509": "x509/p256.pub.pem",
    "ssh": "ssh/ecdsa.pub",
    "pgp": "pgp/rsa.pub.asc",
}


@pytest.mark.parametrize(
    ("fmt", "sig", "key"),
    [g for g in GOOD if g[0] != "minisign" and g[2] != OTHER_KEY[g[0]] and "chain" not in g[2]],
)
def test_other_key(fmt: str, sig: str, key: str) -> None:
    doc = edit(proposal(fmt, sig, OTHER_KEY[fmt]), SIG, b64(data(sig)))
    refuse(doc, VerificationError, SIG)


def test_other_minisign_key() -> None:
    raw = base64.b64decode(data("minisign/key.pub").split(b"\n")[1])
    other = base64.b64encode(raw[:10] + bytes(32 - 1) + b"\x01")
    doc = edit(
        proposal("minisign", "minisign/prehashed.minisig", "minisign/key.pub"), KEY, b64(other)
    )
    refuse(doc, VerificationError, SIG)


@pytest.mark.parametrize(
    ("fmt", "sig", "key"),
    [
        ("x509", "x509/rsa2048.sig", "x509/rsa2048.pub.pem"),
        ("ssh", "ssh/ed25519.sig", "ssh/ed25519.pub"),
        ("minisign", "minisign/prehashed.minisig", "minisign/key.pub"),
        ("pgp", "pgp/rsa.sig.asc", "pgp/rsa.pub.asc"),
    ],
)
def test_wrong_content(fmt: str, sig: str, key: str) -> None:
    doc = proposal(fmt, sig, key, hash_=False)
    doc = edit(doc, "spec.data.content", b64(b"another artifact\n"))
    refuse(doc, VerificationError, SIG)


def test_hash_must_match_content() -> None:
    doc = edit(
        proposal("x509", "x509/p256.sig", "x509/p256.pub.pem"), "spec.data.hash.value", "00" * 32
    )
    refuse(
        doc, VerificationError, "spec.data.hash.value", "is not the SHA-256 of spec.data.content"
    )


@pytest.mark.parametrize(
    ("value", "error", "field", "text"),
    [
        ("ab" * 31, MalformedError, "spec.data.hash.value", "62 hex digits"),
        ("AB" * 32, MalformedError, "spec.data.hash.value", "lowercase"),
    ],
)
def test_digest_malformed(value: str, error: type[Exception], field: str, text: str) -> None:
    doc = edit(
        proposal("x509", "x509/p256.sig", "x509/p256.pub.pem", content=False),
        "spec.data.hash.value",
        value,
    )
    refuse(doc, error, field, text)  # type: ignore[arg-type]


def test_hash_only_where_the_signature_allows_it() -> None:
    """Without content: x509 ECDSA/RSA with SHA-256 and SSHSIG sha256 still verify."""
    with_content = admit(proposal("x509", "x509/p256.sig", "x509/p256.pub.pem"))
    assert (
        admit(proposal("x509", "x509/p256.sig", "x509/p256.pub.pem", content=False)).body
        == with_content.body
    )
    admit(proposal("x509", "x509/rsa2048.sig", "x509/rsa2048.pub.pem", content=False))
    admit(proposal("ssh", "ssh/ed25519.sha256.sig", "ssh/ed25519.pub", content=False))
    for fmt, sig, key in [
        ("x509", "x509/ed25519.sig", "x509/ed25519.pub.pem"),
        ("x509", "x509/p384.sig", "x509/p384.pub.pem"),
        ("ssh", "ssh/ed25519.sig", "ssh/ed25519.pub"),
        ("minisign", "minisign/prehashed.minisig", "minisign/key.pub"),
        ("pgp", "pgp/rsa.sig.asc", "pgp/rsa.pub.asc"),
    ]:
        refuse(
            proposal(fmt, sig, key, content=False),
            MalformedError,
            "spec.data.content",
            "needed to verify",
        )


def test_hash_only_wrong_digest() -> None:
    doc = edit(
        proposal("x509", "x509/p256.sig", "x509/p256.pub.pem", content=False),
        "spec.data.hash.value",
        "11" * 32,
    )
    refuse(doc, VerificationError, SIG)


# --- formats and policy ------------------------------------------------------------------


def test_unknown_format() -> None:
    doc = edit(
        proposal("x509", "x509/p256.sig", "x509/p256.pub.pem"), "spec.signature.format", "tuf"
    )
    refuse(
        doc, UnsupportedEntryError, "spec.signature.format", "not one of minisign, pgp, ssh, x509"
    )


def test_format_turned_off_by_policy() -> None:
    policy = AdmissionPolicy.from_options(pki_formats=["x509"])
    admit(proposal("x509", "x509/p256.sig", "x509/p256.pub.pem"), policy=policy)
    refuse(
        proposal("ssh", "ssh/ed25519.sig", "ssh/ed25519.pub"),
        UnsupportedEntryError,
        "spec.signature.format",
        "not allowed by this log's policy",
        policy=policy,
    )


def test_key_shape_not_allowed_by_policy() -> None:
    policy = AdmissionPolicy.from_options(["PKIX_ECDSA_P256_SHA_256"])
    admit(proposal("x509", "x509/p256.sig", "x509/p256.pub.pem"), policy=policy)
    refuse(
        proposal("ssh", "ssh/rsa.sig", "ssh/rsa.pub"),
        UnsupportedEntryError,
        KEY,
        "RSA-3072 keys",
        policy=policy,
    )
    refuse(
        proposal("minisign", "minisign/legacy.minisig", "minisign/key.pub"),
        UnsupportedEntryError,
        KEY,
        "Ed25519 keys are not allowed",
        policy=policy,
    )
    refuse(
        proposal("pgp", "pgp/rsa.sig.asc", "pgp/rsa.pub.asc"),
        UnsupportedEntryError,
        KEY,
        policy=policy,
    )
    refuse(
        proposal("x509", "x509/p384.sig", "x509/p384.pub.pem"),
        UnsupportedEntryError,
        KEY,
        policy=policy,
    )


def test_p384_sha256_only_with_rekor_v1_algorithm() -> None:
    """Rekor v1 verifies P-384 rekord signatures with SHA-256; here that needs
    PKIX_ECDSA_P384_SHA_256 in the policy."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP384R1())
    sig = key.sign(ARTIFACT, ec.ECDSA(hashes.SHA256()))
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    doc = proposal("x509", "x509/p384.sig", "x509/p384.pub.pem")
    doc = edit(edit(doc, SIG, b64(sig)), KEY, b64(pem))
    refuse(doc, VerificationError, SIG)
    policy = AdmissionPolicy.from_options(["PKIX_ECDSA_P384_SHA_256"])
    admit(doc, policy=policy)


# --- canonical forms per format ------------------------------------------------------------


def stored_signature(entry_body: dict[str, Any]) -> bytes:
    return base64.b64decode(entry_body["spec"]["signature"]["content"])


def stored_key(entry_body: dict[str, Any]) -> bytes:
    return base64.b64decode(entry_body["spec"]["signature"]["publicKey"]["content"])


def test_x509_canonical_values() -> None:
    """The raw signature and the key's PEM, as Rekor's pkg/pki/x509 stores them."""
    stored = body(admit(proposal("x509", "x509/p256.sig", "x509/p256.pub.pem")))
    assert stored_signature(stored) == data("x509/p256.sig")
    assert stored_key(stored) == data("x509/p256.pub.pem")


def test_ssh_canonical_values() -> None:
    """The SSHSIG re-armored by Go's PEM encoder (64 columns, ssh-keygen writes 70) and
    the key as ``<type> <base64>\\n`` without its comment (ssh.MarshalAuthorizedKey)."""
    stored = body(admit(proposal("ssh", "ssh/ed25519.sig", "ssh/ed25519.pub")))
    sig = stored_signature(stored)
    lines = sig.split(b"\n")
    assert (
        lines[0] == b"-----BEGIN SSH SIGNATURE-----" and lines[-2] == b"-----END SSH SIGNATURE-----"
    )
    assert all(len(ln) == 64 for ln in lines[1:-3]) and sig.endswith(b"-----\n")
    original = base64.b64decode(b"".join(data("ssh/ed25519.sig").splitlines()[1:-1]))
    assert base64.b64decode(b"".join(lines[1:-2])) == original
    key_type, key_b64, _comment = data("ssh/ed25519.pub").split(b" ", 2)
    assert stored_key(stored) == key_type + b" " + key_b64 + b"\n"


def test_minisign_canonical_values() -> None:
    """``untrusted comment:\\n`` + the signature line; the key's base64 line alone."""
    stored = body(admit(proposal("minisign", "minisign/prehashed.minisig", "minisign/key.pub")))
    sig_line = data("minisign/prehashed.minisig").split(b"\n")[1]
    assert stored_signature(stored) == b"untrusted comment:\n" + sig_line
    assert stored_key(stored) == data("minisign/key.pub").split(b"\n")[1]


def test_minisign_key_forms_are_equivalent() -> None:
    """The whole .pub file, its base64 line or the raw 32 key bytes (key id then zero)."""
    full = admit(proposal("minisign", "minisign/legacy.minisig", "minisign/key.pub"))
    line = data("minisign/key.pub").split(b"\n")[1]
    doc = edit(proposal("minisign", "minisign/legacy.minisig", "minisign/key.pub"), KEY, b64(line))
    assert admit(doc).body == full.body
    raw = base64.b64decode(line)[10:]
    doc = edit(doc, KEY, b64(raw))
    assert stored_key(body(admit(doc))) == base64.b64encode(b"Ed" + bytes(8) + raw)


def test_pgp_canonical_values() -> None:
    """An armored signature is stored as given, a binary one armored as go-crypto does
    (blank line after the header, CRC-24 line, no final newline)."""
    armored = body(admit(proposal("pgp", "pgp/ed25519.sig.asc", "pgp/ed25519.pub.asc")))
    assert stored_signature(armored) == data("pgp/ed25519.sig.asc")
    binary = body(admit(proposal("pgp", "pgp/ed25519.sig", "pgp/ed25519.pub.gpg")))
    sig = stored_signature(binary)
    assert sig.startswith(b"-----BEGIN PGP SIGNATURE-----\n\n")
    assert sig.endswith(b"\n-----END PGP SIGNATURE-----")
    assert pgp.dearmor(sig, {"SIGNATURE"}, "x") == data("pgp/ed25519.sig")
    # The key, armored or binary on input, is stored the same way.
    assert stored_key(armored) == stored_key(binary)
    assert stored_key(armored).startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n")


def test_ssh_namespace_must_be_file() -> None:
    doc = proposal("ssh", "ssh/ed25519.git-namespace.sig", "ssh/ed25519.pub")
    refuse(doc, MalformedError, SIG, "namespace must be 'file', not 'git'")


def test_ssh_signature_key_must_be_the_given_key() -> None:
    doc = edit(
        proposal("ssh", "ssh/ed25519.sig", "ssh/ed25519.pub"), KEY, b64(data("ssh/ecdsa.pub"))
    )
    refuse(doc, VerificationError, SIG, "signed by another key")


@pytest.mark.parametrize(
    ("fmt", "field", "value", "error", "text"),
    [
        ("ssh", SIG, b64(b"not armored"), MalformedError, "not a PEM-encoded"),
        ("ssh", KEY, b64(b"ssh-ed25519 AAAA"), MalformedError, "not a valid SSH public key"),
        ("ssh", KEY, b64(b"ssh-dss AAAAB3NzaC1kc3MAAAA"), MalformedError, ""),
        (
            "minisign",
            SIG,
            b64(b"untrusted comment: x\nAAAA\n"),
            MalformedError,
            "invalid minisign signature line",
        ),
        ("minisign", KEY, b64(b"RWQ="), MalformedError, "not a minisign public key"),
        (
            "pgp",
            SIG,
            b64(b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----"),
            MalformedError,
            "",
        ),
        ("pgp", KEY, b64(b"\x99\x00\x01"), MalformedError, "OpenPGP"),
        (
            "x509",
            KEY,
            b64(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            MalformedError,
            "certificate",
        ),
    ],
)
def test_malformed_keys_and_signatures(
    fmt: str, field: str, value: str, error: type[Exception], text: str
) -> None:
    files = {
        "ssh": ("ssh/ed25519.sig", "ssh/ed25519.pub"),
        "minisign": ("minisign/prehashed.minisig", "minisign/key.pub"),
        "pgp": ("pgp/ed25519.sig.asc", "pgp/ed25519.pub.asc"),
        "x509": ("x509/p256.sig", "x509/p256.pub.pem"),
    }[fmt]
    refuse(edit(proposal(fmt, *files), field, value), error, field, text)  # type: ignore[arg-type]


def test_pgp_subkey_needs_its_binding_signature() -> None:
    """Dropping the subkey's binding signature leaves no key that may have signed."""
    binary = pgp.dearmor(data("pgp/subkey.pub.asc"), {"PUBLIC KEY BLOCK"}, "x")
    packets = pgp.read_packets(binary, "x")
    last_subkey = max(i for i, p in enumerate(packets) if p.tag == pgp.TAG_PUBLIC_SUBKEY)
    stripped = [
        p for i, p in enumerate(packets) if not (i > last_subkey and p.tag == pgp.TAG_SIGNATURE)
    ]
    key = pgp.armor("PGP PUBLIC KEY BLOCK", b"".join(p.serialize() for p in stripped))
    doc = edit(proposal("pgp", "pgp/subkey.sig.asc", "pgp/subkey.pub.asc"), KEY, b64(key))
    refuse(doc, VerificationError, SIG, "not in the given public key")


def test_pgp_armor_checksum() -> None:
    sig = data("pgp/ed25519.sig.asc")
    lines = sig.split(b"\n")
    crc_index = next(i for i, ln in enumerate(lines) if ln.startswith(b"=") and len(ln) == 5)
    lines[crc_index] = b"=AAAA"
    doc = edit(
        proposal("pgp", "pgp/ed25519.sig.asc", "pgp/ed25519.pub.asc"), SIG, b64(b"\n".join(lines))
    )
    refuse(doc, MalformedError, SIG, "CRC-24")


def test_pgp_weak_hash_refused() -> None:
    """A signature packet naming SHA-1 (hash algorithm 2) is refused before verifying."""
    packet = pgp.read_packets(data("pgp/ed25519.sig"), "x")[0]
    raw = bytearray(packet.body)
    raw[3] = 2
    sig = pgp.Packet(packet.tag, bytes(raw)).serialize()
    doc = edit(proposal("pgp", "pgp/ed25519.sig", "pgp/ed25519.pub.gpg"), SIG, b64(sig))
    refuse(doc, MalformedError, SIG, "hash algorithm 2 is not accepted")


def test_pgp_text_signature_normalizes_line_endings() -> None:
    """A text-mode (0x01) signature also verifies over the CRLF form of the file."""
    doc = proposal("pgp", "pgp/ed25519.text.sig.asc", "pgp/ed25519.pub.asc", hash_=False)
    crlf = ARTIFACT.replace(b"\n", b"\r\n")
    admit(edit(doc, "spec.data.content", b64(crlf)))


def test_rekord_data_needs_content_or_hash() -> None:
    doc = proposal("x509", "x509/p256.sig", "x509/p256.pub.pem", content=False, hash_=False)
    refuse(doc, MalformedError, "spec.data", "needs content or hash")
    doc = edit(
        proposal("x509", "x509/p256.sig", "x509/p256.pub.pem"), "spec.data.hash.algorithm", "sha1"
    )
    refuse(doc, MalformedError, "spec.data.hash.algorithm", "must be sha256")


def test_digest_of_artifact_is_stored() -> None:
    stored = body(
        admit(proposal("minisign", "minisign/prehashed.minisig", "minisign/key.pub", hash_=False))
    )
    assert stored["spec"]["data"]["hash"]["value"] == hashlib.sha256(ARTIFACT).hexdigest()
