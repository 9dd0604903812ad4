"""hashedrekord 0.0.2 (Rekor v2) and 0.0.1 (Rekor v1) admission."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.codec import pem_blocks
from tlog.entries import admit_json
from tlog.entries.policy import AdmissionPolicy
from tlog.errors import MalformedError, UnsupportedEntryError, VerificationError

from .helpers import ARTIFACT, SHA256, admit, b64, body, data, edit, flip, refuse

# key fixture, its signature's hash, keyDetails
KEYS = {
    "rsa2048": ("sha256", "PKIX_RSA_PKCS1V15_2048_SHA256"),
    "rsa3072": ("sha256", "PKIX_RSA_PKCS1V15_3072_SHA256"),
    "rsa4096": ("sha256", "PKIX_RSA_PKCS1V15_4096_SHA256"),
    "p256": ("sha256", "PKIX_ECDSA_P256_SHA_256"),
    "p384": ("sha384", "PKIX_ECDSA_P384_SHA_384"),
    "p521": ("sha512", "PKIX_ECDSA_P521_SHA_512"),
    "ed25519ph": ("sha512", "PKIX_ED25519_PH"),
}
W = "hashedRekordRequestV002"


def der(name: str) -> bytes:
    """The DER inside a PEM fixture (a SubjectPublicKeyInfo or a certificate)."""
    return pem_blocks(data(name), name)[0][1]


def digest(hash_name: str) -> bytes:
    return hashlib.new(hash_name, ARTIFACT).digest()


def request(name: str = "p256") -> dict[str, Any]:
    hash_name, details = KEYS[name]
    return {
        W: {
            "digest": b64(digest(hash_name)),
            "signature": {
                "content": b64(data(f"x509/{name}.sig")),
                "verifier": {
                    "publicKey": {"rawBytes": b64(der(f"x509/{name}.pub.pem"))},
                    "keyDetails": details,
                },
            },
        }
    }


def cert_request() -> dict[str, Any]:
    req = request("p256")
    verifier = req[W]["signature"]["verifier"]
    del verifier["publicKey"]
    verifier["x509Certificate"] = {"rawBytes": b64(der("x509/leaf.pem"))}
    req[W]["signature"]["content"] = b64(data("x509/leaf.sig"))
    return req


def other_ca() -> bytes:
    """A self-signed CA certificate that issued nothing in the fixtures."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other CA")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# --- 0.0.2 known answers -----------------------------------------------------------------


def test_v002_known_answer_rfc8032_vector() -> None:
    """A request built from RFC 8032 §7.3's Ed25519ph test vector ("abc"), whose stored
    bytes are written out in full.

    How rekor-tiles makes them (pkg/types/hashedrekord ToLogEntry + internal/server):
    the request's signature is copied unchanged into
    ``Entry{kind, api_version, spec: {hashed_rekord_v002: {data: HashOutput{digest,
    algorithm}, signature}}}``, ``algorithm`` being the hash of ``keyDetails``
    (PKIX_ED25519_PH → SHA2_512); ``protojson.Marshal`` names fields in lowerCamelCase
    (apiVersion, hashedRekordV002, keyDetails, publicKey, rawBytes), writes enums by name
    and bytes as standard padded base64; RFC 8785 then removes whitespace and sorts
    members: apiVersion < kind < spec, data < signature, algorithm < digest,
    content < verifier, keyDetails < publicKey.
    """
    # RFC 8032 §7.3: public key ec172b93…e2bf, SHA-512("abc"), signature 98a70222…3406;
    # rawBytes is that key as a SubjectPublicKeyInfo (302a300506032b6570032100 ‖ key).
    spki = "MCowBQYDK2VwAyEA7Bcrk61eVjv0kyxw4SRQNMNUZ+8u/U1k6/gZaDRn4r8="
    sha512_abc = (
        "3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05ohkpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="
    )
    sig = "mKcCIvC4Ehqp0w+BPWg/gJ5GK0acf/h2OUmbuU5trkEx+FBCRjwqNVogA9BirfWqoQuMYeY2Biqq0RwqJgg0Bg=="
    assert spki == b64(
        bytes.fromhex("302a300506032b6570032100")
        + bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
    )
    assert sha512_abc == b64(hashlib.sha512(b"abc").digest())
    req = {
        W: {
            "digest": sha512_abc,
            "signature": {
                "content": sig,
                "verifier": {"publicKey": {"rawBytes": spki}, "keyDetails": "PKIX_ED25519_PH"},
            },
        }
    }
    expected = (
        b'{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{'
        b'"data":{"algorithm":"SHA2_512","digest":"3a81oZNherrMQXNJriBBMRLm+k6JqX6iCp7u5ktV05oh'
        b'kpkqJ0/BqDa6PCOj/uu9RU1EI2Q86A4qmslPpUyknw=="},'
        b'"signature":{"content":"mKcCIvC4Ehqp0w+BPWg/gJ5GK0acf/h2OUmbuU5trkEx+FBCRjwqNVogA9Bir'
        b'fWqoQuMYeY2Biqq0RwqJgg0Bg==","verifier":{"keyDetails":"PKIX_ED25519_PH",'
        b'"publicKey":{"rawBytes":"MCowBQYDK2VwAyEA7Bcrk61eVjv0kyxw4SRQNMNUZ+8u/U1k6/gZaDRn4r8="}}}}}}'
    )
    entry = admit(req)
    assert (entry.kind, entry.api_version) == ("hashedrekord", "0.0.2")
    assert entry.body == expected
    # Leaf hash RFC 6962 §2.1: SHA-256(0x00 ‖ leaf); the entry's UUID.
    assert (
        hashlib.sha256(b"\0" + entry.body).hexdigest()
        == "1133fb4f336909a42df2b61d3058fff0edd101e33df245f64ec9e9494d455cdd"
    )


