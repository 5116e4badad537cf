"""The Anthropic Messages upstream fake: recorded ``message`` bodies and event streams
(claude-sonnet-4 / 4.5, claude-haiku-4.5), and a reader for ``/messages`` requests."""

from __future__ import annotations

from dataclasses import dataclass
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
    text_of,
)
from tests.support.fake_upstream import Received
from tests.support.replies import Json, Reply, Stream

V = "anthropic"

GET_WEATHER = ToolSpec(
    "get_weather",
    "Get the current weather in a given location",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)
JSON_TOOL = ToolSpec(
    "json",
    "Respond with a JSON object.",
    {
        "type": "object",
        "properties": {"elements": {"type": "array", "items": {"type": "object"}}},
        "required": ["elements"],
    },
)


def usage_of(raw: dict[str, Any]) -> Usage:
    cache_read = raw.get("cache_read_input_tokens") or 0
    cache_write = raw.get("cache_creation_input_tokens") or 0
    return Usage(
        input_tokens=raw["input_tokens"] + cache_read + cache_write,
        output_tokens=raw["output_tokens"],
        cached_input_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def expect_body(body: dict[str, Any], stop: StopReason) -> Expected:
    text = "".join(b["text"] for b in body["content"] if b["type"] == "text")
    calls = tuple(Call(b["name"], b["input"]) for b in body["content"] if b["type"] == "tool_use")
    return Expected(text, calls, stop, usage_of(body["usage"]))


def expect_events(events: list[dict[str, Any]], stop: StopReason) -> Expected:
    text = ""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    usage: dict[str, Any] = {}
    for event in events:
        kind = event["type"]
        if kind == "message_start":
            usage = dict(event["message"]["usage"])
        elif kind == "message_delta":
            usage.update({k: v for k, v in event["usage"].items() if v is not None})
        elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            names[event["index"]] = event["content_block"]["name"]
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            elif delta["type"] == "input_json_delta":
                args[event["index"]] = args.get(event["index"], "") + delta["partial_json"]
    calls = tuple(Call(names[i], orjson.loads(args[i])) for i in sorted(names))
    return Expected(text, calls, stop, usage_of(usage))


@dataclass(frozen=True, slots=True)
class CutCall:
    """A reply whose last tool call the output cap cut (``stop_reason: max_tokens``)."""

    reply: Reply
    text: str  # the text before the call
    name: str  # the cut call's tool
    arguments: str  # the argument JSON the call got to: cut mid-JSON in a stream
    usage: Usage


class AnthropicVendor(RecordedVendor):
    name = V
    format = "anthropic"
    upstream_model = "claude-sonnet-4-5-20250929"
    prefix = "/v1"
    tools: tuple[ToolSpec, ...] = (GET_WEATHER, JSON_TOOL)

    def _json(self, name: str, stop: StopReason) -> Scripted:
        body = transcripts.load_json(V, name)
        return Scripted(Json(200, body), expect_body(body, stop))

    def _sse(self, name: str, stop: StopReason) -> Scripted:
        return Scripted(Stream(transcripts.sse_frames(V, name)), expect_events(transcripts.sse_payloads(V, name), stop))

    def _chunks(self, name: str, stop: StopReason) -> Scripted:
        events = transcripts.payloads(V, name)
        return Scripted(Stream(transcripts.event_frames(events)), expect_events(events, stop))

    def _error_headers(self, body: dict[str, Any]) -> dict[str, str]:
        return {"request-id": body["request_id"]}

    def refusal(self, *, stream: bool) -> Scripted:
        """The classifier stopped the answer: ``stop_reason: refusal``, no content."""
        return self._chunks("refusal.chunks.txt", "refusal") if stream else self._json("refusal.json", "refusal")

    def cut_tool_call(self, *, stream: bool) -> CutCall:
        """Text, then a tool call the output cap cut: mid-JSON in the (recorded) stream."""
        if not stream:
            body = transcripts.load_json(V, "tool-call-cut.json")
            [use] = [b for b in body["content"] if b["type"] == "tool_use"]
            expected = expect_body(body, "length")
            return CutCall(
                Json(200, body), expected.text, use["name"], orjson.dumps(use["input"]).decode(), expected.usage
            )
        events = transcripts.sse_payloads(V, "tool-call-cut.sse")
        text, name, arguments, usage = "", "", "", {}
        for event in events:
            if event["type"] == "message_start":
                usage = dict(event["message"]["usage"])
            elif event["type"] == "message_delta":
                usage.update({k: v for k, v in event["usage"].items() if v is not None})
            elif event["type"] == "content_block_start" and event["content_block"]["type"] == "tool_use":
                name = event["content_block"]["name"]
            elif event["type"] == "content_block_delta":
                delta = event["delta"]
                text += delta.get("text", "")
                arguments += delta.get("partial_json", "")
        return CutCall(Stream(transcripts.sse_frames(V, "tool-call-cut.sse")), text, name, arguments, usage_of(usage))

    def midstream_error(self) -> MidStream:
        events = transcripts.payloads(V, "midstream-error.chunks.txt")
        text = "".join(
            e["delta"]["text"]
            for e in events
            if e["type"] == "content_block_delta" and e["delta"]["type"] == "text_delta"
        )
        return MidStream(Stream(transcripts.event_frames(events), delay_s=0.02), text)

    def read_request(self, received: Received) -> SeenRequest:
        body = received.json
        users: list[str] = []
        images: list[SeenImage] = []
        calls: list[SeenCall] = []
        results: list[SeenResult] = []
        for message in body["messages"]:
            content = message["content"]
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else content
            if message["role"] == "user":
                users.append("".join(b["text"] for b in blocks if b["type"] == "text"))
            for block in blocks:
                if block["type"] == "image":
                    source = block["source"]
                    assert source["type"] == "base64", source
                    images.append(SeenImage(source["media_type"], source["data"]))
                elif block["type"] == "tool_use":
                    calls.append(SeenCall(block["id"], block["name"], block["input"]))
                elif block["type"] == "tool_result":
                    results.append(SeenResult(block["tool_use_id"], None, text_of(block.get("content", ""))))
        system = body.get("system")
        return SeenRequest(
            system=None if system is None else text_of(system),
            user_texts=users,
            images=images,
            tool_names=[t["name"] for t in body.get("tools") or []],
            tool_strict=[t.get("strict") is True for t in body.get("tools") or []],
            calls=calls,
            results=results,
            max_tokens=body.get("max_tokens"),
            stream=body.get("stream") is True,
            stop=list(body.get("stop_sequences") or []),
        )
