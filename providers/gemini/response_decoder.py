"""An upstream's ``GenerateContentResponse`` JSON -> canonical ``ChatResponse``.

Only ``candidates[0]`` is read: the adapter never asks for more (see
``request_encoder``), so another candidate means a broken upstream and fails loudly.
Parts per ``part_decoder`` (call ids scoped by ``responseId``), the stop reason per
``wire.stop_reason``, usage per ``usage``. A prompt blocked before generation
(``promptFeedback.blockReason``, no candidates) is an empty ``content_filter`` response.
``created`` is the Vertex ``createTime`` when present, else the clock passed in.
Response metadata with no canonical home (safety ratings, citations, grounding
metadata, log-probabilities) is not carried.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine.canonical import ChatResponse, Part, StopReason, ToolCall, Usage
from providers.gemini import call_ids, usage
from providers.gemini.fields import JsonObject, bad_upstream
from providers.gemini.part_decoder import CallLedger, decode_content_parts
from providers.gemini.wire import stop_reason


def created_at(resp: JsonObject, clock: Callable[[], float]) -> int:
    stamp = resp.string("createTime")
    if stamp:
        try:
            return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    return int(clock())


def candidate_zero(resp: JsonObject) -> JsonObject | None:
    candidates = resp.objects("candidates")
    for cand in candidates:
        index = cand.integer("index") or 0
        if index != 0:
            raise cand.error("index", "only one candidate was requested")
    return candidates[0] if candidates else None


def decode_response(body: Any, *, model: str, clock: Callable[[], float], new_id: Callable[[], str]) -> ChatResponse:
    resp = JsonObject.of(body, "", bad_upstream)
    response_id = resp.string("responseId") or new_id()
    cand = candidate_zero(resp)
    parts: list[Part] = []
    reason: StopReason
    if cand is None:
        feedback = resp.obj("promptFeedback")
        block = feedback.string("blockReason") if feedback is not None else None
        if not block:
            raise bad_upstream("candidates", "no candidate and no promptFeedback.blockReason")
        reason = "content_filter"
    else:
        content = cand.obj("content")
        if content is not None:
            parts = decode_content_parts(content, CallLedger(call_ids.scope_of(response_id)), requests=False)
        finish = cand.string("finishReason")
        if not finish:
            raise cand.error("finishReason", "missing in a complete response")
        reason = stop_reason(
            finish,
            has_tool_calls=any(isinstance(p, ToolCall) for p in parts),
            message=cand.string("finishMessage"),
        )
    meta = resp.obj("usageMetadata")
    return ChatResponse(
        id=response_id,
        model=resp.string("modelVersion") or model,
        parts=parts,
        stop_reason=reason,
        usage=usage.from_wire(meta) if meta is not None else Usage(),
        created=created_at(resp, clock),
    )
