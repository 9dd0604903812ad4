"""An entry against the watch list: which rules it matches (docs/monitor.md "Matching").

Pure. Fingerprints and digests are looked up among the entry's index keys
(:func:`tlog.index.keys.index_keys`), so the monitor and ``tlog search`` agree on what a
fingerprint is. Identities need to know where a name came from (a certificate SAN with
its Fulcio issuer, or a PGP user ID), so an entry whose keys name a candidate is read
again for its certificates; OID matchers read every certificate.

With CA roots, an identity or extension match in a certificate that does not chain to
them (a self-signed certificate claiming someone's email) is reported as
``unverified-identity``, never as a match: anyone can write any name into a certificate.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from tlog.codec import load_json
from tlog.errors import TlogError
from tlog.monitor.config import MonitorConfig

__all__ = ["Match", "Roots", "certificates", "match_entry"]

_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
_ISSUER_V1 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
_SAN_KINDS = ("email", "uri", "dns")


@dataclass(frozen=True)
class Match:
    """One rule an entry matched: ``rule`` (certIdentity, subject, fingerprint, digest,
    oidExtension), the entry's ``value`` that matched and the config ``pattern``;
    ``verified`` is False for a certificate claim the CA roots do not vouch for."""

    rule: str
    value: str
    pattern: str
    verified: bool = True

    def document(self) -> dict[str, str]:
        return {"rule": self.rule, "value": self.value, "pattern": self.pattern}


class Roots:
    """CA certificates (roots and intermediates) that identity claims must chain to."""

    def __init__(self, certs: Sequence[x509.Certificate]) -> None:
        self.certs = list(certs)

    @classmethod
    def parse(cls, pem: bytes) -> Roots:
        try:
            return cls(x509.load_pem_x509_certificates(pem))
        except ValueError as exc:
            from tlog.errors import ConfigError

            raise ConfigError(f"CA roots: not PEM certificates ({exc})") from None

    def vouch(self, cert: x509.Certificate) -> bool:
        """Whether ``cert`` is signed by one of the CAs, through at most 4 of them."""
        current = cert
        for _ in range(5):
            if current in self.certs:
                return True
            issuer = self._issuer_of(current)
            if issuer is None:
                return False
            if issuer == current:
                return True
            current = issuer
        return False

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | None:
        for ca in self.certs:
            if ca.subject != cert.issuer:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue
            return ca
        return None


def match_entry(
    config: MonitorConfig,
    entry: bytes,
    keys: Sequence[tuple[str, str]],
    roots: Roots | None = None,
) -> list[Match]:
    """The rules ``entry`` (with its index ``keys``) matches, each once, in rule order."""
    found: list[Match] = []
    fingerprints, digests = config.fingerprints, config.digests
    if fingerprints or digests:
        for pair in keys:
            kind, value = pair
            if kind == "key" and value in fingerprints:
                found.append(Match("fingerprint", value, value))
            elif pair in digests:
                found.append(Match("digest", f"{kind}:{value}", f"{kind}:{value}"))
    if not config.identities:
        return found
    names = [v for k, v in keys if k in _SAN_KINDS]
    wanted = config.name_patterns
    if not config.oid_matchers and not any(p.search(n) for p in wanted for n in names):
        return found
    certs = certificates(entry)
    sans: set[str] = set()
    for cert in certs:
        ok = roots is None or roots.vouch(cert)
        cert_sans = _sans(cert)
        sans.update(cert_sans)
        found.extend(_identity_matches(config, cert, cert_sans, ok))
        found.extend(_oid_matches(config, cert, ok))
    for name in names:
        if name not in sans:  # a user ID, not a certificate's claim
            found.extend(
                Match("subject", name, p.pattern) for p in config.subjects if p.search(name)
            )
    return found


def _identity_matches(
    config: MonitorConfig, cert: x509.Certificate, sans: list[str], ok: bool
) -> Iterator[Match]:
    issuer = fulcio_issuer(cert)
    for rule in config.cert_identities:
        for san in sans:
            if not rule.subject.search(san):
                continue
            if rule.issuers and not (issuer and any(p.search(issuer) for p in rule.issuers)):
                continue
            value = san if not rule.issuers else f"{san} ({issuer})"
            yield Match("certIdentity", value, rule.subject.pattern, ok)
            break


def _oid_matches(config: MonitorConfig, cert: x509.Certificate, ok: bool) -> Iterator[Match]:
    for matcher in config.oid_matchers:
        value = extension_text(cert, x509.ObjectIdentifier(matcher.oid))
        if value is not None and value in matcher.values:
            yield Match("oidExtension", f"{matcher.name}={value}", matcher.oid, ok)


def certificates(entry: bytes) -> list[x509.Certificate]:
    """The X.509 certificates a Rekor entry's verifiers carry (none for a raw entry or
    one signed with a bare key); parts that cannot be read are skipped."""
    if entry[:1] != b"{":
        return []
    try:
        doc = load_json(entry, "entry body")
    except TlogError:
        return []
    out: list[x509.Certificate] = []
    for der_or_pem in _verifier_blobs(doc):
        with contextlib.suppress(ValueError):
            if b"-----BEGIN CERTIFICATE-----" in der_or_pem:
                out.extend(x509.load_pem_x509_certificates(der_or_pem)[:1])
            elif der_or_pem[:1] == b"\x30":
                out.append(x509.load_der_x509_certificate(der_or_pem))
    return out


def _verifier_blobs(doc: Any) -> Iterator[bytes]:
    if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
        return
    spec = doc["spec"]
    blobs: list[Any] = []
    with contextlib.suppress(AttributeError, TypeError, KeyError):
        if "hashedRekordV002" in spec:
            verifier = spec["hashedRekordV002"]["signature"]["verifier"]
            blobs.append(verifier.get("x509Certificate", {}).get("rawBytes"))
        elif doc.get("kind") in ("hashedrekord", "rekord"):
            blobs.append(spec["signature"]["publicKey"]["content"])
        elif doc.get("kind") == "dsse":
            blobs.extend(s.get("verifier") for s in spec.get("signatures", []))
        elif doc.get("kind") == "intoto":
            sigs = spec["content"]["envelope"].get("signatures", [])
            blobs.extend(s.get("publicKey") for s in sigs)
    for blob in blobs:
        if isinstance(blob, str):
            with contextlib.suppress(ValueError):
                yield base64.b64decode(blob, validate=True)


def _sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return []
    out: list[str] = []
    for kind in (x509.RFC822Name, x509.UniformResourceIdentifier, x509.DNSName):
        out.extend(str(v) for v in san.get_values_for_type(kind))
    return out


def fulcio_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer Fulcio recorded (extension .1.8, else the older .1.1)."""
    return extension_text(cert, _ISSUER_V2) or extension_text(cert, _ISSUER_V1)


def extension_text(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """An extension's value as text: a DER UTF8String's content (Fulcio's newer
    extensions), else the raw bytes (its older ones); None if absent."""
    try:
        ext = cert.extensions.get_extension_for_oid(oid).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    raw = ext.value if isinstance(ext, x509.UnrecognizedExtension) else b""
    if len(raw) >= 2 and raw[0] == 0x0C:
        n, body = raw[1], raw[2:]
        if n & 0x80:
            width = n & 0x7F
            body = raw[2 + width :]
        raw = body
    return raw.decode("utf-8", "replace")