def test_v002_known_answer_p256_fixture() -> None:
    """The same layout for an openssl P-256 signature, with a public key."""
    sig, key = data("x509/p256.sig"), der("x509/p256.pub.pem")
    expected = (
        '{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{'
        f'"data":{{"algorithm":"SHA2_256","digest":"{b64(SHA256)}"}},'
        f'"signature":{{"content":"{b64(sig)}","verifier":{{'
        f'"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{{"rawBytes":"{b64(key)}"}}}}}}}}}}}}'
    ).encode()
    assert admit(request("p256")).body == expected


def test_v002_known_answer_certificate() -> None:
    """With a certificate the verifier holds ``x509Certificate.rawBytes`` instead."""
    expected = (
        '{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{'
        f'"data":{{"algorithm":"SHA2_256","digest":"{b64(SHA256)}"}},'
        f'"signature":{{"content":"{b64(data("x509/leaf.sig"))}","verifier":{{'
        '"keyDetails":"PKIX_ECDSA_P256_SHA_256",'
        f'"x509Certificate":{{"rawBytes":"{b64(der("x509/leaf.pem"))}"}}}}}}}}}}}}'
    ).encode()
    assert admit(cert_request()).body == expected


# --- 0.0.2 admitted ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(KEYS))
def test_v002_every_algorithm(name: str) -> None:
    hash_name, details = KEYS[name]
    stored = body(admit(request(name)))["spec"]["hashedRekordV002"]
    proto_hash = {"sha256": "SHA2_256", "sha384": "SHA2_384", "sha512": "SHA2_512"}[hash_name]
    assert stored["data"] == {"algorithm": proto_hash, "digest": b64(digest(hash_name))}
    assert stored["signature"]["verifier"]["keyDetails"] == details


def test_v002_admitting_twice_gives_identical_bytes() -> None:
    assert admit(request()).body == admit(request()).body


def test_v002_protojson_spellings_are_equivalent() -> None:
    """protojson also reads proto field names, enum numbers and URL-safe or unpadded
    base64; what is stored is always the canonical spelling."""
    canonical = admit(request()).body
    req = request()
    inner = req[W]
    verifier = inner["signature"]["verifier"]
    raw = verifier.pop("publicKey")["rawBytes"]
    verifier["public_key"] = {"raw_bytes": raw.replace("+", "-").replace("/", "_").rstrip("=")}
    verifier["key_details"] = 5  # PKIX_ECDSA_P256_SHA_256
    del verifier["keyDetails"]
    assert admit(req).body == canonical


def test_v002_log_entry_spec_is_admitted_again() -> None:
    """A stored 0.0.2 body, as a v1-style proposed entry, admits to the same bytes."""
    first = admit(request())
    assert admit(first.body).body == first.body
    wrapped = {"kind": "hashedrekord", "apiVersion": "0.0.2", "spec": {W: request()[W]}}
    assert admit(wrapped).body == first.body


