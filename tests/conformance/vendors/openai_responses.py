"""The OpenAI Responses upstream fake: recorded ``Response`` objects and event streams
(gpt-5.1-codex-max, 2026), and a reader for ``/responses`` requests."""

from __future__ import annotations

from typing import Any

import orjson

from engine.canonical import StopReason, Usage
from tests.conformance import transcripts
from tests.conformance.vendors.base import (
    Call,
    ErrorReply,
    Expected,
    MidStream,
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
from tests.support.replies import Json, Status, Stream

V = "openai-responses"

CALCULATOR = ToolSpec(
    "calculator",
    "A minimal calculator for basic arithmetic. Call it once per step.",
    {
        "type": "object",
        "properties": {
            "a": {"type": "number", "description": "First operand."},
            "b": {"type": "number", "description": "Second operand."},
            "op": {"type": "string", "enum": ["add", "subtract", "multiply", "divide"]},
        },
        "required": ["a", "b", "op"],
    },
)


def usage_of(raw: dict[str, Any]) -> Usage:
    return Usage(
        input_tokens=raw["input_tokens"],
        output_tokens=raw["output_tokens"],
        cached_input_tokens=(raw.get("input_tokens_details") or {}).get("cached_tokens", 0),
        reasoning_tokens=(raw.get("output_tokens_details") or {}).get("reasoning_tokens", 0),
    )


def expect_body(body: dict[str, Any], stop: StopReason) -> Expected:
    text = ""
    calls: list[Call] = []
    for item in body["output"]:
        if item["type"] == "message":
            text += "".join(c["text"] for c in item["content"] if c["type"] == "output_text")
        elif item["type"] == "function_call":
            calls.append(Call(item["name"], orjson.loads(item["arguments"])))
    return Expected(text, tuple(calls), stop, usage_of(body["usage"]))


def expect_events(events: list[dict[str, Any]], stop: StopReason) -> Expected:
    text = ""
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    usage = Usage()
    for event in events:
        kind = event["type"]
        if kind == "response.output_text.delta":
            text += event["delta"]
        elif kind == "response.output_item.added" and event["item"]["type"] == "function_call":
            names[event["output_index"]] = event["item"]["name"]
        elif kind == "response.function_call_arguments.delta":
            args[event["output_index"]] = args.get(event["output_index"], "") + event["delta"]
        elif kind in ("response.completed", "response.incomplete"):
            usage = usage_of(event["response"]["usage"])
    calls = tuple(Call(names[i], orjson.loads(args[i])) for i in sorted(names))
    return Expected(text, calls, stop, usage)


class OpenAIResponsesVendor:
    format = "openai-responses"
    upstream_model = "gpt-5.1-codex-max"
    prefix = "/v1"
    tools: tuple[ToolSpec, ...] = (CALCULATOR,)

    def _pick(self, name: str, stop: StopReason, *, stream: bool) -> Scripted:
        if stream:
            events = transcripts.payloads(V, f"{name}.events.txt")
            return Scripted(Stream(transcripts.event_frames(events)), expect_events(events, stop))
        body = transcripts.load_json(V, f"{name}.json")
        return Scripted(Json(200, body), expect_body(body, stop))

    def text(self, *, stream: bool) -> Scripted:
        return self._pick("text", "end", stream=stream)

    def usage(self, *, stream: bool) -> Scripted:
        # text.json is the recorded stream's own response.completed object: same usage
        return self._pick("text", "end", stream=stream)

    def tool_call(self) -> Scripted:
        return self._pick("tool-call", "tool_use", stream=False)

    def parallel_tool_calls(self, *, stream: bool) -> Scripted:
        return self._pick("parallel-tool-calls", "tool_use", stream=stream)

    def streamed_tool_args(self) -> Scripted:
        return self._pick("tool-call", "tool_use", stream=True)

    def length(self, *, stream: bool) -> Scripted:
        return self._pick("length", "length", stream=stream)

    def error_400(self) -> ErrorReply:
        body = transcripts.load_json(V, "error-400.json")
        return ErrorReply(Status(400, body), body["error"]["message"])

    def error_429(self) -> ErrorReply:
        body = transcripts.load_json(V, "error-429.json")
        return ErrorReply(Status(429, body), body["error"]["message"])

    def midstream_error(self) -> MidStream:
        events = transcripts.payloads(V, "midstream-error.events.txt")
        text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
        return MidStream(Stream(transcripts.event_frames(events), delay_s=0.02), text)

    def read_request(self, received: Received) -> SeenRequest:
        body = received.json
        users: list[str] = []
        images: list[SeenImage] = []
        calls: list[SeenCall] = []
        results: list[SeenResult] = []
        role_system: list[str] = []
        items = body["input"] if isinstance(body["input"], list) else [{"role": "user", "content": body["input"]}]
        for item in items:
            kind = item.get("type", "message")
            if kind == "message" and item["role"] in ("system", "developer"):
                role_system.append(text_of(item["content"]))
            elif kind == "message" and item["role"] == "user":
                content = item["content"]
                users.append(text_of(content))
                for part in content if isinstance(content, list) else []:
                    if part.get("type") == "input_image":
                        images.append(data_url_image(part["image_url"]))
            elif kind == "function_call":
                calls.append(SeenCall(item["call_id"], item["name"], orjson.loads(item["arguments"])))
            elif kind == "function_call_output":
                results.append(SeenResult(item["call_id"], None, text_of(item["output"])))
        return SeenRequest(
            system=body.get("instructions"),
            user_texts=users,
            images=images,
            tool_names=[t["name"] for t in body.get("tools") or []],
            tool_strict=[t.get("strict", True) is not False for t in body.get("tools") or []],  # strict unless told
            calls=calls,
            results=results,
            max_tokens=body.get("max_output_tokens"),
            stream=body.get("stream") is True,
            stop=[],  # the Responses API has no stop sequences
            extra={"system_messages": role_system},
        )
