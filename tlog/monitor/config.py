"""The watch list of a monitor, in rekor-monitor's YAML shape (docs/monitor.md "Config").

::

    startIndex: 1000            # optional: first entry to scan
    endIndex: 2000              # optional: last entry to scan (inclusive)
    monitoredValues:
      certIdentities:           # a certificate SAN (regex) with its OIDC issuer (regexes)
        - certSubject: alice@example\\.com
          issuers: [https://accounts\\.example\\.com]
      subjects: [bob@example\\.com]   # identities outside certificates (PGP user IDs)
      fingerprints: [a0b1…]     # key fingerprints, as the search index defines them
      digests: [sha256:…]       # artifact digests (tlog's addition)
      fulcioExtensions: {build-config-uri: [https://…]}
      oidExtensions: [{objectIdentifier: 1.3.6.1.4.1.57264.1.9, extensionValues: [...]}]
      customExtensions: [...]   # as oidExtensions
      oidMatchers: {fulcioExtensions: …, oidExtensions: …, customExtensions: …}

Regular expressions are searched, not anchored, as rekor-monitor does (Go's
``regexp.MatchString``): anchor them with ``^…$`` for an exact identity. Fingerprints
are compared as :func:`tlog.index.keys.normalize` makes them (hex lowercased; SSH
``SHA256:`` fingerprints as they are). Pure: parsing needs only PyYAML.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from tlog.errors import ConfigError
from tlog.index.keys import normalize

__all__ = ["FULCIO_EXTENSIONS", "CertIdentity", "MonitorConfig", "OidMatcher"]

#: Fulcio's certificate extensions by the names rekor-monitor's config uses
#: (github.com/sigstore/fulcio docs/oid-info.md).
FULCIO_EXTENSIONS = {
    "issuer": "1.3.6.1.4.1.57264.1.8",
    "build-signer-uri": "1.3.6.1.4.1.57264.1.9",
    "build-signer-digest": "1.3.6.1.4.1.57264.1.10",
    "runner-environment": "1.3.6.1.4.1.57264.1.11",
    "source-repository-uri": "1.3.6.1.4.1.57264.1.12",
    "source-repository-digest": "1.3.6.1.4.1.57264.1.13",
    "source-repository-ref": "1.3.6.1.4.1.57264.1.14",
    "source-repository-identifier": "1.3.6.1.4.1.57264.1.15",
    "source-repository-owner-uri": "1.3.6.1.4.1.57264.1.16",
    "source-repository-owner-identifier": "1.3.6.1.4.1.57264.1.17",
    "build-config-uri": "1.3.6.1.4.1.57264.1.18",
    "build-config-digest": "1.3.6.1.4.1.57264.1.19",
    "build-trigger": "1.3.6.1.4.1.57264.1.20",
    "run-invocation-uri": "1.3.6.1.4.1.57264.1.21",
    "source-repository-visibility-at-signing": "1.3.6.1.4.1.57264.1.22",
}
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")
_DIGEST_SIZES = {64: "sha256", 96: "sha384", 128: "sha512"}
MAX_CONFIG_SIZE = 1 << 20


@dataclass(frozen=True)
class CertIdentity:
    """A certificate SAN pattern and, if any, the OIDC issuer patterns it needs."""

    subject: re.Pattern[str]
    issuers: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class OidMatcher:
    """A certificate extension (by OID) and the values it must hold exactly."""

    oid: str
    values: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class MonitorConfig:
    """What to watch for, and which entries to scan."""

    cert_identities: tuple[CertIdentity, ...] = ()
    subjects: tuple[re.Pattern[str], ...] = ()
    fingerprints: frozenset[str] = frozenset()
    #: (algorithm, lowercase hex) pairs.
    digests: frozenset[tuple[str, str]] = frozenset()
    oid_matchers: tuple[OidMatcher, ...] = ()
    start_index: int | None = None
    end_index: int | None = None

    @property
    def identities(self) -> bool:
        """Whether any rule reads identities (certificates or user IDs)."""
        return bool(self.cert_identities or self.subjects or self.oid_matchers)

    @functools.cached_property
    def name_patterns(self) -> tuple[re.Pattern[str], ...]:
        """The patterns a certificate SAN or a user ID may match: the certificate
        identities' subjects, then the subjects."""
        return tuple(c.subject for c in self.cert_identities) + self.subjects

    @classmethod
    def parse(cls, text: str, source: str = "config") -> MonitorConfig:
        """Parse a YAML config; ConfigError naming ``source`` and the field if invalid."""
        if len(text) > MAX_CONFIG_SIZE:
            raise ConfigError(f"{source}: larger than {MAX_CONFIG_SIZE} bytes")
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not YAML ({str(exc).splitlines()[0]})") from None
        doc = {} if doc is None else doc
        top = _mapping(doc, source)
        _known(top, {"startIndex", "endIndex", "monitoredValues"}, source, lenient=True)
        values = _mapping(top.get("monitoredValues") or {}, f"{source}: monitoredValues")
        where = f"{source}: monitoredValues"
        oid_block = _mapping(values.get("oidMatchers") or {}, f"{where}.oidMatchers")
        matchers = _oid_matchers(values, where) + _oid_matchers(oid_block, f"{where}.oidMatchers")
        start, end = _index(top, "startIndex", source), _index(top, "endIndex", source)
        if start is not None and end is not None and end < start:
            raise ConfigError(f"{source}: endIndex {end} is before startIndex {start}")
        return cls(
            cert_identities=tuple(
                _cert_identity(item, f"{where}.certIdentities[{i}]")
                for i, item in enumerate(_list(values.get("certIdentities"), where))
            ),
            subjects=tuple(
                _regex(s, f"{where}.subjects[{i}]")
                for i, s in enumerate(_list(values.get("subjects"), where))
            ),
            fingerprints=frozenset(
                normalize("key", _string(f, f"{where}.fingerprints[{i}]"))
                for i, f in enumerate(_list(values.get("fingerprints"), where))
            ),
            digests=frozenset(
                _digest(d, f"{where}.digests[{i}]")
                for i, d in enumerate(_list(values.get("digests"), where))
            ),
            oid_matchers=matchers,
            start_index=start,
            end_index=end,
        )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping, not {type(value).__name__}")
    return value


