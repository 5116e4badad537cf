"""The Gemini client: the official ``google-genai`` SDK with ``base_url`` at the gateway."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from google import genai
from google.genai import errors, types

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
from tests.conformance.vendors.base import ToolSpec

STOPS: dict[StopReason, str] = {"end": "STOP", "tool_use": "STOP", "length": "MAX_TOKENS"}
_RPC_STATUS = {400: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 502: "UNAVAILABLE"}


def declarations(tools: tuple[ToolSpec, ...]) -> list[types.Tool]:
    return [
        types.Tool(
            function_declarations=[
                types.FunctionDeclaration(name=t.name, description=t.description, parameters_json_schema=t.parameters)
                for t in tools
            ]
        )
    ]


def contents(turn: Turn) -> list[types.Content]:
    parts = [types.Part(text=turn.prompt)]
    if turn.image is not None:
        parts.append(types.Part.from_bytes(data=turn.image.data, mime_type=turn.image.mime))
    out = [types.Content(role="user", parts=parts)]
    if turn.prior_calls:
        calls = [types.Part(function_call=types.FunctionCall(name=c.name, args=c.arguments)) for c in turn.prior_calls]
        results = [
            types.Part(function_response=types.FunctionResponse(name=c.name, response={"result": c.result}))
            for c in turn.prior_calls
        ]
        out += [types.Content(role="model", parts=calls), types.Content(role="user", parts=results)]
    return out


def config(turn: Turn) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        system_instruction=turn.system,
        tools=declarations(turn.tools) if turn.tools else None,
        max_output_tokens=turn.max_tokens,
        stop_sequences=list(turn.stop) or None,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def _usage(meta: Any) -> dict[str, int]:
    return {
        "prompt_token_count": meta.prompt_token_count or 0,
        "candidates_token_count": meta.candidates_token_count or 0,
        "thoughts_token_count": meta.thoughts_token_count or 0,
        "total_token_count": meta.total_token_count or 0,
        "cached_content_token_count": meta.cached_content_token_count or 0,
    }


class GeminiDriver:
    format = "gemini"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # google-genai 3.x defaults to api_version "v1"; the gateway serves Gemini under /v1beta
        options = types.HttpOptions(base_url=base_url, api_version="v1beta")
        self.sdk = genai.Client(api_key="gemini-conformance", http_options=options)

    def close(self) -> None:
        self.sdk.close()

    def ask(self, model: str, turn: Turn, *, stream: bool) -> Answer:
        text, stop, usage, model_seen, pieces = "", "", {}, "", 0
        calls: list[AnsweredCall] = []
        events: list[str] = []
        if stream:
            chunks = list(
                self.sdk.models.generate_content_stream(model=model, contents=contents(turn), config=config(turn))
            )
        else:
            chunks = [self.sdk.models.generate_content(model=model, contents=contents(turn), config=config(turn))]
        for chunk in chunks:
            events.append("chunk")
            model_seen = chunk.model_version or model_seen
            if chunk.usage_metadata is not None and chunk.usage_metadata.prompt_token_count is not None:
                usage = _usage(chunk.usage_metadata)
            if not chunk.candidates:
                continue
            candidate = chunk.candidates[0]
            if candidate.finish_reason is not None:
                stop = candidate.finish_reason.value
                events.append("finish")
            for part in (candidate.content.parts if candidate.content else None) or []:
                if part.text and not part.thought:
                    text += part.text
                    pieces += 1
                if part.function_call is not None:
                    call = part.function_call
                    if call.name is None:  # a continuation of the last call's streamed arguments
                        assert calls, "a nameless function call piece before any call"
                        _fold_partial_args(calls[-1].arguments, call.partial_args or [])
                        continue
                    calls.append(AnsweredCall(call.id, call.name, dict(call.args or {}), len(calls)))
                    _fold_partial_args(calls[-1].arguments, call.partial_args or [])
        return Answer(text, calls, stop, usage, model_seen, events, pieces if stream else 0)

    def fail(self, model: str, turn: Turn, *, stream: bool = False) -> Failure:
        try:
            if stream:
                list(self.sdk.models.generate_content_stream(model=model, contents=contents(turn), config=config(turn)))
            else:
                self.sdk.models.generate_content(model=model, contents=contents(turn), config=config(turn))
        except errors.APIError as exc:
            return Failure(type(exc), exc.code, exc.message or "", exc.details)
        raise AssertionError("the SDK raised nothing")

    def interrupted(self, model: str, turn: Turn) -> Interrupted:
        text = ""
        try:
            for chunk in self.sdk.models.generate_content_stream(
                model=model, contents=contents(turn), config=config(turn)
            ):
                text += chunk.text or ""
        except errors.APIError as exc:
            return Interrupted(text, exc)
        raise AssertionError(f"the stream ended cleanly after {text!r}")

    def raw_stream(self, model: str, prompt: str) -> RawStream:
        url = f"{self.base_url}/v1beta/models/{model}:streamGenerateContent?alt=sse"
        body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        response = httpx.post(url, json=body, headers={"x-goog-api-key": "gemini-raw"}, timeout=30)
        return RawStream(response.status_code, read_events(response.content))

    def stop_name(self, stop: StopReason) -> str:
        return STOPS[stop]

    def usage_view(self, usage: Usage) -> dict[str, int]:
        return {
            "prompt_token_count": usage.input_tokens,
            "candidates_token_count": usage.output_tokens - usage.reasoning_tokens,
            "thoughts_token_count": usage.reasoning_tokens,
            "total_token_count": usage.input_tokens + usage.output_tokens,
            "cached_content_token_count": usage.cached_input_tokens,
        }

    def error_classes(self, status: int) -> tuple[type[BaseException], ...]:
        return (errors.ClientError,) if status < 500 else (errors.ServerError,)

    def check_error_shape(self, failure: Failure, status: int) -> None:
        assert failure.status == status
        body = failure.body
        assert isinstance(body, dict) and set(body) == {"error"}, body
        error = body["error"]
        assert error["code"] == status and error["message"], error
        assert error["status"] == _RPC_STATUS[status], error

    def check_in_band_error(self, raw: RawStream) -> None:
        assert raw.status == 200
        payloads = [orjson.loads(d) for _, d in raw.events]
        assert payloads, "empty stream"
        *chunks, last = payloads
        assert set(last) == {"error"}, last
        assert last["error"]["message"] and last["error"]["status"] and last["error"]["code"] >= 400, last
        assert chunks and all("candidates" in c for c in chunks), chunks
        assert not any(c["candidates"][0].get("finishReason") for c in chunks), "finishReason before the error"


def _fold_partial_args(args: dict[str, Any], pieces: list[types.PartialArg]) -> None:
    """Arguments streamed piecewise (Vertex ``streamFunctionCallArguments``), as a Gemini
    client reading a passed-through upstream stream assembles them: top-level keys only,
    string pieces appended in order."""
    for piece in pieces:
        key = (piece.json_path or "").removeprefix("$.")
        if piece.string_value is not None:
            args[key] = str(args.get(key, "")) + piece.string_value
        elif piece.number_value is not None:
            args[key] = piece.number_value
        elif piece.bool_value is not None:
            args[key] = piece.bool_value
