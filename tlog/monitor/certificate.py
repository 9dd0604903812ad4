"""X.509 certificates read for validity and index keys, the parts they share read once.

The monitor's hot path (docs/monitor.md "Speed and memory"). Admission takes a
certificate when :func:`tlog.entries.pkix.parse_certificate` decodes it whole and
:func:`~tlog.entries.pkix.certificate_key` takes its key; :func:`read` proves the same
with less work, and gives the key and the index keys
(:func:`tlog.index.keys.certificate_keys`) from the same reading:

* ``cryptography`` loads the certificate (its deprecation warnings as errors, as
  ``parse_certificate`` has them) and it must re-encode to the same bytes: the DER is
  then canonical, and the fields below are cut from it exactly where ``cryptography``
  parsed them.
* Decoding "whole" means that the issuer and subject names convert, and every
  extension parses (``cryptography`` parses each one by its OID and bytes alone, and
  refuses an OID given twice). Whether a name or an extension parses depends on its
  bytes alone, so the bytes that parsed once are remembered (:class:`Parts`) and
  the certificates of one CA, which share the issuer name, the key usages, the
  authority key identifier and the OIDC issuer, are not parsed again. Extensions
  ``cryptography`` does not parse (it returns them as ``UnrecognizedExtension``,
  whatever their bytes: Fulcio's own) need nothing; the subject key identifier, the
  subject alternative name and the precertificate SCT list, which differ from one
  certificate to the next, are read here as ``cryptography`` reads them (an OCTET
  STRING; e-mail, DNS and URI names of UTF-8 text, anything else left to it; the SCTs'
  TLS vectors). Anything else unseen: the whole certificate's extensions are decoded
  by ``cryptography``, as admission does, and remembered.
* A P-256 key whose SubjectPublicKeyInfo is the named-curve, uncompressed form is
  exactly what ``cryptography`` encodes for it, so those bytes are its SPKI.

Pure, no IO. :func:`read` returns None for what it cannot take (the caller goes the
general way, which gives the verdict), and raises what ``parse_certificate`` raises.
"""

from __future__ import annotations

import hashlib

from cryptography import x509

from tlog.entries.algorithm import KeyShape
from tlog.entries.pkix import PkixKey, certificate_key, check_names, load_der

__all__ = ["Parts", "read"]

#: The DER SubjectPublicKeyInfo of a P-256 key, up to its uncompressed point (0x04, X, Y).
P256_SPKI = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
_P256 = KeyShape("ecdsa", "P-256")
#: Content bytes of OIDs read here: subjectKeyIdentifier, subjectAltName, Fulcio's
#: OIDC issuer (.1.8, a UTF8String, and the older .1.1, raw text).
_SKI = bytes.fromhex("551d0e")
_SAN = bytes.fromhex("551d11")
#: The precertificate SCT list (RFC 6962 §3.3), one of its own in every Fulcio certificate.
_SCTS = bytes.fromhex("2b06010401d679020402")
_ISSUER_V2 = bytes.fromhex("2b0601040183bf300108")
_ISSUER_V1 = bytes.fromhex("2b0601040183bf300101")
#: SAN GeneralName tags (context-specific, primitive) and the index key kinds.
_NAME_KINDS = {0x81: "email", 0x82: "dns", 0x86: "uri"}
_LIMIT = 1 << 14
#: Parts bigger than this are proved each time, never remembered, so the memory is
#: bounded in bytes too (about 3 × 2^14 KiB), whatever certificates the log holds.
_PART_BYTES = 1 << 10

#: What an extension gives the index keys: () or ((kind, value), ...) for a SAN, or
#: (("issuer", text),) for Fulcio's OIDC issuer.
Info = tuple[tuple[str, str], ...]


class Parts:
    """Certificate parts known to parse: names, and extensions by their whole DER (with
    their OID and what they give the index keys); OIDs ``cryptography`` leaves unparsed."""

    def __init__(self) -> None:
        self.names: set[bytes] = set()
        self.extensions: dict[bytes, tuple[bytes, Info]] = {}
        self.unparsed: set[bytes] = set()

    def remember(self, ext: bytes, oid: bytes, info: Info) -> None:
        """An extension that parsed (the memory is bounded: full, it starts again)."""
        if len(ext) > _PART_BYTES:
            return
        if len(self.extensions) >= _LIMIT:
            self.extensions.clear()
        self.extensions[ext] = (oid, info)

    def name(self, *names: bytes) -> None:
        """Names that converted."""
        if len(self.names) >= _LIMIT:
            self.names.clear()
        self.names.update(n for n in names if len(n) <= _PART_BYTES)

    def unparsed_oid(self, oid: bytes) -> None:
        """An OID whose extensions ``cryptography`` returned unparsed."""
        if len(oid) > _PART_BYTES:
            return
        if len(self.unparsed) >= _LIMIT:
            self.unparsed.clear()
        self.unparsed.add(oid)


