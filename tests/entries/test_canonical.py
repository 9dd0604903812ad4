"""The fast canonical-JSON path gives exactly what the rfc8785 library gives."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from tlog.entries.canonical import canonical_json
from tlog.errors import MalformedError

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


def _reference(value: dict[str, Any]) -> bytes | None:
    try:
        return bytes(rfc8785.dumps(value))
    except rfc8785.CanonicalizationError:
        return None


@pytest.mark.slow
@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(max_size=6), values, max_size=5))
def test_same_bytes_as_rfc8785(value: dict[str, Any]) -> None:
    want = _reference(value)
    if want is None:
        with pytest.raises(MalformedError):
            canonical_json(value)
    else:
        assert canonical_json(value) == want


@pytest.mark.parametrize(
    "text",
    ["\x00\x1f\x7f", "\u2028\u2029", "é😀", '"\\/', "\b\f\n\r\t", "<>&"],
)
def test_escapes_match(text: str) -> None:
    value = {"k": text, "n": [2**53 - 1, -(2**53 - 1)], "b": True, "z": None}
    assert canonical_json(value) == bytes(rfc8785.dumps(value))


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(MalformedError):
        canonical_json({"k": "\ud800"})
