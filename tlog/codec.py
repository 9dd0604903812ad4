"""Text codecs every format of tlog shares: base64, decimals, PEM, bounded JSON.

One strict implementation of each, so that a note, a tile path, a proof file and a
Rekor entry reject the same malformed text with the same kind of error
(:class:`~tlog.errors.MalformedError`, naming ``what`` was being read and, unless it is
secret, the offending text).

* base64: RFC 4648 §4, standard alphabet, padded, canonical (no stray bits).
* decimal: ASCII digits, no sign, no leading zero (``0`` itself excepted), bounded
  length (``str.isdigit`` would accept "²" and "٣").
* PEM: RFC 7468 blocks (``-----BEGIN L-----`` … ``-----END L-----``), written as Go's
  ``pem.EncodeToMemory`` does.
* text: a bounded UTF-8 document (a note, a proof file) decoded, or one error.
* JSON: RFC 8259 text to Python values with every failure (deep nesting, integers of
  thousands of digits, invalid UTF-8, ``NaN``) turned into one MalformedError.

Pure: standard library only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from tlog.errors import MalformedError, OversizeError

__all__ = [
    "b64decode",
    "b64encode",
    "decimal",
    "encode_pem",
    "load_json",
    "pem_blocks",
    "utf8_text",
]


def b64encode(data: bytes) -> str:
    """Standard, padded base64 (RFC 4648 §4)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str, *, secret: bool = False) -> bytes:
    """Strict standard base64 (RFC 4648 §4): padding required, canonical encoding only.

    Errors quote the offending text unless ``secret`` (private keys are never echoed).
    """
    try:
        ascii_text = text.encode("ascii")
        raw = binascii.a2b_base64(ascii_text, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise MalformedError(f"{what} is not valid base64{_shown(text, secret)}") from exc
    if binascii.b2a_base64(raw, newline=False) != ascii_text:
        raise MalformedError(f"{what} is not canonical base64{_shown(text, secret)}")
    return raw


def _shown(text: str, secret: bool) -> str:
    """How an error quotes base64 ``text`` (made only for an error: the hot path of a
    batch decodes three values per entry)."""
    return "" if secret else f": {text[:60]!r}"


#: Digits of the largest decimal any tlog format holds (2**63 - 1 has 19).
def utf8_text(data: bytes, what: str, limit: int) -> str:
    """``data`` decoded as UTF-8: OversizeError past ``limit`` bytes, MalformedError
    (naming the first bad byte) for what is not UTF-8."""
    if len(data) > limit:
        raise OversizeError(f"{what} is {len(data)} bytes, over the {limit} limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"{what} is not valid UTF-8 at byte {exc.start}") from None


MAX_DECIMAL_DIGITS = 19

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


def decimal(text: str | bytes, what: str, *, max_digits: int = MAX_DECIMAL_DIGITS) -> int:
    """A non-negative decimal integer in its one canonical spelling.

    ASCII digits only, no sign, no leading zero, at most ``max_digits`` digits.
    """
    s = text.decode("ascii", "replace") if isinstance(text, bytes) else text
    if len(s) > max_digits or not _DECIMAL.fullmatch(s):
        raise MalformedError(f"{what} is not a decimal number: {s[:40]!r}")
    return int(s)


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----\r?\n(.*?)-----END \1-----", re.DOTALL)


def encode_pem(label: str, der: bytes) -> bytes:
    """PEM as Go's ``pem.EncodeToMemory`` writes it (RFC 7468, 64-column lines)."""
    text = base64.b64encode(der)
    lines = b"\n".join(text[i : i + 64] for i in range(0, len(text), 64))
    head = label.encode("ascii")
    return b"-----BEGIN " + head + b"-----\n" + lines + b"\n-----END " + head + b"-----\n"


def pem_blocks(
    data: bytes, what: str, *, only_pem: bool = True, secret: bool = False
) -> list[tuple[str, bytes]]:
    """Every PEM block of ``data`` as (label, DER), in order.

    ``only_pem``: nothing but whitespace may stand outside the blocks (otherwise text
    around them, such as openssl's "Bag Attributes" lines, is ignored). No block at all
    is a MalformedError. With ``secret`` no error quotes the data.
    """
    blocks: list[tuple[str, bytes]] = []
    pos = 0
    text = data.strip()
    for m in _PEM_BLOCK.finditer(text):
        if only_pem and text[pos : m.start()].strip():
            raise MalformedError(f"{what}: unexpected text outside the PEM blocks")
        body = re.sub(rb"\s+", b"", m.group(2))
        try:
            der = binascii.a2b_base64(body, strict_mode=True)
        except (binascii.Error, ValueError):
            raise MalformedError(f"{what}: a PEM block has invalid base64") from None
        blocks.append((m.group(1).decode("ascii"), der))
        pos = m.end()
    if not blocks:
        raise MalformedError(f"{what}: no PEM block found")
    if only_pem and text[pos:].strip():
        raise MalformedError(f"{what}: unexpected text outside the PEM blocks")
    return blocks


#: Deepest nesting of arrays and objects a JSON document may have. Rekor entries and
#: proofs nest five or six levels; the bound keeps hostile input far from the
#: interpreter's recursion limit.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


#: The decoder ``json.loads(text, parse_constant=_reject_constant)`` makes afresh at
#: each call (stateless between documents: one serves every call and thread).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _depth_ok(data: str) -> bool:
    """A cheap upper bound of nesting: brackets outside strings are counted exactly."""
    if data.count("[") + data.count("{") <= MAX_JSON_DEPTH:
        return True
    depth = 0
    in_string = escaped = False
    for ch in data:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def load_json(data: bytes | str, what: str) -> Any:
    """Parse one JSON document (RFC 8259; UTF-8 when given bytes).

    Every way the text can be unusable is one MalformedError naming ``what``: invalid
    UTF-8, syntax, nesting deeper than MAX_JSON_DEPTH, an integer too long for Python
    to convert, ``NaN``/``Infinity``. Lone surrogates (``"\\ud800"``) are refused too:
    no tlog format can carry them.
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise MalformedError(f"{what} is not UTF-8 text") from None
    if not _depth_ok(text):
        raise MalformedError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        if text.startswith("\ufeff"):  # as json.loads says it (its decoder does not)
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        doc = _DECODER.decode(text)
    except RecursionError:
        raise MalformedError(f"{what} nests too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError, and int() past its digit limit
        detail = str(exc).split(":", 1)[0] if "integer string" in str(exc) else str(exc)
        raise MalformedError(f"{what} is not valid JSON: {detail[:120]}") from None
    if "\\u" in text and "\\ud" in text.lower():
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedError(f"{what} holds a lone UTF-16 surrogate") from None
    return doc
