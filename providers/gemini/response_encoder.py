"""A canonical ``ChatResponse`` -> Gemini ``GenerateContentResponse`` JSON, for clients.

One candidate (``index`` 0, role ``model``), parts per ``part_encoder`` (response
side: call ids turned back into ``functionCall.id`` / ``thoughtSignature``, remote
images as ``fileData``), ``finishReason`` per ``wire.FINISH_FOR_STOP``, usage per
``usage.to_wire``, ``modelVersion`` = the response's model, ``responseId`` = its id. A
response without parts (a content-filter stop) has no ``content``, as on Gemini.

A tool call the output cap cut short (stop reason ``length``, arguments ending mid-JSON)
is left out and the answer ends with ``MAX_TOKENS``: Gemini sends a function call whole
or not at all, and a Gemini client (automatic function calling) would run a half-written
call. Arguments that are not an object in any other answer are a 502 naming the call.
"""

from __future__ import annotations

from typing import Any

from engine.canonical import ChatResponse, ToolCall
from providers.gemini import usage
from providers.gemini.part_encoder import arguments_object, encode_parts
from providers.gemini.wire import FINISH_FOR_STOP


def encode_response(response: ChatResponse) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    kept = response.parts
    if response.stop_reason == "length":  # a call the cap cut short is not a call
        kept = [p for p in kept if not isinstance(p, ToolCall) or arguments_object(p) is not None]
    parts = encode_parts(kept, "response")
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    candidate["finishReason"] = FINISH_FOR_STOP[response.stop_reason]
    candidate["index"] = 0
    return {
        "candidates": [candidate],
        "usageMetadata": usage.to_wire(response.usage),
        "modelVersion": response.model,
        "responseId": response.id,
    }
