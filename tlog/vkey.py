"""C2SP signed-note verifier keys ("vkeys"): ``<name>+<hex key ID>+<base64(type ‖ key)>``.

A vkey is how a reader is told which keys to trust (signed-note "Verifier keys"); a
vkey file holds one per line. :func:`parse_vkey` gives the :class:`~tlog.note.Verifier`
of the key's type (Ed25519, ECDSA or cosignature/v1) and checks that the key ID is the
one the key implies, so a typo cannot go unnoticed. Each verifier writes its own vkey
(:meth:`tlog.note.Verifier.vkey`).

Pure: no IO (reading vkey files is :func:`tlog.client.load_vkeys`).
"""

from __future__ import annotations

from tlog.codec import b64decode
from tlog.errors import MalformedError
from tlog.note import (
    ALG_COSIGNATURE_V1,
    ALG_ECDSA,
    ALG_ED25519,
    CosignatureVerifier,
    ECDSAVerifier,
    Ed25519Verifier,
    Verifier,
    check_key_name,
)


def parse_vkey(vkey: str) -> Verifier:
    """Parse ``<name>+<hex key ID>+<base64(type ‖ public key)>`` (signed-note "Verifier keys").

    The key ID must match the one the key implies, so a typo cannot go unnoticed.
    """
    # Names and IDs hold no '+', but standard base64 may: split off two fields only.
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedError(f"vkey must be <name>+<id>+<key>: {vkey[:80]!r}")
    name, hexid, b64 = parts
    check_key_name(name)
    if len(hexid) != 8:
        raise MalformedError(f"vkey key ID must be 8 hex digits: {hexid!r}")
    try:
        kid = bytes.fromhex(hexid)
    except ValueError as exc:
        raise MalformedError(f"vkey key ID is not hex: {hexid!r}") from exc
    raw = b64decode(b64, "vkey key")
    if not raw:
        raise MalformedError("vkey has no key bytes")
    alg, public = raw[0], raw[1:]
    verifier: Verifier
    if alg == ALG_ED25519:
        verifier = Ed25519Verifier(name, public)
    elif alg == ALG_ECDSA:
        verifier = ECDSAVerifier(name, public)
    elif alg == ALG_COSIGNATURE_V1:
        verifier = CosignatureVerifier(name, public)
    else:
        raise MalformedError(f"vkey has unsupported signature type 0x{alg:02x}")
    if verifier.key_id != kid:
        raise MalformedError(
            f"vkey key ID {hexid} does not match its key (want {verifier.key_id.hex()})"
        )
    return verifier


def parse_vkeys(text: str, what: str) -> list[Verifier]:
    """Every vkey of a vkey file's ``text``: one per line, blank and ``#`` lines ignored.

    MalformedError (naming ``what``) when a line is not a vkey or there is none.
    """
    keys: list[Verifier] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#"):
            try:
                keys.append(parse_vkey(line))
            except MalformedError as exc:
                raise MalformedError(f"{what} line {n}: {exc}") from exc
    if not keys:
        raise MalformedError(f"{what} holds no vkey")
    return keys
