"""loads_bounded refuses, in plain words, JSON that would crash a view or fail to store."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.engine.jsonload import JSONInputError, JSONTooDeepError, loads_bounded


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("9" * 5_000, "too many digits"),
        ('{"a": [' + "1" * 4_301 + "]}", "too many digits"),
        ("NaN", "NaN"),
        ("[Infinity]", "Infinity"),
        ('{"a": -Infinity}', "-Infinity"),
        ("1e400", "too large"),
        ("[-1e999]", "too large"),
        ('"a\\u0000b"', "NUL"),
        ('{"\\u0000": 1}', "NUL"),
        ('{"k": ["\\ud800"]}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        (b"\xff\xfe", "not valid JSON"),
        ('{"a": ', "not valid JSON"),
    ],
)
def test_unusable_json_is_a_json_input_error(text, words):
    with pytest.raises(JSONInputError) as caught:
        loads_bounded(text)
    assert words in caught.value.message


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_deep_nesting_is_too_deep(depth):
    with pytest.raises(JSONTooDeepError):
        loads_bounded("[" * depth + "]" * depth)


def test_ordinary_json_reads_as_json_loads_does():
    text = '{"a": [1, 2.5, -3e10, "😀", "\\ud83d\\ude00", null, true], "b": {"c": "x"}}'
    assert loads_bounded(text) == json.loads(text)
    assert loads_bounded("9" * 4_300) == int("9" * 4_300)


hostile = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.sampled_from(["NaN", "Infinity", "1e400", "9" * 5_000, '"\\u0000"', '"\\ud800"']),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(st.text(max_size=200) | st.binary(max_size=200) | hostile.map(json.dumps))
def test_anything_is_a_value_or_a_json_input_error(text):
    try:
        loads_bounded(text)
    except JSONInputError as exc:
        assert exc.message
