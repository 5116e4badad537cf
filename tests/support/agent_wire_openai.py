"""The agent upstream's OpenAI answers: chat completions and Responses, whole and streamed.

Shapes follow the recorded 2026 streams (``tests/fixtures/conformance/openai*/``): chat chunks
carry ``"usage": null`` when the client asked for ``stream_options.include_usage`` and end with a
usage chunk (``"choices": []``) and ``data: [DONE]``; Responses streams number their events
(``sequence_number``) and name them by their ``type``.
"""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.agent_script import Reply
from tests.support.fault_wire import data, event

CREATED = 1767225600


# -- chat completions -----------------------------------------------------------------


def _chat_usage(reply: Reply) -> dict[str, Any]:
    u = reply.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.total_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_object(reply: Reply, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{reply.ident}",
        "object": kind,
        "created": CREATED,
        "model": reply.model,
        "choices": choices,
        "service_tier": "default",
        "system_fingerprint": "fp_agent",
    }


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.call is not None else "stop"


def chat_body(reply: Reply) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if reply.call is not None:
        function = {"name": reply.call.name, "arguments": reply.call.arguments}
        message["content"] = None
        message["tool_calls"] = [{"id": f"call_{reply.ident}", "type": "function", "function": function}]
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
    return orjson.dumps({**_chat_object(reply, "chat.completion", [choice]), "usage": _chat_usage(reply)})


def _chunk(reply: Reply, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    chunk = _chat_object(reply, "chat.completion.chunk", [choice])
    if reply.include_usage:
        chunk["usage"] = None
    return data(chunk)


def chat_frames(reply: Reply) -> list[bytes]:
    call = reply.call
    frames = [_chunk(reply, {"role": "assistant", "content": None if call else "", "refusal": None})]
    if call is None:
        frames += [_chunk(reply, {"content": piece}) for piece in reply.pieces]
    else:
        function = {"name": call.name, "arguments": ""}
        opening = {"index": 0, "id": f"call_{reply.ident}", "type": "function", "function": function}
        frames.append(_chunk(reply, {"tool_calls": [opening]}))
        frames += [
            _chunk(reply, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}) for piece in reply.pieces
        ]
    frames.append(_chunk(reply, {}, _finish(reply)))
    if reply.include_usage:
        frames.append(data({**_chat_object(reply, "chat.completion.chunk", []), "usage": _chat_usage(reply)}))
    return [*frames, b"data: [DONE]\n\n"]


# -- Responses ------------------------------------------------------------------------


def _responses_usage(reply: Reply) -> dict[str, Any]:
    u = reply.usage
    return {
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.total_tokens,
    }


def _item(reply: Reply, done: bool) -> dict[str, Any]:
    """The answer's one output item, complete (``done``) or as ``output_item.added`` opens it."""
    item = _bare_item(reply, done)
    if reply.call is not None and reply.call.namespace is not None:
        item["namespace"], item["name"] = reply.call.namespace, reply.call.bare_name
    return item


def _bare_item(reply: Reply, done: bool) -> dict[str, Any]:
    status = "completed" if done else "in_progress"
    call = reply.call
    if call is None:
        part = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
        content = [part] if done else []
        return {
            "id": f"msg_{reply.ident}",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }
    if call.custom:
        return {
            "id": f"ctc_{reply.ident}",
            "type": "custom_tool_call",
            "status": status,
            "call_id": f"call_{reply.ident}",
            "name": call.name,
            "input": call.arguments if done else "",
        }
    return {
        "id": f"fc_{reply.ident}",
        "type": "function_call",
        "status": status,
        "arguments": call.arguments if done else "",
        "call_id": f"call_{reply.ident}",
        "name": call.name,
    }


def _response(reply: Reply, done: bool) -> dict[str, Any]:
    return {
        "id": f"resp_{reply.ident}",
        "object": "response",
        "created_at": CREATED,
        "status": "completed" if done else "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": reply.model,
        "output": [_item(reply, True)] if done else [],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": _responses_usage(reply) if done else None,
        "metadata": {},
    }


def responses_body(reply: Reply) -> bytes:
    return orjson.dumps(_response(reply, True))


def _item_events(reply: Reply) -> list[dict[str, Any]]:
    """The events between ``output_item.added`` and ``output_item.done``, unnumbered."""
    item_id = str(_item(reply, False)["id"])
    at = {"item_id": item_id, "output_index": 0}
    call = reply.call
    if call is None:
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        deltas = [
            {"type": "response.output_text.delta", **at, "content_index": 0, "delta": p, "logprobs": []}
            for p in reply.pieces
        ]
        return [
            {"type": "response.content_part.added", **at, "content_index": 0, "part": part},
            *deltas,
            {"type": "response.output_text.done", **at, "content_index": 0, "text": reply.text, "logprobs": []},
            {"type": "response.content_part.done", **at, "content_index": 0, "part": {**part, "text": reply.text}},
        ]
    if call.custom:
        deltas = [{"type": "response.custom_tool_call_input.delta", **at, "delta": p} for p in reply.pieces]
        return [*deltas, {"type": "response.custom_tool_call_input.done", **at, "input": call.arguments}]
    deltas = [{"type": "response.function_call_arguments.delta", **at, "delta": p} for p in reply.pieces]
    return [*deltas, {"type": "response.function_call_arguments.done", **at, "arguments": call.arguments}]


def responses_frames(reply: Reply) -> list[bytes]:
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response(reply, False)},
        {"type": "response.in_progress", "response": _response(reply, False)},
        {"type": "response.output_item.added", "output_index": 0, "item": _item(reply, False)},
        *_item_events(reply),
        {"type": "response.output_item.done", "output_index": 0, "item": _item(reply, True)},
        {"type": "response.completed", "response": _response(reply, True)},
    ]
    return [event({**e, "sequence_number": n}) for n, e in enumerate(events)]


def responses_count(tokens: int) -> bytes:
    return orjson.dumps({"object": "response.input_tokens", "input_tokens": tokens})


def error_body(message: str) -> bytes:
    """OpenAI's error envelope (an unknown path is ``Invalid URL (POST /v1/x)``, type ``invalid_request_error``)."""
    return orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}})
