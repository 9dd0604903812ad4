"""Rekor entries for the index tests: hashedrekord documents signed by a test identity
(an ECDSA key in a certificate with a SAN email and the Fulcio issuer extension)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from tlog.entries import admit_json
from tlog.entries.policy import DEFAULT_POLICY

ISSUER = "https://issuer.example"


@dataclass(frozen=True)
class Identity:
    email: str
    key: ec.EllipticCurvePrivateKey
    cert_pem: bytes

    @property
    def spki_sha256(self) -> str:
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def identity(email: str) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    now = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    issuer_ext = x509.UnrecognizedExtension(
        x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8"),
        b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode(),
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .add_extension(issuer_ext, critical=False)
        .sign(key, hashes.SHA256())
    )
    return Identity(email, key, cert.public_bytes(serialization.Encoding.PEM))


def document(who: Identity, artifact: bytes, *, cert: bool = True) -> bytes:
    """A hashedrekord 0.0.1 proposal signing ``artifact``."""
    digest = hashlib.sha256(artifact).digest()
    sig = who.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    pem = who.cert_pem if cert else who.public_pem()
    doc = {
        "kind": "hashedrekord",
        "apiVersion": "0.0.1",
        "spec": {
            "signature": {
                "content": base64.b64encode(sig).decode(),
                "publicKey": {"content": base64.b64encode(pem).decode()},
            },
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
        },
    }
    return json.dumps(doc).encode()


def entry(who: Identity, artifact: bytes, *, cert: bool = True) -> bytes:
    """The canonical body the log stores for :func:`document`."""
    return admit_json(document(who, artifact, cert=cert), DEFAULT_POLICY).body