PARTS = Parts()


def read(der: bytes, parts: Parts = PARTS) -> tuple[PkixKey, list[tuple[str, str]]] | None:
    """The key of the certificate ``der`` and its index keys (as ``certificate_keys``
    gives them, unnormalized), if admission's ``parse_certificate`` and
    ``certificate_key`` take it; None when the DER does not have the shape read here."""
    cert = load_der(der)
    cert.version  # noqa: B018
    fields = _fields(der)
    if fields is None:
        return None
    issuer, subject, spki, exts = fields
    names = parts.names
    if issuer not in names or subject not in names:
        check_names(cert)
        parts.name(issuer, subject)
    infos = _extensions(cert, exts, parts)
    if infos is None:
        return None
    if len(spki) == 91 and spki.startswith(P256_SPKI) and spki[26] == 4:
        key = PkixKey(cert.public_key(), _P256, spki, (der,))  # type: ignore[arg-type]
    else:
        key = certificate_key(cert, der)
    keys = [
        ("key", hashlib.sha256(key.spki).hexdigest()),
        ("key", hashlib.sha256(der).hexdigest()),
    ]
    return key, keys + _identities(infos)


def _tlv(d: bytes, i: int) -> tuple[int, int]:
    """The content's start and end of the DER element at ``d[i]`` (canonical DER)."""
    n = d[i + 1]
    if n < 0x80:
        return i + 2, i + 2 + n
    s = i + 2 + (n & 0x7F)
    return s, s + int.from_bytes(d[i + 2 : s], "big")


def _fields(der: bytes) -> tuple[bytes, bytes, bytes, list[tuple[bytes, bytes, bytes]]] | None:
    """The issuer, subject, SPKI and extensions (whole, OID, value) of canonical DER."""
    ends = []
    p = _tlv(der, _tlv(der, 0)[0])[0]  # into the TBSCertificate
    if der[p] == 0xA0:  # version
        p = _tlv(der, p)[1]
    for _ in range(6):  # serial, signature, issuer, validity, subject, spki
        n = der[p + 1]
        p = p + 2 + n if n < 0x80 else _tlv(der, p)[1]
        ends.append(p)
    issuer, subject, spki = der[ends[1] : ends[2]], der[ends[3] : ends[4]], der[ends[4] : p]
    exts: list[tuple[bytes, bytes, bytes]] = []
    while p < len(der) and der[p] in (0x81, 0x82):  # unique identifiers
        p = _tlv(der, p)[1]
    if p >= len(der) or der[p] != 0xA3:
        return issuer, subject, spki, exts
    a, end = _tlv(der, _tlv(der, p)[0])
    while a < end:
        n = der[a + 1]
        s = a + 2 if n < 0x80 else a + 2 + (n & 0x7F)
        e = s + n if n < 0x80 else _tlv(der, a)[1]
        k = der[s + 1]
        if k >= 0x80:  # an OID of 128 bytes or more
            return None
        v = s + 2 + k
        if der[v] == 0x01:  # critical
            v += 3
        n = der[v + 1]
        v0 = v + 2 if n < 0x80 else v + 2 + (n & 0x7F)
        exts.append((der[a:e], der[s + 2 : s + 2 + k], der[v0:e]))
        a = e
    return issuer, subject, spki, exts


def _extensions(
    cert: x509.Certificate, exts: list[tuple[bytes, bytes, bytes]], parts: Parts
) -> list[Info] | None:
    """What each extension gives the index keys, once it is known to parse as
    ``cryptography`` parses it (the whole certificate's extensions decoded if not)."""
    known, unparsed = parts.extensions, parts.unparsed
    infos: list[Info] = []
    oids: set[bytes] = set()
    for whole, oid, value in exts:
        seen = known.get(whole)
        if seen is not None:
            infos.append(seen[1])
        elif oid in unparsed:
            infos.append(_issuer(oid, value))
        elif oid == _SKI and _octet_string(value):
            infos.append(())
        elif oid == _SAN and (san := _san(value)) is not None:
            parts.remember(whole, oid, san)  # identities recur
            infos.append(san)
        elif oid == _SCTS and _scts(value):
            infos.append(())
        else:
            return _decoded(cert, exts, parts)
        oids.add(oid)
    if len(oids) != len(exts):
        cert.extensions  # noqa: B018  (raises DuplicateExtension)
        return None
    return infos


