"""Every output-cap field of every client format is an integer >= 1, or the request is a
400 in the client's own error shape naming the field: through each format's request
decoder, and through the outline of a body only a same-format passthrough can serve."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.errors import BadRequest, NoCanonicalForm
from providers.outline import outline_request
from providers.registry import build_registry

REGISTRY = build_registry()

# format -> a minimal valid body (the cap set by ``with_cap``)
BODIES: dict[str, dict[str, Any]] = {
    "openai": {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
    "openai-responses": {"model": "m", "input": "hi"},
    "anthropic": {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]},
    "gemini": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
}
# (format, the field as the error names it)
FIELDS = [
    ("openai", "max_tokens"),
    ("openai", "max_completion_tokens"),
    ("openai-responses", "max_output_tokens"),
    ("anthropic", "max_tokens"),
    ("gemini", "generationConfig.maxOutputTokens"),
]
BAD = [0, -5, 1e12, 5.5, 1.0, True, False, "10", [8], {"n": 8}]
BAD_IDS = ["zero", "negative", "1e12", "5.5", "1.0", "true", "false", "string", "array", "object"]


def with_cap(fmt: str, field: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(orjson.dumps(BODIES[fmt]))
    if fmt == "gemini":
        body["generationConfig"] = {"maxOutputTokens": value}
    else:
        body[field] = value
    return body


def decode(fmt: str, body: dict[str, Any]) -> Any:
    codec = REGISTRY.codec(fmt)
    if fmt == "gemini":
        return codec.decode_request(body, model="m", stream=False)
    return codec.decode_request(body)


@pytest.mark.parametrize(("fmt", "field"), FIELDS)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_a_cap_that_is_not_a_positive_integer_is_a_400_naming_the_field(fmt: str, field: str, value: Any) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(fmt, with_cap(fmt, field, value))
    err = caught.value
    assert (err.status, err.param) == (400, field)
    assert field in err.message
    # the client's own error shape says it, with the field
    rendered = orjson.loads(REGISTRY.codec(fmt).encode_error(err))
    if fmt in ("openai", "openai-responses"):
        assert rendered["error"]["type"] == "invalid_request_error"
        assert rendered["error"]["param"] == field
    elif fmt == "anthropic":
        assert rendered["type"] == "error" and rendered["error"]["type"] == "invalid_request_error"
        assert rendered["error"]["message"].startswith(field)
    else:
        assert (rendered["error"]["code"], rendered["error"]["status"]) == (400, "INVALID_ARGUMENT")
        assert field in rendered["error"]["message"]


@pytest.mark.parametrize(("fmt", "field"), FIELDS)
@pytest.mark.parametrize("value", [1, 4096, 10**12])
def test_a_positive_integer_cap_is_the_requests_cap(fmt: str, field: str, value: int) -> None:
    # huge but valid integers pass here: whether they fit the model is the planner's call
    assert decode(fmt, with_cap(fmt, field, value)).max_tokens == value


def test_gemini_reads_the_proto_spelling_of_the_cap_too() -> None:
    body = {**BODIES["gemini"], "generation_config": {"max_output_tokens": 0}}
    with pytest.raises(BadRequest) as caught:
        decode("gemini", body)
    assert caught.value.param == "generationConfig.maxOutputTokens"


def test_an_absent_or_null_cap_is_no_cap() -> None:
    assert decode("openai", with_cap("openai", "max_tokens", None)).max_tokens is None
    assert decode("gemini", with_cap("gemini", "", None)).max_tokens is None


REFUSAL = NoCanonicalForm("a feature only the client's own format carries")


@pytest.mark.parametrize(("fmt", "field"), FIELDS)
@pytest.mark.parametrize("value", BAD, ids=BAD_IDS)
def test_the_outline_of_a_passthrough_only_body_checks_the_cap_the_same_way(fmt: str, field: str, value: Any) -> None:
    body = with_cap(fmt, field, value)
    model = "m" if fmt == "gemini" else None
    with pytest.raises(BadRequest) as caught:
        outline_request(fmt, body, model, None, REFUSAL)
    assert (caught.value.status, caught.value.param) == (400, field)


@pytest.mark.parametrize(("fmt", "field"), FIELDS)
def test_the_outline_keeps_a_valid_cap(fmt: str, field: str) -> None:
    model = "m" if fmt == "gemini" else None
    assert outline_request(fmt, with_cap(fmt, field, 300), model, None, REFUSAL).max_tokens == 300
