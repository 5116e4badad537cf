"""Gemini's embeddings wire both ways. Shapes follow Gemini's API reference
(ai.google.dev/api/embeddings: embedContent, batchEmbedContents)."""

from __future__ import annotations

import orjson
import pytest

from engine.errors import BadRequest, UnsupportedFeature, UpstreamError
from engine.media.canonical import EmbeddingRequest, EmbeddingResult
from providers.base import Endpoint
from providers.gemini.embeddings import (
    build_embedding_request,
    decode_batch_embed_contents,
    decode_embed_content,
    decode_embedding_response,
    encode_batch_embed_contents,
    encode_embed_content,
)

ENDPOINT = Endpoint("gem", "gemini", "https://gl.example/v1beta", "g-key", "gemini-embedding-001")


def test_embed_content_decodes_with_its_options() -> None:
    body = {
        "content": {"parts": [{"text": "What is "}, {"text": "the meaning of life?"}]},
        "taskType": "RETRIEVAL_DOCUMENT",
        "title": "Life",
        "outputDimensionality": 768,
    }
    request = decode_embed_content(body, "pub")
    assert (request.model, request.inputs, request.task_type, request.title, request.dimensions) == (
        "pub",
        ["What is the meaning of life?"],
        "RETRIEVAL_DOCUMENT",
        "Life",
        768,
    )


def test_batch_embed_contents_decodes_every_request() -> None:
    body = {"requests": [{"model": "models/pub", "content": {"parts": [{"text": t}]}} for t in ("a", "b")]}
    assert decode_batch_embed_contents(body, "pub").inputs == ["a", "b"]


@pytest.mark.parametrize(
    "body",
    [
        {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": ""}}]}},
        {"content": {}},
        {"content": {"parts": [{"text": "x"}]}, "outputDimensionality": 0},
    ],
)
def test_what_cannot_be_embedded_is_a_400(body: dict[str, object]) -> None:
    with pytest.raises(BadRequest):
        decode_embed_content(body, "pub")


def test_answers_in_both_client_shapes() -> None:
    result = EmbeddingResult("pub", [[0.1, 0.2], [0.3, 0.4]])
    assert orjson.loads(encode_embed_content(result)) == {"embedding": {"values": [0.1, 0.2]}}
    assert orjson.loads(encode_batch_embed_contents(result)) == {
        "embeddings": [{"values": [0.1, 0.2]}, {"values": [0.3, 0.4]}]
    }


def test_upstream_request_is_one_batch_call() -> None:
    request = EmbeddingRequest("pub", ["x", "y"], dimensions=8, task_type="SEMANTIC_SIMILARITY")
    built = build_embedding_request(request, ENDPOINT)
    assert built.url == "https://gl.example/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert built.headers["x-goog-api-key"] == "g-key"
    item = {"model": "models/gemini-embedding-001", "taskType": "SEMANTIC_SIMILARITY", "outputDimensionality": 8}
    assert orjson.loads(built.body) == {
        "requests": [{**item, "content": {"parts": [{"text": "x"}]}}, {**item, "content": {"parts": [{"text": "y"}]}}]
    }


def test_token_arrays_are_refused_by_name() -> None:
    with pytest.raises(UnsupportedFeature) as caught:
        build_embedding_request(EmbeddingRequest("pub", [[1, 2]]), ENDPOINT)
    assert caught.value.features == ["input (token arrays)"]


def test_upstream_answer_and_its_estimated_usage() -> None:
    body = orjson.dumps({"embeddings": [{"values": [1, 2.5]}]})
    result = decode_embedding_response(body, EmbeddingRequest("pub", ["eight ch"]))
    assert result.vectors == [[1.0, 2.5]] and result.usage.input_tokens == 2
    with pytest.raises(UpstreamError):
        decode_embedding_response(orjson.dumps({"embeddings": []}), EmbeddingRequest("pub", ["x"]))