def test_v002_certificate_chaining_to_configured_ca() -> None:
    policy = AdmissionPolicy(ca_bundle=data("x509/ca.pem"))
    admit(cert_request(), policy=policy)
    refuse(
        request(),
        VerificationError,
        f"{W}.signature.verifier.publicKey",
        "bare keys",
        policy=policy,
    )
    policy = AdmissionPolicy(ca_bundle=other_ca())
    refuse(
        cert_request(),
        VerificationError,
        f"{W}.signature.verifier.x509Certificate",
        "does not chain",
        policy=policy,
    )


# --- 0.0.2 refused -------------------------------------------------------------------------

SIG = f"{W}.signature.content"
VER = f"{W}.signature.verifier"


def test_v002_flipped_signature_bit() -> None:
    req = edit(request(), f"{W}.signature.content", b64(flip(data("x509/p256.sig"), 10)))
    refuse(req, VerificationError, SIG, "signature does not verify with the given public key")


def test_v002_other_key() -> None:
    other = b64(der("x509/p256.pub.pem"))
    req = edit(request("p256"), f"{VER}.publicKey.rawBytes", b64(der("x509/leaf.pem")))
    refuse(req, MalformedError, f"{VER}.publicKey.rawBytes", "not a valid DER public key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    fresh = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert b64(fresh) != other
    refuse(edit(request(), f"{VER}.publicKey.rawBytes", b64(fresh)), VerificationError, SIG)


def test_v002_wrong_digest() -> None:
    req = edit(request(), f"{W}.digest", b64(hashlib.sha256(b"another artifact").digest()))
    refuse(req, VerificationError, SIG, "does not verify")


def test_v002_digest_of_the_wrong_length() -> None:
    req = edit(request(), f"{W}.digest", b64(SHA256[:31]))
    refuse(
        req, MalformedError, f"{W}.digest", "31 bytes, but PKIX_ECDSA_P256_SHA_256 signs 32-byte"
    )
    req = edit(request("p384"), f"{W}.digest", b64(SHA256))
    refuse(req, MalformedError, f"{W}.digest", "48-byte SHA2_384")


def test_v002_key_details_must_match_the_key() -> None:
    req = edit(request("p256"), f"{VER}.keyDetails", "PKIX_RSA_PKCS1V15_2048_SHA256")
    refuse(req, MalformedError, f"{VER}.keyDetails", "does not match the ECDSA P-256 key")


def test_v002_pure_ed25519_is_refused() -> None:
    req = request("ed25519ph")
    req = edit(req, f"{VER}.keyDetails", "PKIX_ED25519")
    refuse(req, UnsupportedEntryError, f"{VER}.keyDetails", "PKIX_ED25519_PH")


@pytest.mark.parametrize(
    ("details", "error", "text"),
    [
        (
            "PKIX_ECDSA_P256_HMAC_SHA_256",
            UnsupportedEntryError,
            "not a supported signing algorithm",
        ),
        ("NOT_AN_ALGORITHM", UnsupportedEntryError, "not a supported signing algorithm"),
        (6, UnsupportedEntryError, "enum value 6 is not supported"),
        ("", MalformedError, "expected an enum name"),
    ],
)
def test_v002_unknown_key_details(details: object, error: type[Exception], text: str) -> None:
    refuse(edit(request(), f"{VER}.keyDetails", details), error, f"{VER}.keyDetails", text)  # type: ignore[arg-type]


def test_v002_algorithm_not_allowed_by_policy() -> None:
    policy = AdmissionPolicy.from_options(["rsa-sign-pkcs1-3072-sha256"])
    refuse(
        request("p256"),
        UnsupportedEntryError,
        f"{VER}.keyDetails",
        "not allowed by this log's policy",
        policy=policy,
    )
    admit(request("rsa3072"), policy=policy)


@pytest.mark.parametrize(
    ("path", "value", "field", "text"),
    [
        (f"{W}.digest", "not base64!", f"{W}.digest", "not valid base64"),
        (f"{W}.digest", "", f"{W}.digest", "must not be empty"),
        (f"{W}.digest", None, f"{W}.digest", "missing"),
        (f"{W}.signature.content", "QUJD=", SIG, "incorrect padding"),
        (f"{W}.signature.content", None, SIG, "missing"),
        (
            f"{VER}.publicKey.rawBytes",
            "AAAA",
            f"{VER}.publicKey.rawBytes",
            "not a valid DER public key",
        ),
        (f"{VER}.publicKey", None, VER, "exactly one of publicKey and x509Certificate"),
        (f"{VER}.keyDetails", None, f"{VER}.keyDetails", "missing"),
        (f"{VER}.extra", 1, f"{VER}.extra", "unknown field"),
        (f"{W}.signature", "x", f"{W}.signature", "expected a JSON object"),
    ],
)
def test_v002_malformed(path: str, value: object, field: str, text: str) -> None:
    refuse(edit(request(), path, value), MalformedError, field, text)


def test_v002_both_verifiers_and_duplicate_spellings() -> None:
    req = edit(request(), f"{VER}.x509Certificate", {"rawBytes": b64(der("x509/leaf.pem"))})
    refuse(req, MalformedError, VER, "exactly one")
    req = edit(request(), f"{VER}.key_details", "PKIX_ECDSA_P256_SHA_256")
    refuse(req, MalformedError, f"{VER}.key_details", "field given twice")


def test_v002_log_entry_hash_must_match_the_algorithm() -> None:
    stored = body(admit(request()))
    stored["spec"]["hashedRekordV002"]["data"]["algorithm"] = "SHA2_384"
    refuse(stored, MalformedError, "spec.hashedRekordV002.data.algorithm", "does not match")


# --- 0.0.1 ---------------------------------------------------------------------------------


def proposal_v001(
    name: str = "p256", key_file: str | None = None, sig_file: str | None = None
) -> dict[str, Any]:
    hash_name = KEYS[name][0] if name in KEYS else "sha256"
    return {
        "kind": "hashedrekord",
        "apiVersion": "0.0.1",
        "spec": {
            "data": {"hash": {"algorithm": hash_name, "value": digest(hash_name).hex()}},
            "signature": {
                "content": b64(data(sig_file or f"x509/{name}.sig")),
                "publicKey": {"content": b64(data(key_file or f"x509/{name}.pub.pem"))},
            },
        },
    }


def test_v001_known_answer() -> None:
    """Rekor v1 (pkg/types/hashedrekord/v0.0.1 Canonicalize): the signature as given, the
    key re-encoded as PEM by Go's encoder (64-column base64, final newline), data.hash as
    given; Go's json.Marshal then RFC 8785: apiVersion < kind < spec, data < signature,
    algorithm < value, content < publicKey. openssl writes the same PEM as Go."""
    pem = data("x509/p256.pub.pem")
    expected = (
        '{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{'
        f'"data":{{"hash":{{"algorithm":"sha256","value":"{SHA256.hex()}"}}}},'
        f'"signature":{{"content":"{b64(data("x509/p256.sig"))}",'
        f'"publicKey":{{"content":"{b64(pem)}"}}}}}}}}'
    ).encode()
    entry = admit(proposal_v001())
    assert (entry.kind, entry.api_version) == ("hashedrekord", "0.0.1")
    assert entry.body == expected
    assert admit(entry.body).body == expected  # a stored body is a valid proposal again


@pytest.mark.parametrize("name", sorted(KEYS))
def test_v001_every_algorithm(name: str) -> None:
    admit(proposal_v001(name))


def test_v001_certificate_and_chain() -> None:
    leaf = admit(proposal_v001("p256", "x509/leaf.pem", "x509/leaf.sig"))
    key_pem = body(leaf)["spec"]["signature"]["publicKey"]["content"]
    assert key_pem == b64(data("x509/leaf.pem"))
    chain = admit(proposal_v001("p256", "x509/chain.pem", "x509/leaf.sig"))
    assert body(chain)["spec"]["signature"]["publicKey"]["content"] == b64(data("x509/chain.pem"))


def test_v001_canonical_pem_from_messy_input() -> None:
    """Whitespace around and inside the PEM does not change the stored key."""
    pem = data("x509/p256.pub.pem")
    messy = b"\n  " + pem.replace(b"\n", b"\r\n") + b"\n\n"
    doc = edit(proposal_v001(), "spec.signature.publicKey.content", b64(messy))
    assert admit(doc).body == admit(proposal_v001()).body


KEY = "spec.signature.publicKey.content"


@pytest.mark.parametrize(
    ("path", "value", "error", "field", "text"),
    [
        (
            "spec.signature.content",
            b64(flip(data("x509/p256.sig"), 12)),
            VerificationError,
            "spec.signature.content",
            "signature does not verify with the given public key",
        ),
        (
            KEY,
            b64(data("x509/p384.pub.pem")),
            UnsupportedEntryError,
            "spec.data.hash.algorithm",
            "PKIX_ECDSA_P384_SHA_256 is not allowed",
        ),
        (KEY, b64(data("x509/rsa2048.pub.pem")), VerificationError, "spec.signature.content", ""),
        (
            "spec.data.hash.value",
            hashlib.sha256(b"x").hexdigest(),
            VerificationError,
            "spec.signature.content",
            "does not verify",
        ),
        (
            "spec.data.hash.value",
            SHA256.hex()[:62],
            MalformedError,
            "spec.data.hash.value",
            "62 hex digits, the algorithm needs 64",
        ),
        (
            "spec.data.hash.value",
            SHA256.hex().upper(),
            MalformedError,
            "spec.data.hash.value",
            "lowercase",
        ),
        (
            "spec.data.hash.algorithm",
            "md5",
            MalformedError,
            "spec.data.hash.algorithm",
            "not one of sha256",
        ),
        ("spec.data.hash.algorithm", "sha512", MalformedError, "spec.data.hash.value", "needs 128"),
        (
            "spec.signature.content",
            "%%%",
            MalformedError,
            "spec.signature.content",
            "not valid standard base64",
        ),
        (
            KEY,
            b64(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
            MalformedError,
            KEY,
            "not a valid DER public key",
        ),
        (KEY, b64(b"not a pem"), MalformedError, KEY, "not a PEM-encoded"),
        (
            KEY,
            b64(data("x509/p256.pub.pem").replace(b"PUBLIC KEY", b"RSA PUBLIC KEY")),
            MalformedError,
            KEY,
            "not RSA PUBLIC KEY",
        ),
        ("spec.signature.publicKey", None, MalformedError, "spec.signature.publicKey", "missing"),
        ("spec.data", None, MalformedError, "spec.data", "missing"),
    ],
)
def test_v001_refused(
    path: str, value: object, error: type[Exception], field: str, text: str
) -> None:
    refuse(edit(proposal_v001(), path, value), error, field, text)  # type: ignore[arg-type]


def test_v001_ed25519_needs_sha512() -> None:
    doc = proposal_v001("ed25519ph")
    doc = edit(doc, "spec.data.hash", {"algorithm": "sha256", "value": SHA256.hex()})
    refuse(
        doc, UnsupportedEntryError, "spec.data.hash.algorithm", "Ed25519 keys cannot sign sha256"
    )


def test_v001_chain_must_verify() -> None:
    broken = data("x509/leaf.pem") + data("x509/p256.pub.pem").replace(
        b"PUBLIC KEY", b"CERTIFICATE"
    )
    doc = edit(proposal_v001(), KEY, b64(broken))
    refuse(doc, MalformedError, KEY)
    reversed_chain = data("x509/ca.pem") + data("x509/leaf.pem")
    doc = edit(proposal_v001("p256", "x509/leaf.pem", "x509/leaf.sig"), KEY, b64(reversed_chain))
    refuse(doc, VerificationError, KEY, "chain does not verify")


def test_admit_json_bytes_roundtrip() -> None:
    import json

    entry = admit_json(json.dumps(request()).encode())
    assert entry == admit(request())


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(["SHA2_256", "SHA2_384", "SHA2_512"]),
    st.binary(max_size=64),
    st.binary(max_size=80),
    st.binary(max_size=120),
    st.sampled_from(
        ["PKIX_ECDSA_P256_SHA_256", "PKIX_ED25519_PH", "PKIX_RSA_PKCS1V15_2048_SHA256"]
    ),
)
def test_the_v002_body_fast_path_is_its_rfc8785_form(
    hash_name: str, digest: bytes, content: bytes, raw: bytes, details: str
) -> None:
    import base64

    from tlog.entries.canonical import canonical_json
    from tlog.entries.hashedrekord import _canonical_v002

    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    sig = {
        "content": enc(content),
        "verifier": {"publicKey": {"rawBytes": enc(raw)}, "keyDetails": details},
    }
    body = {
        "apiVersion": "0.0.2",
        "kind": "hashedrekord",
        "spec": {
            "hashedRekordV002": {
                "data": {"algorithm": hash_name, "digest": enc(digest)},
                "signature": sig,
            }
        },
    }
    assert _canonical_v002(hash_name, enc(digest), sig) == canonical_json(body)
