"""The demo upstream's answers in OpenAI chat wire format: a completion body or SSE frames.

Streams are chunked the way OpenAI chunks them: a role chunk with ``content: ""``, one chunk
per word (leading space attached), tool arguments in 8-character fragments, a finish chunk
with an empty delta, the usage chunk (``"choices": []``) when asked for, then ``[DONE]``.
With ``include_usage`` every chunk carries ``"usage": null`` until the last, as OpenAI's do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from providers.demo.echo import EchoAnswer

_WORD = re.compile(r"\s*\S+|\s+")
_ARG_FRAGMENT = 8


@dataclass(frozen=True, slots=True)
class Identity:
    """Deterministic ids for one request (derived from its body)."""

    completion_id: str
    call_id: str
    created: int
    model: str


def completion_body(answer: EchoAnswer, ident: Identity) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": answer.text, "refusal": None}
    if answer.tool_name is not None:
        message["tool_calls"] = [
            {
                "id": ident.call_id,
                "type": "function",
                "function": {"name": answer.tool_name, "arguments": answer.tool_arguments or ""},
            }
        ]
    body = {
        "id": ident.completion_id,
        "object": "chat.completion",
        "created": ident.created,
        "model": ident.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": answer.finish_reason}],
        "usage": _usage(answer),
    }
    return orjson.dumps(body)


def stream_frames(answer: EchoAnswer, ident: Identity, *, include_usage: bool) -> list[bytes]:
    """Every frame of the stream, ``[DONE]`` last."""
    frames = [_chunk(ident, {"role": "assistant", "content": "", "refusal": None}, None, include_usage)]
    frames.extend(_chunk(ident, delta, None, include_usage) for delta in content_deltas(answer, ident))
    frames.append(_chunk(ident, {}, answer.finish_reason, include_usage))
    if include_usage:
        usage_chunk = _head(ident) | {"choices": [], "usage": _usage(answer)}
        frames.append(b"data: " + orjson.dumps(usage_chunk) + b"\n\n")
    frames.append(b"data: [DONE]\n\n")
    return frames


def text_frames(answer: EchoAnswer, ident: Identity, *, include_usage: bool, count: int) -> list[bytes]:
    """The role chunk and the first ``count`` content chunks (what a cut stream got out)."""
    frames = [_chunk(ident, {"role": "assistant", "content": "", "refusal": None}, None, include_usage)]
    deltas = content_deltas(answer, ident)[:count]
    frames.extend(_chunk(ident, delta, None, include_usage) for delta in deltas)
    return frames


def content_deltas(answer: EchoAnswer, ident: Identity) -> list[dict[str, Any]]:
    if answer.tool_name is None:
        return [{"content": word} for word in _WORD.findall(answer.text or "")]
    arguments = answer.tool_arguments or ""
    deltas: list[dict[str, Any]] = [
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": ident.call_id,
                    "type": "function",
                    "function": {"name": answer.tool_name, "arguments": ""},
                }
            ]
        }
    ]
    for start in range(0, len(arguments), _ARG_FRAGMENT):
        fragment = arguments[start : start + _ARG_FRAGMENT]
        deltas.append({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]})
    return deltas


def error_body(message: str, kind: str, *, code: str | None = None, param: str | None = None) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def _head(ident: Identity) -> dict[str, Any]:
    return {
        "id": ident.completion_id,
        "object": "chat.completion.chunk",
        "created": ident.created,
        "model": ident.model,
    }


def _chunk(ident: Identity, delta: dict[str, Any], finish: str | None, include_usage: bool) -> bytes:
    chunk = _head(ident) | {"choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
    if include_usage:
        chunk["usage"] = None
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _usage(answer: EchoAnswer) -> dict[str, Any]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
