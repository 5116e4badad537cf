"""OpenAI's ``/v1/embeddings`` both ways: the client's body -> ``EmbeddingRequest`` and the
answer back (floats or base64), and an OpenAI-format upstream's request and answer. Pure.

Input may be a string, an array of strings, an array of token ids or an array of token-id
arrays (at most 2048 items, as OpenAI allows); ``encoding_format`` is ``float`` (default)
or ``base64``; ``dimensions`` an integer >= 1.
"""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import Usage
from engine.errors import BadRequest, UpstreamError
from engine.media.canonical import EmbeddingInput, EmbeddingRequest, EmbeddingResult, Vector
from providers.base import Endpoint, UpstreamRequest
from providers.openai.fields import as_object, fail, opt_int, opt_str, req_str
from providers.openai.target import request_headers
from providers.vectors import as_base64 as to_base64
from providers.vectors import as_floats, checked_base64, estimate_tokens

MAX_INPUTS = 2048


def decode_embedding_request(body: Any) -> EmbeddingRequest:
    obj = as_object(body, "body")
    model = req_str(obj, "model", "")
    inputs = _inputs(obj.get("input"))
    encoding = opt_str(obj, "encoding_format", "") or "float"
    if encoding not in ("float", "base64"):
        raise BadRequest("encoding_format: expected 'float' or 'base64'", param="encoding_format")
    dimensions = opt_int(obj, "dimensions", "")
    if dimensions is not None and dimensions < 1:
        raise BadRequest("dimensions: must be at least 1", param="dimensions")
    return EmbeddingRequest(
        model=model,
        inputs=inputs,
        dimensions=dimensions,
        encoding_format="base64" if encoding == "base64" else "float",
        user=opt_str(obj, "user", ""),
    )


def _inputs(value: Any) -> list[EmbeddingInput]:
    if value is None:
        raise BadRequest("input: required", param="input")
    if type(value) is str:
        return [value]
    if type(value) is not list or not value:
        raise fail("input", "a string, an array of strings or an array of token arrays (not empty)")
    if len(value) > MAX_INPUTS:
        raise BadRequest(f"input: at most {MAX_INPUTS} items", param="input")
    if all(type(v) is int for v in value):
        return [list(value)]  # one token array
    out: list[EmbeddingInput] = []
    for index, item in enumerate(value):
        if type(item) is str:
            out.append(item)
        elif type(item) is list and item and all(type(t) is int and t >= 0 for t in item):
            out.append(list(item))
        else:
            raise fail(f"input[{index}]", "a string or a non-empty array of token ids")
    return out


def encode_embedding_result(result: EmbeddingResult, request: EmbeddingRequest) -> bytes:
    as_base64 = request.encoding_format == "base64"
    data = [
        {"object": "embedding", "index": index, "embedding": to_base64(vector) if as_base64 else as_floats(vector)}
        for index, vector in enumerate(result.vectors)
    ]
    tokens = result.usage.input_tokens
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return orjson.dumps({"object": "list", "data": data, "model": result.model, "usage": usage})


# ---- upstream -------------------------------------------------------------------------


def build_embedding_request(request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
    inputs: Any = (
        request.inputs[0] if len(request.inputs) == 1 and isinstance(request.inputs[0], str) else request.inputs
    )
    body: dict[str, Any] = {"model": endpoint.upstream_model, "input": inputs, "encoding_format": "base64"}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    if request.user is not None:
        body["user"] = request.user
    url = f"{endpoint.base_url}/embeddings"
    return UpstreamRequest("POST", url, request_headers(endpoint), orjson.dumps(body))


def decode_embedding_response(body: bytes, request: EmbeddingRequest) -> EmbeddingResult:
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamError("server", "embeddings response is not JSON") from None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, list) or len(data) != len(request.inputs):
        raise UpstreamError("server", "embeddings response has no data for every input")
    vectors: list[Vector] = [[] for _ in data]
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise UpstreamError("server", "embeddings response: data items must be objects")
        index = item.get("index", position)
        embedding = item.get("embedding")
        if type(index) is not int or not 0 <= index < len(data):
            raise UpstreamError("server", "embeddings response: an index is out of range")
        if isinstance(embedding, str):
            vectors[index] = checked_base64(embedding)
        elif isinstance(embedding, list) and all(isinstance(v, int | float) for v in embedding):
            vectors[index] = [float(v) for v in embedding]
        else:
            raise UpstreamError("server", "embeddings response: an embedding is neither floats nor base64")
    usage = parsed.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if type(tokens) is not int:
        tokens = estimate_tokens(request.inputs)
    return EmbeddingResult(str(parsed.get("model") or ""), vectors, Usage(input_tokens=tokens))


class OpenAIEmbeddings:
    """The ``EmbeddingsUpstream`` of this format."""

    def build_embedding_request(self, request: EmbeddingRequest, endpoint: Endpoint) -> UpstreamRequest:
        return build_embedding_request(request, endpoint)

    def decode_embedding_response(self, body: bytes, request: EmbeddingRequest) -> EmbeddingResult:
        return decode_embedding_response(body, request)
