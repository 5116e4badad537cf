"""OpenAI's embeddings wire both ways. The response shapes follow the examples of OpenAI's
API reference (platform.openai.com/docs/api-reference/embeddings/create)."""

from __future__ import annotations

import orjson
import pytest

from engine.canonical import Usage
from engine.errors import BadRequest, UpstreamError
from engine.media.canonical import EmbeddingRequest, EmbeddingResult
from providers.base import Endpoint
from providers.openai.embeddings import (
    build_embedding_request,
    decode_embedding_request,
    decode_embedding_response,
    encode_embedding_result,
)
from providers.vectors import pack, unpack

ENDPOINT = Endpoint("oai", "openai", "https://api.example/v1", "sk-x", "text-embedding-3-small")


@pytest.mark.parametrize(
    ("given", "inputs"),
    [
        ("The food was delicious", ["The food was delicious"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1, 2], [3]], [[1, 2], [3]]),
        (["a", [4, 5]], ["a", [4, 5]]),
    ],
)
def test_every_input_shape_decodes(given: object, inputs: list[object]) -> None:
    request = decode_embedding_request({"model": "m", "input": given})
    assert request.inputs == inputs and request.encoding_format == "float"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m"}, "input"),
        ({"model": "m", "input": []}, "input"),
        ({"model": "m", "input": [{"text": "x"}]}, "input[0]"),
        ({"model": "m", "input": [[]]}, "input[0]"),
        ({"model": "m", "input": "x", "encoding_format": "binary"}, "encoding_format"),
        ({"model": "m", "input": "x", "dimensions": 0}, "dimensions"),
        ({"model": "m", "input": "x", "dimensions": "8"}, "dimensions"),
        ({"input": "x"}, "model"),
    ],
)
def test_bad_requests_name_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_embedding_request(body)
    assert caught.value.param == param


def test_the_answer_in_float_or_base64() -> None:
    result = EmbeddingResult("pub", [[0.5, -1.0]], Usage(input_tokens=5))
    as_float = orjson.loads(encode_embedding_result(result, EmbeddingRequest("pub", ["x"])))
    assert as_float == {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}],
        "model": "pub",
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
    as_b64 = orjson.loads(encode_embedding_result(result, EmbeddingRequest("pub", ["x"], encoding_format="base64")))
    assert unpack(as_b64["data"][0]["embedding"]) == [0.5, -1.0]


def test_upstream_request_asks_base64_and_keeps_options() -> None:
    request = EmbeddingRequest("pub", ["a", [1, 2]], dimensions=64, user="u1")
    built = build_embedding_request(request, ENDPOINT)
    assert built.url == "https://api.example/v1/embeddings"
    assert built.headers["authorization"] == "Bearer sk-x"
    assert orjson.loads(built.body) == {
        "model": "text-embedding-3-small",
        "input": ["a", [1, 2]],
        "encoding_format": "base64",
        "dimensions": 64,
        "user": "u1",
    }


def test_upstream_answer_in_either_encoding_out_of_order() -> None:
    body = {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 1, "embedding": pack([0.25])},
            {"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292]},
        ],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 8, "total_tokens": 8},
    }
    result = decode_embedding_response(orjson.dumps(body), EmbeddingRequest("pub", ["a", "b"]))
    assert result.vectors == [[0.0023064255, -0.009327292], pack([0.25])]  # kept as sent
    client = orjson.loads(encode_embedding_result(result, EmbeddingRequest("pub", ["a", "b"])))
    assert [item["embedding"] for item in client["data"]] == [[0.0023064255, -0.009327292], [0.25]]
    assert result.usage.input_tokens == 8


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"data": []}', b'{"data": [{"index": 0, "embedding": "%%%"}]}', b'{"data": [{"index": 5}]}'],
)
def test_a_malformed_upstream_answer_is_a_server_failure(body: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        decode_embedding_response(body, EmbeddingRequest("pub", ["a"]))
    assert caught.value.failure == "server"
