"""The agent upstream's Gemini answers: generateContent, streamGenerateContent, countTokens.

Shapes follow the recorded 2026 streams (``tests/fixtures/conformance/gemini/``): text arrives
in pieces, a ``functionCall`` arrives whole in one chunk (Gemini streams no argument pieces
unless asked for ``streamFunctionCallArguments``), and ``finishReason: STOP`` comes in a
trailing chunk with the final ``usageMetadata``. Calls carry no id. ``promptTokenCount``
includes ``cachedContentTokenCount``. SSE events end with CRLF pairs, as Google's do; without
``alt=sse`` a stream is one JSON array of the chunks.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.agent_script import Reply


def _usage(reply: Reply) -> dict[str, Any]:
    u = reply.usage
    usage: dict[str, Any] = {
        "promptTokenCount": u.input_tokens,
        "candidatesTokenCount": u.output_tokens,
        "totalTokenCount": u.total_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.input_tokens}],
    }
    if u.cached_tokens:
        usage["cachedContentTokenCount"] = u.cached_tokens
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": u.cached_tokens}]
    return usage


def _chunk(reply: Reply, parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
    if last:
        candidate["finishReason"] = "STOP"
    return {
        "candidates": [candidate],
        "usageMetadata": _usage(reply),
        "modelVersion": reply.model,
        "responseId": reply.ident,
    }


def _call_part(reply: Reply) -> dict[str, Any]:
    assert reply.call is not None
    return {"functionCall": {"name": reply.call.name, "args": reply.arguments_object()}}


def body(reply: Reply) -> bytes:
    part = _call_part(reply) if reply.call is not None else {"text": reply.text}
    return orjson.dumps(_chunk(reply, [part], last=True))


def chunks(reply: Reply) -> list[dict[str, Any]]:
    if reply.call is not None:
        return [_chunk(reply, [_call_part(reply)], False), _chunk(reply, [{"text": ""}], True)]
    *middle, final = reply.pieces
    return [*(_chunk(reply, [{"text": p}], False) for p in middle), _chunk(reply, [{"text": final}], True)]


def frames(reply: Reply) -> list[bytes]:
    return [b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks(reply)]


def array(reply: Reply) -> bytes:
    return orjson.dumps(chunks(reply))


def count(tokens: int) -> bytes:
    return orjson.dumps({"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]})


def error_body(status: int, message: str) -> bytes:
    name = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND"}.get(status, "INTERNAL")
    return orjson.dumps({"error": {"code": status, "message": message, "status": name}})
