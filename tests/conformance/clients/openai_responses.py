"""The OpenAI Responses client: the official ``openai`` SDK's ``client.responses``."""

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

STOPS: dict[StopReason, str] = {
    "end": "completed",
    "tool_use": "completed",
    "length": "incomplete:max_output_tokens",
}


def request(model: str, turn: Turn) -> dict[str, Any]:
    if turn.stop:
        raise ValueError("a Responses request cannot express stop sequences")
    content: list[dict[str, Any]] = [{"type": "input_text", "text": turn.prompt}]
    if turn.image is not None:
        content.append({"type": "input_image", "image_url": turn.image.data_url, "detail": "auto"})
    items: list[dict[str, Any]] = [{"role": "user", "content": content}]
    for call in turn.prior_calls:
        items.append(
            {
                "type": "function_call",
                "call_id": call.id,
                "name": call.name,
                "arguments": orjson.dumps(call.arguments).decode(),
            }
        )
    items += [{"type": "function_call_output", "call_id": c.id, "output": c.result} for c in turn.prior_calls]
    body: dict[str, Any] = {"model": model, "input": items, "max_output_tokens": turn.max_tokens}
    if turn.system is not None:
        body["instructions"] = turn.system
    if turn.tools:
        body["tools"] = [
            {
                "type": "function",
                "name": t.name,
                "description": t.description,
                "parameters": t.parameters,
                "strict": False,
            }
            for t in turn.tools
        ]
    return body


def _stop(response: Any) -> str:
    details = response.incomplete_details
    return f"{response.status}:{details.reason}" if details is not None else str(response.status)


def _usage(usage: Any) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.input_tokens_details.cached_tokens,
        "reasoning_tokens": usage.output_tokens_details.reasoning_tokens,
    }


class OpenAIResponsesDriver:
    format = "openai-responses"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sdk = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-conformance", max_retries=0)

    def close(self) -> None:
        self.sdk.close()

    def ask(self, model: str, turn: Turn, *, stream: bool) -> Answer:
        if stream:
            return self._stream(model, turn)
        response = self.sdk.responses.create(**request(model, turn))
        text = ""
        calls: list[AnsweredCall] = []
        for index, item in enumerate(response.output):
            if item.type == "message":
                text += "".join(c.text for c in item.content if c.type == "output_text")
            elif item.type == "function_call":
                calls.append(AnsweredCall(item.call_id, item.name, orjson.loads(item.arguments), index))
        assert response.usage is not None
        return Answer(text, calls, _stop(response), _usage(response.usage), response.model)

    def _stream(self, model: str, turn: Turn) -> Answer:
        text = ""
        calls: dict[int, AnsweredCall] = {}
        args: dict[int, str] = {}
        events: list[str] = []
        final: Any = None
        for event in self.sdk.responses.create(**request(model, turn), stream=True):
            events.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
            elif event.type == "response.output_item.added" and event.item.type == "function_call":
                calls[event.output_index] = AnsweredCall(event.item.call_id, event.item.name, {}, event.output_index, 0)
                args[event.output_index] = ""
            elif event.type == "response.function_call_arguments.delta":
                args[event.output_index] += event.delta
                calls[event.output_index].fragments += 1
            elif event.type == "response.output_item.done" and event.item.type == "function_call":
                assert event.item.arguments == args[event.output_index], "done arguments differ from the deltas"
            elif event.type in ("response.completed", "response.incomplete"):
                final = event.response
        assert final is not None, f"no terminal event in {events}"
        for index, call in calls.items():
            call.arguments = orjson.loads(args[index])
        pieces = events.count("response.output_text.delta")
        answer = Answer(text, [calls[i] for i in sorted(calls)], _stop(final), _usage(final.usage), final.model, events)
        answer.pieces = pieces
        return answer

    def fail(self, model: str, turn: Turn, *, stream: bool = False) -> Failure:
        try:
            if stream:
                list(self.sdk.responses.create(**request(model, turn), stream=True))
            else:
                self.sdk.responses.create(**request(model, turn))
        except openai.APIStatusError as exc:
            return Failure(type(exc), exc.status_code, exc.message, exc.body)
        raise AssertionError("the SDK raised nothing")

    def interrupted(self, model: str, turn: Turn) -> Interrupted:
        text = ""
        try:
            for event in self.sdk.responses.create(**request(model, turn), stream=True):
                if event.type == "response.output_text.delta":
                    text += event.delta
        except openai.APIError as exc:
            return Interrupted(text, exc)
        raise AssertionError(f"the stream ended cleanly after {text!r}")

    def raw_stream(self, model: str, prompt: str) -> RawStream:
        body = {"model": model, "input": prompt, "stream": True}
        response = httpx.post(f"{self.base_url}/v1/responses", json=body, timeout=30)
        return RawStream(response.status_code, read_events(response.content))

    def stop_name(self, stop: StopReason) -> str:
        return STOPS[stop]

    def usage_view(self, usage: Usage) -> dict[str, int]:
        return {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
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
        body = failure.body
        assert isinstance(body, dict) and {"message", "type", "param", "code"} <= set(body), body
        assert isinstance(body["message"], str) and body["message"]

    def check_in_band_error(self, raw: RawStream) -> None:
        assert raw.status == 200
        kinds = [orjson.loads(d)["type"] for _, d in raw.events]
        assert all(name == kind for (name, _), kind in zip(raw.events, kinds, strict=True)), (
            "event name differs from type"
        )
        assert "error" in kinds, kinds
        assert kinds[-1] == "response.failed", kinds
        assert "response.completed" not in kinds and "response.incomplete" not in kinds
        error = orjson.loads(raw.events[kinds.index("error")][1])
        assert error["message"], error
