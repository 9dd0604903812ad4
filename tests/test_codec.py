"""tlog.codec: the one base64, decimal, PEM and JSON reader every format uses."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tlog import codec
from tlog.codec import (
    b64decode,
    b64encode,
    decimal,
    encode_pem,
    load_json,
    pem_blocks,
    utf8_text,
)
from tlog.errors import MalformedError, OversizeError


@given(st.binary(max_size=200))
def test_base64_round_trips(data: bytes) -> None:
    assert b64decode(b64encode(data), "x") == data


@pytest.mark.parametrize("text", ["AAE", "AAE=\n", "AAF=", "AA-_", "é==="])
def test_base64_is_strict(text: str) -> None:
    with pytest.raises(MalformedError, match="base64"):
        b64decode(text, "field")


def test_base64_errors_never_echo_secrets() -> None:
    with pytest.raises(MalformedError) as err:
        b64decode("c2VjcmV0c2VjcmV0!", "key", secret=True)
    assert "c2VjcmV0" not in str(err.value)


@pytest.mark.parametrize("text", ["", "01", "+1", "-1", "1.0", "²", "٣", "1" * 20])
def test_decimal_refuses_all_but_the_canonical_spelling(text: str) -> None:
    with pytest.raises(MalformedError, match="size"):
        decimal(text, "size")


def test_decimal_reads_canonical_numbers() -> None:
    assert decimal("0", "n") == 0
    assert decimal(b"9223372036854775807", "n") == 2**63 - 1


def test_pem_blocks_round_trip_and_bound_the_text_around_them() -> None:
    pem = encode_pem("PUBLIC KEY", b"\x01" * 100) + encode_pem("CERTIFICATE", b"\x02" * 3)
    assert pem_blocks(pem, "f") == [("PUBLIC KEY", b"\x01" * 100), ("CERTIFICATE", b"\x02" * 3)]
    with pytest.raises(MalformedError, match="outside"):
        pem_blocks(b"junk\n" + pem, "f")
    assert len(pem_blocks(b"Bag Attributes\n" + pem, "f", only_pem=False)) == 2
    with pytest.raises(MalformedError, match="no PEM block"):
        pem_blocks(b"hello", "f")


@pytest.mark.parametrize(
    "doc, reason",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests"),
        (b"1" * 5000, "not valid JSON"),
        (b'{"a": 1' + b"0" * 4400 + b"}", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"NaN", "not valid JSON"),
        (b'{"payloadType": "\\ud800"}', "surrogate"),
        (b"{", "not valid JSON"),
    ],
)
def test_hostile_json_is_one_malformed_error(doc: bytes, reason: str) -> None:
    with pytest.raises(MalformedError, match=reason):
        load_json(doc, "entry")


def test_json_keeps_escaped_characters_and_surrogate_pairs() -> None:
    assert load_json(b'{"a": ["\\u00e9", "\\ud83d\\ude00", 1]}', "x") == {"a": ["é", "😀", 1]}
    nested = b"[" * 64 + b"]" * 64
    assert load_json(nested, "x") is not None
    assert load_json('"' + "[" * 200 + '"', "x") == "[" * 200


def test_utf8_text_is_bounded_and_names_the_bad_byte() -> None:
    assert utf8_text("é\n".encode(), "note", 3) == "é\n"
    with pytest.raises(OversizeError, match="proof is 4 bytes, over the 3 limit"):
        utf8_text(b"abcd", "proof", 3)
    with pytest.raises(MalformedError, match="note is not valid UTF-8 at byte 1"):
        utf8_text(b"a\xff", "note", 3)


@pytest.mark.parametrize("text", ["\ufeff{}", "[1,", '{"a": NaN}', "{} x", '{"a" 1}'])
def test_load_json_says_what_json_loads_says(text: str) -> None:
    """One shared decoder, not one per call: the same reasons (a BOM's included)."""
    with pytest.raises(ValueError) as expected:
        json.loads(text, parse_constant=codec._reject_constant)
    with pytest.raises(MalformedError) as got:
        codec.load_json(text, "doc")
    assert str(got.value) == f"doc is not valid JSON: {str(expected.value)[:120]}"
