"""A canonical ``ChatResponse`` -> Gemini ``GenerateContentResponse`` JSON, for clients.

One candidate (``index`` 0, role ``model``), parts per ``part_encoder`` (response
side: call ids turned back into ``functionCall.id`` / ``thoughtSignature``, remote
images as ``fileData``), ``finishReason`` per ``wire.FINISH_FOR_STOP``, usage per
``usage.to_wire``, ``modelVersion`` = the response's model, ``responseId`` = its id. A
response without parts (a content-filter stop) has no ``content``, as on Gemini.
"""

from __future__ import annotations

from typing import Any

from engine.canonical import ChatResponse
from providers.gemini import usage
from providers.gemini.part_encoder import encode_parts
from providers.gemini.wire import FINISH_FOR_STOP


def encode_response(response: ChatResponse) -> dict[str, Any]:
    candidate: dict[str, Any] = {}
    parts = encode_parts(response.parts, "response")
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
