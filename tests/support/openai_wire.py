"""OpenAI Chat Completions wire bodies for the fake upstream: responses, stream frames,
error envelopes, and recorded streams from ``tests/fixtures/openai``.

Shapes follow the recordings in ``/work/shared/wire/openai`` (``chat.completion`` and
``chat.completion.chunk`` objects, the usage chunk with ``"choices": []``, ``[DONE]``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CREATED = 1727346168
DONE = b"data: [DONE]\n\n"


def data_frame(payload: Mapping[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def error_body(
    message: str, type_: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion(
    content: str,
    model: str,
    *,
    prompt_tokens: int = 5,
    completion_tokens: int | None = None,
    finish_reason: str = "stop",
    id_: str = "chatcmpl-fake",
) -> dict[str, Any]:
    """A complete ``chat.completion`` object with one choice."""
    out_tokens = len(content.split()) if completion_tokens is None else completion_tokens
    return {
        "id": id_,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage(prompt_tokens, out_tokens),
    }


def _chunk(model: str, id_: str, delta: Mapping[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": id_,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": dict(delta), "logprobs": None, "finish_reason": finish}],
    }


def stream_frames(
    pieces: Sequence[str],
    model: str,
    *,
    include_usage: bool = False,
    prompt_tokens: int = 5,
    finish_reason: str = "stop",
    done: bool = True,
    id_: str = "chatcmpl-fake",
) -> list[bytes]:
    """SSE frames of a streamed completion: role chunk, one chunk per piece, the finish
    chunk, the usage chunk when asked, then ``[DONE]`` (unless ``done`` is false)."""
    frames = [data_frame(_chunk(model, id_, {"role": "assistant", "content": ""}, None))]
    frames += [data_frame(_chunk(model, id_, {"content": piece}, None)) for piece in pieces]
    frames.append(data_frame(_chunk(model, id_, {}, finish_reason)))
    if include_usage:
        completion_tokens = sum(len(p.split()) for p in pieces)
        frames.append(
            data_frame(
                {
                    "id": id_,
                    "object": "chat.completion.chunk",
                    "created": CREATED,
                    "model": model,
                    "choices": [],
                    "usage": usage(prompt_tokens, completion_tokens),
                }
            )
        )
    if done:
        frames.append(DONE)
    return frames


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message of a chat request ("" when there is none)."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
            )
    return ""


def recorded_frames(name: str) -> list[bytes]:
    """The frames of a recorded stream ``tests/fixtures/openai/<name>``, each ending in a
    blank line, in order (``data: [DONE]`` included when recorded)."""
    raw = (FIXTURES / "openai" / name).read_bytes().replace(b"\r\n", b"\n")
    return [block.strip(b"\n") + b"\n\n" for block in raw.split(b"\n\n") if block.strip()]
