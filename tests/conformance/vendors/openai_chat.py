"""The OpenAI Chat Completions upstream fake: recorded ``chat.completion`` bodies and chunk
streams (gpt-4o 2024, gpt-4.1-nano 2026), and a reader for ``/chat/completions`` requests."""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import StopReason, Usage
from tests.conformance import transcripts
from tests.conformance.vendors.base import (
    Call,
    Expected,
    MidStream,
    RecordedVendor,
    Scripted,
    SeenCall,
    SeenImage,
    SeenRequest,
    SeenResult,
    ToolSpec,
    data_url_image,
    text_of,
)
from tests.support.fake_upstream import Received
from tests.support.replies import Cut, Json, Stream

V = "openai"

WEATHER = ToolSpec(
    "GetWeatherArgs",
    "Current weather in a city.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "units": {"type": "string"}},
        "required": ["city", "country", "units"],
    },
)


def usage_of(raw: dict[str, Any]) -> Usage:
    prompt = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return Usage(
        input_tokens=raw["prompt_tokens"],
        output_tokens=raw["completion_tokens"],
        cached_input_tokens=prompt.get("cached_tokens", 0),
        reasoning_tokens=completion.get("reasoning_tokens", 0),
    )


def expect_body(body: dict[str, Any], stop: StopReason) -> Expected:
    message = body["choices"][0]["message"]
    calls = tuple(
        Call(c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in message.get("tool_calls") or []
    )
    return Expected(message.get("content") or "", calls, stop, usage_of(body["usage"]))


def expect_chunks(chunks: list[dict[str, Any]], stop: StopReason) -> Expected:
    text = ""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    usage = Usage()
    for chunk in chunks:
        if chunk.get("usage"):
            usage = usage_of(chunk["usage"])
        for choice in chunk["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                function = call.get("function") or {}
                if "name" in function:
                    names[call["index"]] = function["name"]
                args[call["index"]] = args.get(call["index"], "") + function.get("arguments", "")
    calls = tuple(Call(names[i], orjson.loads(args[i])) for i in sorted(names))
    return Expected(text, calls, stop, usage)


class OpenAIChatVendor(RecordedVendor):
    name = V
    format = "openai"
    upstream_model = "gpt-4o-2024-08-06"
    prefix = "/v1"
    tools: tuple[ToolSpec, ...] = (WEATHER,)

    def _json(self, name: str, stop: StopReason) -> Scripted:
        body = transcripts.load_json(V, name)
        return Scripted(Json(200, body), expect_body(body, stop))

    def _sse(self, name: str, stop: StopReason) -> Scripted:
        return Scripted(Stream(transcripts.sse_frames(V, name)), expect_chunks(transcripts.sse_payloads(V, name), stop))

    def _chunks(self, name: str, stop: StopReason) -> Scripted:
        chunks = transcripts.payloads(V, name)
        return Scripted(Stream(transcripts.data_frames(chunks, done=True)), expect_chunks(chunks, stop))

    def length(self, *, stream: bool) -> Scripted:
        return self._sse("length.sse", "length") if stream else self._json("length.json", "length")

    def midstream_error(self) -> MidStream:
        chunks = transcripts.payloads(V, "text.chunks.txt")[:6]  # role chunk + five text pieces
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
        return MidStream(Cut(transcripts.data_frames(chunks), delay_s=0.05), text)

    def read_request(self, received: Received) -> SeenRequest:
        body = received.json
        system: list[str] = []
        users: list[str] = []
        images: list[SeenImage] = []
        calls: list[SeenCall] = []
        results: list[SeenResult] = []
        for message in body["messages"]:
            role, content = message["role"], message.get("content")
            if role in ("system", "developer"):
                system.append(text_of(content))
            elif role == "user":
                users.append(text_of(content))
                for part in content if isinstance(content, list) else []:
                    if part.get("type") == "image_url":
                        images.append(data_url_image(part["image_url"]["url"]))
            elif role == "assistant":
                for call in message.get("tool_calls") or []:
                    function = call["function"]
                    calls.append(SeenCall(call["id"], function["name"], orjson.loads(function["arguments"])))
            elif role == "tool":
                results.append(SeenResult(message["tool_call_id"], None, text_of(content)))
        return SeenRequest(
            system="\n".join(system) if system else None,
            user_texts=users,
            images=images,
            tool_names=[t["function"]["name"] for t in body.get("tools") or []],
            tool_strict=[t["function"].get("strict") is True for t in body.get("tools") or []],
            calls=calls,
            results=results,
            max_tokens=body.get("max_completion_tokens", body.get("max_tokens")),
            stream=body.get("stream") is True,
            stop=_as_list(body.get("stop")),
        )


def _as_list(stop: Any) -> list[str]:
    """``stop`` may be one string or a list."""
    if stop is None:
        return []
    return [stop] if isinstance(stop, str) else list(stop)
