"""The two wire formats ``FaultUpstream`` speaks: OpenAI chat completions and Anthropic Messages.

Each reads the facts the fake needs from a request body (the trailing assistant message
as a prefill, the prompt size, the output cap, the first tool, whether usage was asked
for) and renders every piece of a reply: error bodies (the real ones in
``tests/fixtures/fault_upstream/error_bodies.json``), complete JSON answers, and the SSE
frames of a stream (preamble, one frame per content piece, finish and usage, terminator,
keep-alive, an in-band error, an unparseable event). Shapes follow the recordings in
``/work/shared/wire``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from tests.support.fault_text import Answer

ERROR_BODIES = Path(__file__).resolve().parent.parent / "fixtures" / "fault_upstream" / "error_bodies.json"
CREATED = 1767225600
REFUSAL = ("I'm", " sorry,", " but", " I", " can't", " help", " with", " that.")
_WORD = re.compile(r"\S+")


@functools.cache
def _bodies() -> dict[str, dict[str, Any]]:
    loaded: dict[str, dict[str, Any]] = orjson.loads(ERROR_BODIES.read_bytes())
    return loaded


@dataclass(frozen=True, slots=True)
class RequestFacts:
    prefill: str | None  # the trailing assistant message's text, None when the last message is not one
    prompt_tokens: int  # words in the system prompt and every message
    max_tokens: int | None
    tool: str | None  # the first tool's name, None without tools
    stream: bool
    include_usage: bool  # a stream should end with usage


@dataclass(frozen=True, slots=True)
class Turn:
    """One answer being rendered: the model id echoed back, an id, the content."""

    model: str
    ident: str
    answer: Answer
    include_usage: bool = True


class WireFormat(Protocol):
    name: str

    def facts(self, body: Any) -> RequestFacts: ...
    def error_body(self, key: str | int) -> bytes: ...
    def completion(self, turn: Turn) -> bytes: ...
    def refusal(self, turn: Turn) -> bytes: ...
    def in_band_error_body(self) -> bytes: ...
    def head(self, turn: Turn) -> list[bytes]: ...
    def piece(self, turn: Turn, index: int) -> list[bytes]: ...
    def tail(self, turn: Turn) -> list[bytes]: ...
    def refusal_stream(self, turn: Turn) -> list[bytes]: ...
    @property
    def terminator(self) -> bytes: ...
    @property
    def keepalive(self) -> bytes: ...
    @property
    def in_band_error(self) -> bytes: ...
    @property
    def garbage(self) -> bytes: ...


def data(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def event(payload: dict[str, Any]) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def _message_text(message: Any) -> str:
    """The text of a chat/Messages message: a string, or its text parts joined."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _prefill(messages: Any) -> str | None:
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        if messages[-1].get("role") == "assistant":
            return _message_text(messages[-1])
    return None


