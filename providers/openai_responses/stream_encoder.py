"""Canonical stream events as the Responses API's typed SSE events.

Framing is ``event: <type>`` + ``data: <json>``, every event carrying a
``sequence_number`` that counts up from 0. The sequence follows the recorded API:
``response.created``, ``response.in_progress``, then per output item
``response.output_item.added`` -> content events -> ``response.output_item.done``, and
``response.completed`` (``response.incomplete`` for length / content filter / a refusal
without refusal text) with the
whole response and its usage.

Canonical parts may interleave; Responses output items may not. The first part to start
is streamed live; a part that starts while another is open is buffered (its text or
arguments accumulate) and emitted, as one delta, when every part before it is done.
Item ``output_index`` values are therefore the serialised order.

A call of a client's free-form (``custom``) tool streams as a ``custom_tool_call`` item:
its input is known only once the flat function's arguments are complete, so it arrives as
one ``response.custom_tool_call_input.delta`` before ``...input.done``. A call into a
namespace streams as a ``function_call`` carrying the ``namespace`` (``client_tools``).

After a mid-stream failure ``error(err)`` emits an ``error`` event and then
``response.failed``, as the real API does. The ``error`` event carries the fields both at
top level (the SDK's ``ResponseErrorEvent``) and nested under ``error`` (what the API
was recorded sending). Before ``StreamStart`` there is no response to fail, so only the
``error`` event is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from engine.canonical import (
    ChatRequest,
    PartStart,
    PartStop,
    Refusal,
    RefusalDelta,
    SignatureDelta,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
    TextPart,
    Thinking,
    ThinkingDelta,
    ToolArgsDelta,
    ToolCall,
)
from engine.errors import GatewayError
from engine.sse import frame
from providers.openai_responses.client_tools import custom_input, shapes
from providers.openai_responses.error_body import error_fields, failed_code
from providers.openai_responses.response_encoder import (
    ResponseHead,
    incomplete_reason,
    output_item,
    refusal_content,
    response_object,
    summary_content,
    text_content,
)
from providers.openai_responses.wire import JSONObject, response_id

OpenPart = TextPart | ToolCall | Thinking | Refusal


@dataclass(slots=True)
class _Part:
    part: OpenPart
    stopped: bool = False
    output_index: int = -1
    item_id: str = ""
    summary_open: bool = False


class ResponsesStreamEncoder:
    """One per streamed request: ``encode`` each canonical event, or ``error`` once."""

    def __init__(self, request: ChatRequest) -> None:
        self.request = request
        self._shapes = shapes(request.tools)
        self._seq = 0
        self._resp_id = ""
        self._model = ""
        self._created = 0
        self._started = False
        self._parts: dict[int, _Part] = {}  # canonical index -> state
        self._queue: list[int] = []  # started, not yet opened as an item
        self._active: int | None = None  # the part whose item is open
        self._output: list[JSONObject] = []  # finished items
        self._out: list[bytes] = []

    def encode(self, event: StreamEvent) -> bytes:
        if isinstance(event, StreamStart):
            self._start(event)
        elif isinstance(event, PartStart):
            self._parts[event.index] = _Part(_empty_copy(event.part))
            self._queue.append(event.index)
            self._feed(event.index, _content(event.part))
            self._advance()
        elif isinstance(event, (TextDelta, ThinkingDelta, RefusalDelta)):
            self._feed(event.index, event.text)
        elif isinstance(event, ToolArgsDelta):
            self._feed(event.index, event.fragment)
        elif isinstance(event, SignatureDelta):
            thinking = self._parts[event.index].part
            if isinstance(thinking, Thinking):
                thinking.signature = (thinking.signature or "") + event.signature
        elif isinstance(event, PartStop):
            self._parts[event.index].stopped = True
            if self._active == event.index:
                self._close(event.index)
                self._advance()
        else:
            self._end(event)
        return self._flush()

    def error(self, err: GatewayError) -> bytes:
        fields = error_fields(err)
        self._emit({"type": "error", **{k: fields[k] for k in ("code", "message", "param")}, "error": fields})
        if self._started:
            failed = {"code": failed_code(err), "message": err.message}
            self._emit({"type": "response.failed", "response": self._snapshot(failed=failed)})
        return self._flush()

    # ---- lifecycle -------------------------------------------------------------------

    def _start(self, event: StreamStart) -> None:
        self._resp_id = response_id(event.id)
        self._model, self._created, self._started = event.model, event.created, True
        self._emit({"type": "response.created", "response": self._snapshot()})
        self._emit({"type": "response.in_progress", "response": self._snapshot()})

    def _end(self, event: StreamEnd) -> None:
        if self._active is not None:
            self._close(self._active)
        for index in self._queue:
            self._open(index)
            self._close(index)
        self._queue.clear()
        incomplete = incomplete_reason(event.stop_reason, self._output) is not None
        kind = "response.incomplete" if incomplete else "response.completed"
        self._emit({"type": kind, "response": self._snapshot(end=event)})

    def _snapshot(self, end: StreamEnd | None = None, failed: JSONObject | None = None) -> JSONObject:
        return response_object(
            ResponseHead(self._resp_id, self._model, self._created),
            self.request,
            list(self._output),
            stop_reason=end.stop_reason if end else None,
            usage=end.usage if end else None,
            failed=failed,
        )

    # ---- parts -----------------------------------------------------------------------

    def _advance(self) -> None:
        while self._active is None and self._queue:
            index = self._queue.pop(0)
            self._open(index)
            if self._parts[index].stopped:
                self._close(index)
            else:
                self._active = index

    def _open(self, index: int) -> None:
        state = self._parts[index]
        part = state.part
        state.output_index = len(self._output)
        item = output_item(self._resp_id, state.output_index, part, "in_progress", self._shapes)
        state.item_id = str(item["id"])
        self._emit({"type": "response.output_item.added", "output_index": state.output_index, "item": item})
        if isinstance(part, TextPart):
            self._content_event("response.content_part.added", state, part=text_content(""))
        elif isinstance(part, Refusal):
            self._content_event("response.content_part.added", state, part=refusal_content(""))
        self._delta(state, _content(part))

    def _feed(self, index: int, text: str) -> None:
        if not text:
            return
        state = self._parts[index]
        part = state.part
        if isinstance(part, ToolCall):
            part.arguments += text
        else:
            part.text += text
        if self._active == index:
            self._delta(state, text)

    def _delta(self, state: _Part, text: str) -> None:
        if not text:
            return
        part = state.part
        if isinstance(part, TextPart):
            self._content_event("response.output_text.delta", state, delta=text, logprobs=[])
        elif isinstance(part, Refusal):
            self._content_event("response.refusal.delta", state, delta=text)
        elif isinstance(part, ToolCall):
            if not self._freeform(part):  # a free-form input is sent whole when complete
                self._item_event("response.function_call_arguments.delta", state, delta=text)
        else:
            if not state.summary_open:
                state.summary_open = True
                self._item_event(
                    "response.reasoning_summary_part.added", state, summary_index=0, part=summary_content("")
                )
            self._item_event("response.reasoning_summary_text.delta", state, summary_index=0, delta=text)

    def _close(self, index: int) -> None:
        state = self._parts[index]
        part = state.part
        if isinstance(part, TextPart):
            self._content_event("response.output_text.done", state, text=part.text, logprobs=[])
            self._content_event("response.content_part.done", state, part=text_content(part.text))
        elif isinstance(part, Refusal):
            self._content_event("response.refusal.done", state, refusal=part.text)
            self._content_event("response.content_part.done", state, part=refusal_content(part.text))
        elif isinstance(part, ToolCall) and self._freeform(part):
            text = custom_input(part.arguments)
            if text:
                self._item_event("response.custom_tool_call_input.delta", state, delta=text)
            self._item_event("response.custom_tool_call_input.done", state, input=text)
        elif isinstance(part, ToolCall):
            self._item_event("response.function_call_arguments.done", state, arguments=part.arguments)
        elif state.summary_open:
            self._item_event("response.reasoning_summary_text.done", state, summary_index=0, text=part.text)
            self._item_event(
                "response.reasoning_summary_part.done", state, summary_index=0, part=summary_content(part.text)
            )
        item = output_item(self._resp_id, state.output_index, part, "completed", self._shapes)
        self._output.append(item)
        self._emit({"type": "response.output_item.done", "output_index": state.output_index, "item": item})
        if self._active == index:
            self._active = None

    def _freeform(self, call: ToolCall) -> bool:
        shape = self._shapes.get(call.name)
        return shape is not None and shape.freeform

    # ---- framing ---------------------------------------------------------------------

    def _item_event(self, kind: str, state: _Part, **fields: object) -> None:
        self._emit({"type": kind, "item_id": state.item_id, "output_index": state.output_index, **fields})

    def _content_event(self, kind: str, state: _Part, **fields: object) -> None:
        self._item_event(kind, state, content_index=0, **fields)

    def _emit(self, event: JSONObject) -> None:
        event["sequence_number"] = self._seq
        self._seq += 1
        self._out.append(frame(orjson.dumps(event), event=str(event["type"])))

    def _flush(self) -> bytes:
        data = b"".join(self._out)
        self._out.clear()
        return data


def _empty_copy(part: OpenPart) -> OpenPart:
    if isinstance(part, ToolCall):
        return ToolCall(id=part.id, name=part.name, arguments="")
    if isinstance(part, Thinking):
        return Thinking(text="", signature=part.signature, redacted=part.redacted, origin=part.origin)
    if isinstance(part, Refusal):
        return Refusal("")
    return TextPart("")


def _content(part: OpenPart) -> str:
    return part.arguments if isinstance(part, ToolCall) else part.text
