"""The Gemini upstream fake: recorded ``GenerateContentResponse`` bodies and SSE streams
(gemini-3-pro-preview; Vertex gemini-3.1-pro-preview for streamed arguments), and a reader
for ``:generateContent`` / ``:streamGenerateContent`` requests."""

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
)
from tests.support.fake_upstream import Received
from tests.support.replies import Cut, Json, Stream

V = "gemini"

WEATHER = ToolSpec(
    "weather",
    "Get the weather in a location",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)
GET_WEATHER = ToolSpec(
    "getWeather",
    "Get the weather in a location",
    {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]},
)
# google-stream-tool-call-arguments.chunks.txt streams these two calls' arguments piecewise
# (``partialArgs`` with ``jsonPath``); what they add up to:
STREAMED_CALLS = (Call("getWeather", {"location": "Boston"}), Call("getWeather", {"location": "San Francisco"}))


def usage_of(meta: dict[str, Any]) -> Usage:
    thoughts = meta.get("thoughtsTokenCount", 0)
    return Usage(
        input_tokens=meta["promptTokenCount"] + meta.get("toolUsePromptTokenCount", 0),
        output_tokens=meta.get("candidatesTokenCount", 0) + thoughts,
        cached_input_tokens=meta.get("cachedContentTokenCount", 0),
        reasoning_tokens=thoughts,
    )


def _fold(chunks: list[dict[str, Any]], stop: StopReason) -> Expected:
    text = ""
    calls: list[Call] = []
    usage = Usage()
    for chunk in chunks:
        meta = chunk.get("usageMetadata") or {}
        if "promptTokenCount" in meta:
            usage = usage_of(meta)
        for part in chunk["candidates"][0]["content"]["parts"]:
            if "text" in part and not part.get("thought"):
                text += part["text"]
            elif "functionCall" in part and "args" in part["functionCall"]:
                calls.append(Call(part["functionCall"]["name"], part["functionCall"]["args"]))
    return Expected(text, tuple(calls), stop, usage)


class GeminiVendor(RecordedVendor):
    name = V
    format = "gemini"
    upstream_model = "gemini-3-pro-preview"
    prefix = "/v1beta"
    tools: tuple[ToolSpec, ...] = (WEATHER, GET_WEATHER)

    def _json(self, name: str, stop: StopReason) -> Scripted:
        body = transcripts.load_json(V, name)
        return Scripted(Json(200, body), _fold([body], stop))

    def _chunks(self, name: str, stop: StopReason) -> Scripted:
        chunks = transcripts.payloads(V, name)
        return Scripted(Stream(transcripts.data_frames(chunks, crlf=True)), _fold(chunks, stop))

    def parallel_tool_calls(self, *, stream: bool) -> Scripted:
        if stream:
            return self.streamed_tool_args()
        return self._json("parallel-tool-calls.json", "tool_use")

    def streamed_tool_args(self) -> Scripted:
        chunks = transcripts.payloads(V, "stream-tool-call-arguments.chunks.txt")
        folded = _fold(chunks, "tool_use")
        expected = Expected(folded.text, STREAMED_CALLS, folded.stop, folded.usage)
        return Scripted(Stream(transcripts.data_frames(chunks, crlf=True)), expected)

    def midstream_error(self) -> MidStream:
        chunks = transcripts.payloads(V, "text.chunks.txt")[:2]
        text = "".join(p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"])
        return MidStream(Cut(transcripts.data_frames(chunks, crlf=True), delay_s=0.05), text)

    def read_request(self, received: Received) -> SeenRequest:
        """Either spelling of a field, as the Gemini API accepts (the SDK sends some in
        snake_case, and a passed-through body keeps the client's spelling)."""
        body = received.json
        users: list[str] = []
        images: list[SeenImage] = []
        calls: list[SeenCall] = []
        results: list[SeenResult] = []
        for content in body["contents"]:
            parts = content["parts"]
            if content.get("role", "user") == "user":
                texts = [p["text"] for p in parts if "text" in p]
                if texts:
                    users.append("".join(texts))
            for part in parts:
                blob = part.get("inlineData", part.get("inline_data"))
                if blob is not None:
                    images.append(SeenImage(blob.get("mimeType", blob.get("mime_type")), blob["data"]))
                elif "functionCall" in part or "function_call" in part:
                    call = part.get("functionCall", part.get("function_call"))
                    calls.append(SeenCall(call.get("id"), call["name"], call.get("args", {})))
                elif "functionResponse" in part or "function_response" in part:
                    response = part.get("functionResponse", part.get("function_response"))
                    results.append(
                        SeenResult(response.get("id"), response["name"], _response_text(response["response"]))
                    )
        instruction = body.get("systemInstruction", body.get("system_instruction"))
        generation = body.get("generationConfig", body.get("generation_config")) or {}
        system = None if instruction is None else "".join(p.get("text", "") for p in instruction["parts"])
        names = [
            d["name"]
            for t in body.get("tools") or []
            for d in t.get("functionDeclarations", t.get("function_declarations", []))
        ]
        tool_config = body.get("toolConfig", body.get("tool_config")) or {}
        calling = tool_config.get("functionCallingConfig", tool_config.get("function_calling_config")) or {}
        validated = calling.get("mode") == "VALIDATED"
        return SeenRequest(
            system=system,
            user_texts=users,
            images=images,
            tool_names=names,
            tool_strict=[validated] * len(names),
            calls=calls,
            results=results,
            max_tokens=generation.get("maxOutputTokens", generation.get("max_output_tokens")),
            stream=received.path.endswith(":streamGenerateContent"),
            stop=list(generation.get("stopSequences", generation.get("stop_sequences")) or []),
        )


def _response_text(response: Any) -> str:
    """A ``functionResponse.response`` holding one string (as translated tool results
    do) reads as that string; anything else as its JSON."""
    if isinstance(response, dict) and len(response) == 1:
        (value,) = response.values()
        if isinstance(value, str):
            return value
    return orjson.dumps(response).decode()