def _known(doc: Mapping[str, Any], names: set[str], where: str, *, lenient: bool) -> None:
    # rekor-monitor's output options (outputIdentities, logInfoFile, …) are accepted and
    # ignored at the top level, so its users' files load as they are.
    if not lenient:
        unknown = sorted(set(doc) - names)
        if unknown:
            raise ConfigError(f"{where}: unknown field {unknown[0]!r}")


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list, not {type(value).__name__}")
    return value


def _string(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{where}: expected a string")
    return str(value)


def _regex(value: Any, where: str) -> re.Pattern[str]:
    text = _string(value, where)
    try:
        return re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{where}: bad regular expression {text!r} ({exc})") from None


def _index(doc: Mapping[str, Any], name: str, where: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: {name} must be a non-negative integer")
    return value


def _cert_identity(item: Any, where: str) -> CertIdentity:
    doc = _mapping(item, where)
    _known(doc, {"certSubject", "issuers"}, where, lenient=False)
    if "certSubject" not in doc:
        raise ConfigError(f"{where}: certSubject is required")
    issuers = tuple(
        _regex(v, f"{where}.issuers[{i}]") for i, v in enumerate(_list(doc.get("issuers"), where))
    )
    return CertIdentity(_regex(doc["certSubject"], f"{where}.certSubject"), issuers)


def _digest(value: Any, where: str) -> tuple[str, str]:
    text = _string(value, where).strip().lower()
    alg, _, hexpart = text.rpartition(":")
    kind = _DIGEST_SIZES.get(len(hexpart))
    if not re.fullmatch(r"[0-9a-f]+", hexpart) or kind is None or alg not in ("", kind):
        raise ConfigError(f"{where}: expected [sha256:|sha384:|sha512:]<hex digest>")
    return kind, hexpart


def _oid_matchers(doc: Mapping[str, Any], where: str) -> tuple[OidMatcher, ...]:
    out: list[OidMatcher] = []
    fulcio = _mapping(doc.get("fulcioExtensions") or {}, f"{where}.fulcioExtensions")
    for name, values in fulcio.items():
        oid = FULCIO_EXTENSIONS.get(str(name))
        if oid is None:
            known = ", ".join(sorted(FULCIO_EXTENSIONS))
            raise ConfigError(f"{where}.fulcioExtensions: unknown {name!r} (known: {known})")
        out.append(OidMatcher(oid, _values(values, f"{where}.fulcioExtensions.{name}"), name))
    for field in ("oidExtensions", "customExtensions"):
        for i, item in enumerate(_list(doc.get(field), where)):
            at = f"{where}.{field}[{i}]"
            ext = _mapping(item, at)
            _known(ext, {"objectIdentifier", "extensionValues"}, at, lenient=False)
            oid = _oid(ext.get("objectIdentifier"), f"{at}.objectIdentifier")
            out.append(OidMatcher(oid, _values(ext.get("extensionValues"), at), oid))
    return tuple(out)


def _oid(value: Any, where: str) -> str:
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        value = ".".join(str(v) for v in value)
    if not isinstance(value, str) or not _OID.fullmatch(value):
        raise ConfigError(f"{where}: expected a dotted OID such as 1.3.6.1.4.1.57264.1.9")
    return value


def _values(value: Any, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    out = tuple(_string(v, where) for v in items if v is not None)
    if not out:
        raise ConfigError(f"{where}: no extension values")
    return out