def _words(*texts: str) -> int:
    return max(1, sum(len(_WORD.findall(t)) for t in texts))


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class OpenAIWire:
    name = "openai"
    terminator = b"data: [DONE]\n\n"
    keepalive = b": keep-alive\n\n"
    garbage = b'data: {"id":"chatcmpl-fault","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"cont\n\n'

    def facts(self, body: Any) -> RequestFacts:
        body = body if isinstance(body, dict) else {}
        messages = body.get("messages")
        texts = [_message_text(m) for m in messages] if isinstance(messages, list) else []
        tools = body.get("tools")
        tool = None
        if isinstance(tools, list) and tools and isinstance(tools[0], dict):
            function = tools[0].get("function")
            tool = str(function.get("name", "tool")) if isinstance(function, dict) else "tool"
        options = body.get("stream_options")
        return RequestFacts(
            prefill=_prefill(messages),
            prompt_tokens=_words(*texts),
            max_tokens=_int(body.get("max_completion_tokens", body.get("max_tokens"))),
            tool=tool,
            stream=body.get("stream") is True,
            include_usage=isinstance(options, dict) and options.get("include_usage") is True,
        )

    def error_body(self, key: str | int) -> bytes:
        known = _bodies()["openai"].get(str(key))
        if known is not None:
            return orjson.dumps(known)
        status = int(key)
        if status >= 500:
            return orjson.dumps(_bodies()["openai"]["500"])
        kind = {401: "invalid_request_error", 403: "permission_error", 404: "invalid_request_error"}
        code = {401: "invalid_api_key", 404: "model_not_found"}.get(status)
        message = f"fault upstream: HTTP {status}"
        return orjson.dumps(
            {
                "error": {
                    "message": message,
                    "type": kind.get(status, "invalid_request_error"),
                    "param": None,
                    "code": code,
                }
            }
        )

    def in_band_error_body(self) -> bytes:
        return orjson.dumps(_bodies()["openai"]["stream_error"])

    @property
    def in_band_error(self) -> bytes:
        return data(_bodies()["openai"]["stream_error"])

    def _usage(self, turn: Turn) -> dict[str, int]:
        prompt, completion = turn.answer.prompt_tokens, turn.answer.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _finish(self, turn: Turn) -> str:
        return {"stop": "stop", "length": "length", "tool": "tool_calls"}[turn.answer.finish]

    def _tool_call(self, turn: Turn, arguments: str) -> dict[str, Any]:
        function = {"name": turn.answer.tool, "arguments": arguments}
        return {"index": 0, "id": f"call_{turn.ident}", "type": "function", "function": function}

    def _object(self, turn: Turn, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{turn.ident}",
            "object": kind,
            "created": CREATED,
            "model": turn.model,
            "choices": choices,
            "system_fingerprint": "fp_fault",
        }

    def completion(self, turn: Turn) -> bytes:
        answer = turn.answer
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if answer.tool is None:
            message["content"] = answer.text
        else:
            call = self._tool_call(turn, answer.text)
            del call["index"]
            message["tool_calls"] = [call]
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": self._finish(turn)}
        return orjson.dumps({**self._object(turn, "chat.completion", [choice]), "usage": self._usage(turn)})

    def refusal(self, turn: Turn) -> bytes:
        message = {"role": "assistant", "content": None, "refusal": "".join(REFUSAL)}
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
        usage = {"prompt_tokens": turn.answer.prompt_tokens, "completion_tokens": len(REFUSAL)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return orjson.dumps({**self._object(turn, "chat.completion", [choice]), "usage": usage})

    def _chunk(self, turn: Turn, delta: dict[str, Any], finish: str | None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        chunk = self._object(turn, "chat.completion.chunk", [choice])
        if turn.include_usage:
            chunk["usage"] = None
        return data(chunk)

    def head(self, turn: Turn) -> list[bytes]:
        content = "" if turn.answer.tool is None else None
        return [self._chunk(turn, {"role": "assistant", "content": content}, None)]

    def piece(self, turn: Turn, index: int) -> list[bytes]:
        text = turn.answer.pieces[index]
        if turn.answer.tool is None:
            return [self._chunk(turn, {"content": text}, None)]
        call = self._tool_call(turn, text) if index == 0 else {"index": 0, "function": {"arguments": text}}
        return [self._chunk(turn, {"tool_calls": [call]}, None)]

    def tail(self, turn: Turn) -> list[bytes]:
        frames = [self._chunk(turn, {}, self._finish(turn))]
        if turn.include_usage:
            frames.append(data({**self._object(turn, "chat.completion.chunk", []), "usage": self._usage(turn)}))
        return frames

    def refusal_stream(self, turn: Turn) -> list[bytes]:
        frames = [self._chunk(turn, {"role": "assistant", "content": None, "refusal": ""}, None)]
        frames += [self._chunk(turn, {"refusal": word}, None) for word in REFUSAL]
        frames.append(self._chunk(turn, {}, "stop"))
        if turn.include_usage:
            prompt = turn.answer.prompt_tokens
            usage = {"prompt_tokens": prompt, "completion_tokens": len(REFUSAL), "total_tokens": prompt + len(REFUSAL)}
            frames.append(data({**self._object(turn, "chat.completion.chunk", []), "usage": usage}))
        return [*frames, self.terminator]


class AnthropicWire:
    name = "anthropic"
    terminator = event({"type": "message_stop"})
    keepalive = event({"type": "ping"})
    garbage = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_d\n\n'
    _STATUS_TYPES = {
        400: "invalid_request_error",
        401: "authentication_error",
        402: "billing_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        504: "timeout_error",
        529: "overloaded_error",
    }

    def facts(self, body: Any) -> RequestFacts:
        body = body if isinstance(body, dict) else {}
        messages = body.get("messages")
        texts = [_message_text(m) for m in messages] if isinstance(messages, list) else []
        system = body.get("system")
        texts.append(system if isinstance(system, str) else _message_text({"content": system}))
        tools = body.get("tools")
        tool = None
        if isinstance(tools, list) and tools and isinstance(tools[0], dict):
            tool = str(tools[0].get("name", "tool"))
        return RequestFacts(
            prefill=_prefill(messages),
            prompt_tokens=_words(*texts),
            max_tokens=_int(body.get("max_tokens")),
            tool=tool,
            stream=body.get("stream") is True,
            include_usage=True,
        )

    def error_body(self, key: str | int) -> bytes:
        known = _bodies()["anthropic"].get(str(key))
        if known is not None:
            return orjson.dumps(known)
        status = int(key)
        kind = self._STATUS_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        message = "Internal server error" if kind == "api_error" else f"fault upstream: HTTP {status}"
        return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fault"})

    def in_band_error_body(self) -> bytes:
        return orjson.dumps(_bodies()["anthropic"]["stream_error"])

    @property
    def in_band_error(self) -> bytes:
        return event(_bodies()["anthropic"]["stream_error"])

    def _stop_reason(self, turn: Turn) -> str:
        return {"stop": "end_turn", "length": "max_tokens", "tool": "tool_use"}[turn.answer.finish]

    def _message(self, turn: Turn, content: list[dict[str, Any]], stop: str | None, output: int) -> dict[str, Any]:
        return {
            "id": f"msg_{turn.ident}",
            "type": "message",
            "role": "assistant",
            "model": turn.model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": turn.answer.prompt_tokens, "output_tokens": output},
        }

    def completion(self, turn: Turn) -> bytes:
        answer = turn.answer
        block: dict[str, Any]
        if answer.tool is None:
            block = {"type": "text", "text": answer.text}
        else:
            parsed = orjson.loads(answer.text) if answer.finish != "length" else {}
            block = {"type": "tool_use", "id": f"toolu_{turn.ident}", "name": answer.tool, "input": parsed}
        message = self._message(turn, [block], self._stop_reason(turn), answer.completion_tokens)
        return orjson.dumps(message)

    def _refusal_details(self) -> dict[str, Any]:
        return {
            "type": "refusal",
            "category": "cyber",
            "explanation": "This request triggered restrictions on violative cyber content and was blocked "
            "under Anthropic's Usage Policy.",
            "recommended_model": None,
        }

    def refusal(self, turn: Turn) -> bytes:
        message = self._message(turn, [], "refusal", 5)
        return orjson.dumps({**message, "stop_details": self._refusal_details()})

    def head(self, turn: Turn) -> list[bytes]:
        start = event({"type": "message_start", "message": self._message(turn, [], None, 1)})
        if turn.answer.tool is not None:  # the tool_use block opens with the first fragment
            return [start, self.keepalive]
        block = event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        return [start, block, self.keepalive]

    def piece(self, turn: Turn, index: int) -> list[bytes]:
        text = turn.answer.pieces[index]
        if turn.answer.tool is None:
            delta = {"type": "text_delta", "text": text}
            return [event({"type": "content_block_delta", "index": 0, "delta": delta})]
        frames = []
        if index == 0:
            block = {"type": "tool_use", "id": f"toolu_{turn.ident}", "name": turn.answer.tool, "input": {}}
            frames.append(event({"type": "content_block_start", "index": 0, "content_block": block}))
        delta = {"type": "input_json_delta", "partial_json": text}
        return [*frames, event({"type": "content_block_delta", "index": 0, "delta": delta})]

    def tail(self, turn: Turn) -> list[bytes]:
        usage = {"input_tokens": turn.answer.prompt_tokens, "output_tokens": turn.answer.completion_tokens}
        delta = {"stop_reason": self._stop_reason(turn), "stop_sequence": None}
        return [
            event({"type": "content_block_stop", "index": 0}),
            event({"type": "message_delta", "delta": delta, "usage": usage}),
        ]

    def refusal_stream(self, turn: Turn) -> list[bytes]:
        delta = {"stop_reason": "refusal", "stop_sequence": None, "stop_details": self._refusal_details()}
        usage = {"input_tokens": turn.answer.prompt_tokens, "output_tokens": 5}
        return [
            event({"type": "message_start", "message": self._message(turn, [], None, 1)}),
            self.keepalive,
            event({"type": "message_delta", "delta": delta, "usage": usage}),
            self.terminator,
        ]


WIRES: dict[str, WireFormat] = {"openai": OpenAIWire(), "anthropic": AnthropicWire()}
