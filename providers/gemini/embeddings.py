"""Gemini's embeddings both ways: ``:embedContent`` and ``:batchEmbedContents`` clients ->
``EmbeddingRequest`` and the answer back; a Gemini upstream asked with
``:batchEmbedContents`` (one call for any number of inputs) and its answer. Pure.

Gemini embeds text only: token arrays are refused by name for a Gemini upstream. Its
``taskType``, ``title`` and ``outputDimensionality`` map to the request's ``task_type``,
``title`` and ``dimensions``. Gemini reports no token usage for embeddings: the input is
counted at about four characters a token.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import UnsupportedFeature, UpstreamError
from engine.media.canonical import EmbeddingRequest, EmbeddingResult, Vector
from providers.base import Endpoint, UpstreamRequest
from providers.gemini.adapter import model_path, request_headers
from providers.gemini.fields import bad_request
from providers.gemini.wire import FORMAT
from providers.vectors import as_floats, estimate_tokens

MAX_BATCH = 250  # Gemini's batchEmbedContents limit per call


def _text(content: Any, path: str) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list) or not content["parts"]:
        raise bad_request(path, "expected a content object with parts")
    texts = []
    for index, part in enumerate(content["parts"]):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise bad_request(f"{path}.parts[{index}]", "only text parts can be embedded")
        texts.append(part["text"])
    return "".join(texts)


def _options(obj: dict[str, Any], path: str) -> tuple[str | None, str | None, int | None]:
    task, title, dims = obj.get("taskType"), obj.get("title"), obj.get("outputDimensionality")
    if task is not None and not isinstance(task, str):
        raise bad_request(f"{path}taskType", "expected a string")
    if title is not None and not isinstance(title, str):
        raise bad_request(f"{path}title", "expected a string")
    if dims is not None and (type(dims) is not int or dims < 1):
        raise bad_request(f"{path}outputDimensionality", "expected an integer >= 1")
    return task, title, dims


def decode_embed_content(body: Any, model: str) -> EmbeddingRequest:
    """``POST /v1beta/models/{model}:embedContent``."""
    if not isinstance(body, dict):
        raise bad_request("", "expected a JSON object")
    task, title, dims = _options(body, "")
    return EmbeddingRequest(model, [_text(body.get("content"), "content")], dims, task_type=task, title=title)


def decode_batch_embed_contents(body: Any, model: str) -> EmbeddingRequest:
    """``POST /v1beta/models/{model}:batchEmbedContents``: the requests share the first one's
    options (Gemini's SDK sends one set for the whole batch)."""
    requests = body.get("requests") if isinstance(body, dict) else None
    if not isinstance(requests, list) or not requests:
        raise bad_request("requests", "expected a non-empty array")
    texts = []
    options: tuple[str | None, str | None, int | None] = (None, None, None)
    for index, item in enumerate(requests):
        if not isinstance(item, dict):
            raise bad_request(f"requests[{index}]", "expected an object")
        texts.append(_text(item.get("content"), f"requests[{index}].content"))
        if index == 0:
            options = _options(item, f"requests[{index}].")
    task, title, dims = options
    return EmbeddingRequest(model, list(texts), dims, task_type=task, title=title)


def encode_embed_content(result: EmbeddingResult) -> bytes:
    return orjson.dumps({"embedding": {"values": as_floats(result.vectors[0]) if result.vectors else []}})


def encode_batch_embed_contents(result: EmbeddingResult) -> bytes:
    return orjson.dumps({"embeddings": [{"values": as_floats(vector)} for vector in result.vectors]})


# ---- upstream -------------------------------------------------------------------------


def build_embedding_request(request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
    if any(not isinstance(item, str) for item in request.inputs):
        raise UnsupportedFeature(["input (token arrays)"], FORMAT)
    if len(request.inputs) > MAX_BATCH:
        raise UnsupportedFeature([f"input (more than {MAX_BATCH} items)"], FORMAT)
    path = model_path(endpoint.upstream_model)
    items = []
    for text in request.inputs:
        item: dict[str, Any] = {"model": path, "content": {"parts": [{"text": text}]}}
        if request.task_type is not None:
            item["taskType"] = request.task_type
        if request.title is not None:
            item["title"] = request.title
        if request.dimensions is not None:
            item["outputDimensionality"] = request.dimensions
        items.append(item)
    url = f"{endpoint.base_url}/{path}:batchEmbedContents"
    return UpstreamRequest("POST", url, request_headers(endpoint), orjson.dumps({"requests": items}))


def decode_embedding_response(body: bytes, request: EmbeddingRequest) -> EmbeddingResult:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", "Gemini embeddings response is not JSON") from None
    embeddings = parsed.get("embeddings") if isinstance(parsed, dict) else None
    if not isinstance(embeddings, list) or len(embeddings) != len(request.inputs):
        raise UpstreamError("server", "malformed Gemini response: embeddings: expected one per input")
    vectors: list[Vector] = []
    for item in embeddings:
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, int | float) for v in values):
            raise UpstreamError("server", "malformed Gemini response: embeddings[].values: expected numbers")
        vectors.append([float(v) for v in values])
    tokens = estimate_tokens(list(request.inputs))
    return EmbeddingResult("", vectors, Usage(input_tokens=tokens))


class GeminiEmbeddings:
    """The ``EmbeddingsUpstream`` of this format."""

    def build_embedding_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        return build_embedding_request(request, endpoint)

    def decode_embedding_response(self, body: bytes, request: EmbeddingRequest) -> EmbeddingResult:
        return decode_embedding_response(body, request)
