"""The OpenAI Chat Completions client: the official ``openai`` SDK against the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import orjson

from engine.canonical import StopReason, Usage
from tests.conformance.clients.base import (
    Answer,
    AnsweredCall,
    Failure,
    Interrupted,
    RawStream,
    Turn,
)
from tests.conformance.clients.sse_events import read_events

STOPS: dict[StopReason, str] = {"end": "stop", "tool_use": "tool_calls", "length": "length"}


def messages(turn: Turn) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if turn.system is not None:
        out.append({"role": "system", "content": turn.system})
    content: Any = turn.prompt
    if turn.image is not None:
        content = [
            {"type": "text", "text": turn.prompt},
            {"type": "image_url", "image_url": {"url": turn.image.data_url}},
        ]
    out.append({"role": "user", "content": content})
    if turn.prior_calls:
        out.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()},
                    }
                    for c in turn.prior_calls
                ],
            }
        )
        out += [{"role": "tool", "tool_call_id": c.id, "content": c.result} for c in turn.prior_calls]
    return out


def request(model: str, turn: Turn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": messages(turn), "max_completion_tokens": turn.max_tokens}
    if turn.stop:
        body["stop"] = list(turn.stop)
    if turn.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in turn.tools
        ]
    return body


class OpenAIChatDriver:
    format = "openai"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sdk = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-conformance", max_retries=0)

    def close(self) -> None:
        self.sdk.close()

    def ask(self, model: str, turn: Turn, *, stream: bool) -> Answer:
        if stream:
            return self._stream(model, turn)
        completion = self.sdk.chat.completions.create(**request(model, turn))
        choice = completion.choices[0]
        calls = [
            AnsweredCall(c.id, c.function.name, orjson.loads(c.function.arguments), i)
            for i, c in enumerate(choice.message.tool_calls or [])
            if c.type == "function"
        ]
        assert completion.usage is not None
        return Answer(
            choice.message.content or "", calls, choice.finish_reason, _usage(completion.usage), completion.model
        )

    def _stream(self, model: str, turn: Turn) -> Answer:
        stream = self.sdk.chat.completions.create(
            **request(model, turn), stream=True, stream_options={"include_usage": True}
        )
        text, finish, model_seen, pieces = "", "", "", 0
        calls: dict[int, AnsweredCall] = {}
        args: dict[int, str] = {}
        usage: dict[str, int] = {}
        events: list[str] = []
        for chunk in stream:
            model_seen = chunk.model
            if chunk.usage is not None:
                usage = _usage(chunk.usage)
                events.append("usage")
            for choice in chunk.choices:
                if choice.delta.content:
                    text += choice.delta.content
                    pieces += 1
                for call in choice.delta.tool_calls or []:
                    if call.index not in calls:
                        assert call.id and call.function and call.function.name, call
                        calls[call.index] = AnsweredCall(call.id, call.function.name, {}, call.index, 0)
                        args[call.index] = ""
                    piece = (call.function.arguments if call.function else None) or ""
                    if piece:
                        args[call.index] += piece
                        calls[call.index].fragments += 1
                if choice.finish_reason:
                    finish = choice.finish_reason
                    events.append("finish")
        for index, call in calls.items():
            call.arguments = orjson.loads(args[index])
        return Answer(text, [calls[i] for i in sorted(calls)], finish, usage, model_seen, events, pieces)

    def fail(self, model: str, turn: Turn, *, stream: bool = False) -> Failure:
        try:
            if stream:
                list(self.sdk.chat.completions.create(**request(model, turn), stream=True))
            else:
                self.sdk.chat.completions.create(**request(model, turn))
        except openai.APIStatusError as exc:
            return Failure(type(exc), exc.status_code, exc.message, exc.body)
        raise AssertionError("the SDK raised nothing")

    def interrupted(self, model: str, turn: Turn) -> Interrupted:
        text = ""
        try:
            for chunk in self.sdk.chat.completions.create(**request(model, turn), stream=True):
                text += "".join(choice.delta.content or "" for choice in chunk.choices)
        except openai.APIError as exc:
            return Interrupted(text, exc)
        raise AssertionError(f"the stream ended cleanly after {text!r}")

    def raw_stream(self, model: str, prompt: str) -> RawStream:
        body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True}
        response = httpx.post(f"{self.base_url}/v1/chat/completions", json=body, timeout=30)
        return RawStream(response.status_code, read_events(response.content))

    def stop_name(self, stop: StopReason) -> str:
        return STOPS[stop]

    def usage_view(self, usage: Usage) -> dict[str, int]:
        return {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
            "cached_tokens": usage.cached_input_tokens,
            "reasoning_tokens": usage.reasoning_tokens,
        }

    def error_classes(self, status: int) -> tuple[type[BaseException], ...]:
        return {400: (openai.BadRequestError,), 429: (openai.RateLimitError,)}.get(
            status, (openai.InternalServerError,)
        )

    def check_error_shape(self, failure: Failure, status: int) -> None:
        assert failure.status == status
        body = failure.body  # the SDK hands over the inner ``error`` object
        assert isinstance(body, dict) and {"message", "type", "param", "code"} <= set(body), body
        assert isinstance(body["message"], str) and body["message"]

    def check_in_band_error(self, raw: RawStream) -> None:
        assert raw.status == 200
        data = [d for _, d in raw.events]
        assert data, "empty stream"
        assert "[DONE]" not in data, "a failed stream must not end with [DONE]"
        last = orjson.loads(data[-1])
        assert set(last) == {"error"} and last["error"]["message"], last
        assert {"message", "type", "param", "code"} <= set(last["error"])
        chunks = [orjson.loads(d) for d in data[:-1]]
        assert chunks and all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert not any(ch.get("finish_reason") for c in chunks for ch in c["choices"]), "finish before the error"


def _usage(usage: Any) -> dict[str, int]:
    prompt = usage.prompt_tokens_details
    completion = usage.completion_tokens_details
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": (prompt.cached_tokens or 0) if prompt else 0,
        "reasoning_tokens": (completion.reasoning_tokens or 0) if completion else 0,
    }
