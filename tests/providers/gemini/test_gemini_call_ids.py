"""Tool-call ids that carry Gemini thought signatures, and piecewise-streamed arguments."""

from __future__ import annotations

import base64
import re

from hypothesis import given
from hypothesis import strategies as st

from engine.errors import UpstreamError
from providers.gemini import call_ids
from providers.gemini.fields import JsonObject, bad_upstream
from providers.gemini.partial_args import ArgsBuilder, parse_path

names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=80)


@given(
    raw=st.binary(min_size=1, max_size=600),
    name=names,
    n=st.integers(0, 10_000),
    scope=st.from_regex(r"[A-Za-z0-9]{0,24}", fullmatch=True),
)
def test_signature_survives_the_id(raw: bytes, name: str, n: int, scope: str) -> None:
    signature = base64.b64encode(raw).decode()
    base = call_ids.synthesize(n, name, scope)
    call_id = call_ids.attach_signature(base, signature)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", call_id)  # Anthropic's id alphabet
    assert call_ids.split(call_id) == call_ids.CallId(base, signature)
    assert call_ids.wire_id(call_id, name) == (None, signature)


@given(foreign=st.from_regex(r"[A-Za-z0-9_-]{1,60}", fullmatch=True))
def test_foreign_ids_pass_through(foreign: str) -> None:
    parts = call_ids.split(foreign)
    if parts.signature is None:
        assert parts.base == foreign
    assert call_ids.wire_id(f"toolu_{foreign}", "f")[0] is not None


def test_examples() -> None:
    assert call_ids.synthesize(2, "ns:get.weather") == "call_2_ns_get_weather"
    assert call_ids.is_synthesized("call_abc123_0_f", "f") and not call_ids.is_synthesized("call_abc", "f")
    assert call_ids.split("call_1_f_ts_AAA_3") == call_ids.CallId("call_1_f", "AAA=")
    assert call_ids.split("call_1_f_3").signature is None
    assert call_ids.wire_id("call_abc", "f") == ("call_abc", None)


def piece(**data: object) -> JsonObject:
    return JsonObject.of(dict(data), "partialArgs[0]", bad_upstream)


def test_partial_arguments_assemble() -> None:
    builder = ArgsBuilder()
    builder.add(piece(jsonPath="$.city", stringValue="San ", willContinue=True))
    builder.add(piece(jsonPath="$.city", stringValue="Francisco"))
    builder.add(piece(jsonPath="$.days", numberValue=3.0))
    builder.add(piece(jsonPath="$.opts.metric", boolValue=True))
    builder.add(piece(jsonPath="$.tags[0]", stringValue="a"))
    builder.add(piece(jsonPath="$['tags'][1]", nullValue="NULL_VALUE"))
    builder.add(piece(jsonPath="$.ratio", numberValue=0.5))
    assert builder.args == {
        "city": "San Francisco",
        "days": 3,
        "opts": {"metric": True},
        "tags": ["a", None],
        "ratio": 0.5,
    }


def test_bad_paths() -> None:
    assert parse_path("$.a[0]['b.c']") == ["a", 0, "b.c"]
    assert parse_path("a.b") is None and parse_path("$.a[") is None
    builder = ArgsBuilder()
    try:
        builder.add(piece(jsonPath="$.list[3]", stringValue="x"))
    except UpstreamError as err:
        assert "partialArgs[0].jsonPath" in err.message
    else:
        raise AssertionError("an out-of-order index must fail")
