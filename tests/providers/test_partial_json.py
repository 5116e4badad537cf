"""The object a JSON text cut short was building: the prefix that ends after a whole value,
its open arrays and objects closed; unfinished strings, numbers and literals left out."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from providers.partial_json import complete_prefix
from tests.providers.anthropic._anthropic_fixtures import sse_payloads, stream_bytes

# the recorded cut: a make_file call stopped mid-string by max_tokens
RECORDED_CUT = "".join(
    payload["delta"].get("partial_json", "")
    for _, payload in sse_payloads(stream_bytes("sdk-fixtures/incomplete_partial_json_response.sse") + b"\n\n")
    if payload["type"] == "content_block_delta"
)


def test_the_recorded_cut_keeps_every_whole_value() -> None:
    assert complete_prefix(RECORDED_CUT) == {
        "filename": "taxes.txt",
        "lines_of_text": ["# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s", "", "## INTRODUCTION", ""],
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ('{"a": 1, ', {"a": 1}),
        ('{"a": [1, 2', {"a": [1]}),  # 2 may be the start of 25
        ('{"a": tru', {}),
        ('{"a": "b', {}),
        ('{"a"', {}),
        ('{"a": {"b": {}', {"a": {"b": {}}}),
        ('{"q": "say \\"hi\\"", "r": "\\\\', {"q": 'say "hi"'}),
        ("{", {}),
        ('{"a": 1}  ', {"a": 1}),
    ],
)
def test_cut_texts(text: str, expected: dict[str, Any]) -> None:
    assert complete_prefix(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "[1, 2", '"a', "null", "12", '{"a": 1}}', '{"a": 1} {', '{"a": ]'])
def test_what_is_no_objects_text_is_none(text: str) -> None:
    assert complete_prefix(text) is None


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=5), JSON, max_size=4), st.data())
def test_every_prefix_of_an_object_gives_an_object_and_the_whole_gives_itself(obj: dict[str, Any], data: Any) -> None:
    text = orjson.dumps(obj).decode()
    assert complete_prefix(text) == obj
    cut = data.draw(st.integers(min_value=1, max_value=len(text)))
    assert isinstance(complete_prefix(text[:cut]), dict)
