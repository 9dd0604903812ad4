"""Typed access to the fields of a parsed JSON document, with field-named errors.

Every accessor takes the dotted path of the value it reads (``spec.signature.content``)
and raises :class:`~tlog.errors.MalformedError` whose message starts with that path and
says what was wrong, so a refused entry tells its submitter exactly which field to fix.
"""

from __future__ import annotations

import re
from typing import Any

from tlog.codec import b64decode
from tlog.errors import MalformedError

_LOWER_HEX = re.compile(r"[0-9a-f]*")
#: Member names longer than this are cut in error messages.
_MAX_NAME = 64


def child(path: str, key: str | int) -> str:
    """The path of ``key`` under ``path`` (``spec`` + ``data`` → ``spec.data``; lists by index).

    A member name that is not printable text, or is long, is quoted (and cut) in
    brackets, so that an error naming it stays one short line.
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not key.isprintable() or len(key) > _MAX_NAME:
        return f"{path}[{key[:_MAX_NAME]!r}]"
    return f"{path}.{key}" if path else key


def obj(value: Any, path: str) -> dict[str, Any]:
    """``value`` as a JSON object, or an error naming ``path``."""
    if not isinstance(value, dict):
        raise MalformedError(f"{path}: expected a JSON object, got {_kind(value)}")
    return value


def proto_message(value: Any, path: str, fields: dict[str, str]) -> dict[str, Any]:
    """A protobuf JSON message as {JSON name: value}, nulls dropped (unset). ``fields``
    maps each JSON (lowerCamelCase) name to its proto name; either is accepted (protojson),
    and an unknown field, or one given under both names, is an error."""
    by_proto = {proto: name for name, proto in fields.items()}
    out: dict[str, Any] = {}
    for key, item in obj(value, path).items():
        name = key if key in fields else by_proto.get(key)
        if name is None:
            raise MalformedError(f"{child(path, key)}: unknown field")
        if name in out:
            raise MalformedError(f"{child(path, key)}: field given twice")
        if item is not None:
            out[name] = item
    return out


def array(value: Any, path: str, *, min_items: int = 0, max_items: int = 64) -> list[Any]:
    """``value`` as a JSON array of ``min_items``..``max_items`` items."""
    if not isinstance(value, list):
        raise MalformedError(f"{path}: expected a JSON array, got {_kind(value)}")
    if len(value) < min_items:
        raise MalformedError(f"{path}: needs at least {min_items} item(s), got {len(value)}")
    if len(value) > max_items:
        raise MalformedError(f"{path}: at most {max_items} items are accepted, got {len(value)}")
    return value


def member(parent: dict[str, Any], key: str, path: str) -> Any:
    """The required member ``key`` of ``parent`` (at ``path``); absent or null is an error."""
    value = parent.get(key)
    if value is None:
        raise MalformedError(f"{child(path, key)}: missing")
    return value


def member_obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """The required object member ``key`` of ``parent``."""
    return obj(member(parent, key, path), child(path, key))


def string(value: Any, path: str, *, allow_empty: bool = False) -> str:
    """``value`` as a JSON string (non-empty unless ``allow_empty``)."""
    if not isinstance(value, str):
        raise MalformedError(f"{path}: expected a string, got {_kind(value)}")
    if not value and not allow_empty:
        raise MalformedError(f"{path}: must not be empty")
    return value


def member_str(parent: dict[str, Any], key: str, path: str) -> str:
    """The required non-empty string member ``key`` of ``parent``."""
    return string(member(parent, key, path), child(path, key))


def b64(value: Any, path: str) -> bytes:
    """Decode standard, padded base64 (RFC 4648 §4), as go-openapi ``strfmt.Base64`` does,
    with :func:`tlog.codec.b64decode` (canonical encodings only: every writer of these
    documents, rekor-cli included, writes them so).

    The result must not be empty: an empty byte string is never a valid key or signature.
    """
    text = string(value, path)
    try:
        out = b64decode(text, path)
    except MalformedError:
        raise MalformedError(f"{path}: not valid standard base64 (RFC 4648 §4, padded)") from None
    if not out:
        raise MalformedError(f"{path}: must not be empty")
    return out


def b64_lenient(value: Any, path: str) -> bytes:
    """Decode base64 in either alphabet, padded or not, as protobuf's JSON mapping accepts.

    ProtoJSON parses ``bytes`` fields written with the standard or the URL-safe alphabet,
    with or without padding; the canonical form written back is always standard, padded.
    :func:`tlog.codec.b64decode` has no such leniency, so this is a distinct reader: it
    rewrites the text to the standard, padded spelling and then decodes it with codec
    (which still refuses non-canonical trailing bits).
    """
    text = string(value, path)
    if len(text) % 4 == 0:  # fast path: standard alphabet, padded
        try:
            return _non_empty(b64decode(text, path), path)
        except MalformedError:
            pass
    if "-" in text or "_" in text:
        if "+" in text or "/" in text:
            raise MalformedError(f"{path}: not valid base64 (mixes both alphabets)")
        text = text.replace("-", "+").replace("_", "/")
    if not text.endswith("="):
        text += "=" * (-len(text) % 4)
    elif len(text) % 4:
        raise MalformedError(f"{path}: not valid base64 (incorrect padding)")
    try:
        raw = b64decode(text, path)
    except MalformedError:
        raise MalformedError(f"{path}: not valid base64 ({text[:40]!r})") from None
    return _non_empty(raw, path)


def _non_empty(raw: bytes, path: str) -> bytes:
    if not raw:
        raise MalformedError(f"{path}: must not be empty")
    return raw


def lower_hex(value: Any, path: str, size: int) -> bytes:
    """Decode a lowercase hex string of exactly ``size`` bytes."""
    text = string(value, path)
    if not _LOWER_HEX.fullmatch(text):
        raise MalformedError(f"{path}: not a lowercase hexadecimal string")
    if len(text) != 2 * size:
        raise MalformedError(
            f"{path}: {len(text)} hex digits, the algorithm needs {2 * size} ({size} bytes)"
        )
    return bytes.fromhex(text)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