def _decoded(
    cert: x509.Certificate, exts: list[tuple[bytes, bytes, bytes]], parts: Parts
) -> list[Info] | None:
    """The extensions decoded by ``cryptography`` (raising as it does), remembered."""
    decoded = list(cert.extensions)
    if len(decoded) != len(exts):
        return None
    infos: list[Info] = []
    for (whole, oid, value), ext in zip(exts, decoded, strict=True):
        if isinstance(ext.value, x509.UnrecognizedExtension):
            parts.unparsed_oid(oid)
            infos.append(_issuer(oid, value))
            continue
        info: Info = ()
        if isinstance(ext.value, x509.SubjectAlternativeName):
            info = tuple(
                (kind, str(name))
                for kind, cls in (
                    ("email", x509.RFC822Name),
                    ("uri", x509.UniformResourceIdentifier),
                    ("dns", x509.DNSName),
                )
                for name in ext.value.get_values_for_type(cls)
            )
        parts.remember(whole, oid, info)
        infos.append(info)
    return infos


def _octet_string(value: bytes) -> bool:
    """Whether ``value`` is one DER OCTET STRING, as ``cryptography`` reads a subject key
    identifier."""
    return len(value) >= 2 and value[0] == 0x04 and _whole(value, 0) == len(value)


def _whole(d: bytes, i: int) -> int:
    """The end of the DER element at ``d[i]``, or -1 if its length is not in DER's one
    form (or runs past the end)."""
    if i + 2 > len(d):
        return -1
    n = d[i + 1]
    if n < 0x80:
        end = i + 2 + n
    else:
        w = n & 0x7F
        if w == 0 or w > 4 or i + 2 + w > len(d) or d[i + 2] == 0:
            return -1
        size = int.from_bytes(d[i + 2 : i + 2 + w], "big")
        if size < 0x80:
            return -1
        end = i + 2 + w + size
    return end if end <= len(d) else -1


def _scts(value: bytes) -> bool:
    """Whether ``value`` is what ``cryptography`` reads as a precertificate SCT list: an
    OCTET STRING holding a 2-byte-length list of 2-byte-length SCTs, each of version 0
    with a 32-byte log ID, an 8-byte time, 2-byte-length extensions, a hash (1 to 6)
    and a signature algorithm (1 to 3) and a 2-byte-length signature (bytes after the
    list, or after an SCT's signature, are not read)."""
    if not _octet_string(value):
        return False
    data = value[2:] if value[1] < 0x80 else value[2 + (value[1] & 0x7F) :]
    if len(data) < 2:
        return False
    end = 2 + int.from_bytes(data[:2], "big")
    if end > len(data):
        return False
    p = 2
    while p < end:
        if p + 2 > end:
            return False
        q = p + 2 + int.from_bytes(data[p : p + 2], "big")  # this SCT's end
        p += 2  # version, log ID, timestamp, then the extensions' length
        if q > end or p + 43 > q or data[p] != 0:
            return False
        p += 43 + int.from_bytes(data[p + 41 : p + 43], "big")
        if p + 4 > q or not 1 <= data[p] <= 6 or not 1 <= data[p + 1] <= 3:
            return False
        if p + 4 + int.from_bytes(data[p + 2 : p + 4], "big") > q:
            return False
        p = q
    return True


def _san(value: bytes) -> Info | None:
    """The e-mail, DNS and URI names of a subjectAltName value (a SEQUENCE of
    GeneralName), if it holds nothing else; None to leave it to ``cryptography``."""
    if len(value) < 2 or value[0] != 0x30 or _whole(value, 0) != len(value):
        return None
    p = 2 if value[1] < 0x80 else 2 + (value[1] & 0x7F)
    out: list[tuple[str, str]] = []
    while p < len(value):
        kind = _NAME_KINDS.get(value[p])
        end = _whole(value, p)
        if kind is None or end < 0:
            return None
        start = p + 2 if value[p + 1] < 0x80 else p + 2 + (value[p + 1] & 0x7F)
        try:
            out.append((kind, value[start:end].decode("utf-8")))
        except UnicodeDecodeError:
            return None
        p = end
    return tuple(out)


def _issuer(oid: bytes, value: bytes) -> Info:
    """Fulcio's OIDC issuer from its extension's value, as ``certificate_keys`` reads
    it (.1.8: a DER UTF8String's content; .1.1: the raw bytes)."""
    if oid == _ISSUER_V2:
        raw = value
        if len(raw) >= 2 and raw[0] == 0x0C:
            raw = raw[2:] if raw[1] < 0x80 else raw[2 + (raw[1] & 0x7F) :]
        return (("issuer2", raw.decode("utf-8", "replace")),)
    if oid == _ISSUER_V1:
        return (("issuer1", value.decode("utf-8", "replace")),)
    return ()


def _identities(infos: list[Info]) -> list[tuple[str, str]]:
    """The SAN and issuer index keys from the extensions' infos."""
    issuer = None
    names: list[tuple[str, str]] = []
    for info in infos:
        for kind, value in info:
            if kind == "issuer2":
                issuer = value
            elif kind == "issuer1":
                issuer = value if issuer is None else issuer
            else:
                names.append((kind, value))
    out = list(names)
    if issuer:
        out += [(f"{k}+issuer", f"{v}\n{issuer}") for k, v in names if k != "dns"]
    return out
