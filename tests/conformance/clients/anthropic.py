"""The Anthropic Messages client: the official ``anthropic`` SDK against the gateway."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
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

STOPS: dict[StopReason, str] = {"end": "end_turn", "tool_use": "tool_use", "length": "max_tokens"}


def request(model: str, turn: Turn) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.prompt}]
    if turn.image is not None:
        content.append(
            {"type": "image", "source": {"type": "base64", "media_type": turn.image.mime, "data": turn.image.b64}}
        )
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if turn.prior_calls:
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in turn.prior_calls
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": c.id, "content": c.result} for c in turn.prior_calls
                ],
            }
        )
    body: dict[str, Any] = {"model": model, "max_tokens": turn.max_tokens, "messages": messages}
    if turn.system is not None:
        body["system"] = turn.system
    if turn.stop:
        body["stop_sequences"] = list(turn.stop)
    if turn.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters} for t in turn.tools
        ]
    return body


def _usage(usage: Any) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
    }


def _answer(message: Any, fragments: dict[int, int], events: list[str]) -> Answer:
    text = ""
    calls: list[AnsweredCall] = []
    for index, block in enumerate(message.content):
        if block.type == "text":
            text += block.text
        elif block.type == "tool_use":
            calls.append(AnsweredCall(block.id, block.name, dict(block.input), index, fragments.get(index, 1)))
    pieces = events.count("text")
    return Answer(text, calls, str(message.stop_reason), _usage(message.usage), message.model, events, pieces)


class AnthropicDriver:
    format = "anthropic"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sdk = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-conformance", max_retries=0)

    def close(self) -> None:
        self.sdk.close()

    def ask(self, model: str, turn: Turn, *, stream: bool) -> Answer:
        if not stream:
            return _answer(self.sdk.messages.create(**request(model, turn)), {}, [])
        fragments: dict[int, int] = {}
        events: list[str] = []
        with self.sdk.messages.stream(**request(model, turn)) as live:
            for event in live:
                events.append(event.type)
                if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                    if event.delta.partial_json:
                        fragments[event.index] = fragments.get(event.index, 0) + 1
            message = live.get_final_message()
        return _answer(message, fragments, events)

    def fail(self, model: str, turn: Turn, *, stream: bool = False) -> Failure:
        try:
            if stream:
                with self.sdk.messages.stream(**request(model, turn)) as live:
                    live.until_done()
            else:
                self.sdk.messages.create(**request(model, turn))
        except anthropic.APIStatusError as exc:
            return Failure(type(exc), exc.status_code, exc.message, exc.body)
        raise AssertionError("the SDK raised nothing")

    def interrupted(self, model: str, turn: Turn) -> Interrupted:
        text = ""
        try:
            with self.sdk.messages.stream(**request(model, turn)) as live:
                for event in live:
                    if event.type == "text":
                        text += event.text
        except anthropic.APIError as exc:
            return Interrupted(text, exc)
        raise AssertionError(f"the stream ended cleanly after {text!r}")

    def raw_stream(self, model: str, prompt: str) -> RawStream:
        body = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": prompt}], "stream": True}
        response = httpx.post(
            f"{self.base_url}/v1/messages", json=body, headers={"x-api-key": "sk-ant-raw"}, timeout=30
        )
        return RawStream(response.status_code, read_events(response.content))

    def stop_name(self, stop: StopReason) -> str:
        return STOPS[stop]

    def usage_view(self, usage: Usage) -> dict[str, int]:
        return {
            "input_tokens": usage.input_tokens - usage.cached_input_tokens - usage.cache_write_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_input_tokens": usage.cached_input_tokens,
            "cache_creation_input_tokens": usage.cache_write_tokens,
        }

    def error_classes(self, status: int) -> tuple[type[BaseException], ...]:
        return {400: (anthropic.BadRequestError,), 429: (anthropic.RateLimitError,)}.get(
            status, (anthropic.InternalServerError,)
        )

    def check_error_shape(self, failure: Failure, status: int) -> None:
        assert failure.status == status
        body = failure.body
        assert isinstance(body, dict) and body.get("type") == "error", body
        error = body["error"]
        expected_type = {400: "invalid_request_error", 429: "rate_limit_error"}.get(status, "api_error")
        assert error["type"] == expected_type and error["message"], body

    def check_in_band_error(self, raw: RawStream) -> None:
        assert raw.status == 200
        names = [name for name, _ in raw.events]
        assert names and names[0] == "message_start", names
        assert names[-1] == "error", names
        assert "message_stop" not in names and "message_delta" not in names, names
        last = orjson.loads(raw.events[-1][1])
        assert last["type"] == "error" and last["error"]["type"] and last["error"]["message"], last
