"""The demo channel's embeddings and images (OpenAI's wire shapes), for the ``demo-embed``
and ``demo-image`` models, so the quickstart and the tests need no key.

``/embeddings``: ``demo-embed`` embeds with the bundled local model (``embedder``; run in a
thread, it is CPU work); ``demo-embed-fail-500`` always fails with 500 (to watch a
fallback). ``/images/generations`` and ``/images/edits``: ``demo-image`` draws a PNG from the
prompt (``png``): the size asked for when both sides are at most 256 pixels, else 64 x 64;
an edit also mixes its input images into the seed. Answers are ``b64_json``, with OpenAI's
usage fields for images left out (the demo bills per image).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from typing import Any

import orjson

from providers.demo.embedder import load_embedder
from providers.demo.png import png
from providers.demo.render import error_body
from providers.multipart import parse_form
from providers.vectors import pack

CREATED = 1767225600
MAX_SIDE = 256
DEFAULT_SIDE = 64
Answer = tuple[int, bytes]


def _error(status: int, message: str, kind: str, code: str | None = None) -> Answer:
    return status, error_body(message, kind, code=code)


async def embeddings(body: dict[str, Any]) -> Answer:
    model = body.get("model")
    if model == "demo-embed-fail-500":
        return _error(500, "The server had an error while processing your request. Sorry about that!", "server_error")
    if model != "demo-embed":
        return _error(404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found")
    raw = body.get("input")
    inputs: list[Any] = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else []
    if inputs and all(isinstance(i, int) for i in inputs):
        inputs = [inputs]
    if not inputs or not all(isinstance(i, str) or isinstance(i, list) for i in inputs):
        return _error(400, "'$.input' is invalid.", "invalid_request_error")
    dimensions = body.get("dimensions")
    size = dimensions if isinstance(dimensions, int) else None
    embedder = await asyncio.to_thread(load_embedder)
    try:
        vectors, tokens = embedder.embed(inputs, size)
    except ValueError as exc:
        return _error(400, str(exc), "invalid_request_error")
    as_base64 = body.get("encoding_format") == "base64"
    data = [
        {"object": "embedding", "index": i, "embedding": pack(v) if as_base64 else v} for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return 200, orjson.dumps({"object": "list", "data": data, "model": "demo-embed", "usage": usage})


def _side(size: object) -> tuple[int, int]:
    if isinstance(size, str):
        width, _, height = size.partition("x")
        if width.isdigit() and height.isdigit() and 0 < int(width) <= MAX_SIDE and 0 < int(height) <= MAX_SIDE:
            return int(width), int(height)
    return DEFAULT_SIDE, DEFAULT_SIDE


def images(fields: dict[str, Any], inputs: list[bytes]) -> Answer:
    model = fields.get("model")
    if model != "demo-image":
        return _error(404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found")
    prompt = fields.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return _error(400, "Missing required parameter: 'prompt'.", "invalid_request_error")
    n = int(fields.get("n") or 1)
    width, height = _side(fields.get("size"))
    seed = hashlib.sha256(prompt.encode() + b"".join(hashlib.sha256(i).digest() for i in inputs)).digest()
    data = [
        {"b64_json": base64.b64encode(png(width, height, seed + bytes([index]))).decode("ascii")} for index in range(n)
    ]
    return 200, orjson.dumps({"created": CREATED, "data": data})


def image_edit(body: bytes, content_type: str) -> Answer:
    fields: dict[str, Any] = {}
    inputs: list[bytes] = []
    for field in parse_form(body, content_type):
        if field.filename is not None and field.name in ("image", "image[]"):
            inputs.append(field.data)
        elif field.filename is None:
            fields[field.name] = field.text
    if not inputs:
        return _error(400, "Missing required parameter: 'image'.", "invalid_request_error")
    return images(fields, inputs)
