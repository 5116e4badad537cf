"""Mid-stream resume: what a cut stream already showed the client, and how another model
continues it. Pure.

A ``Transcript`` records, in canonical terms, what a stream relayed to the client so far
(kept only when a later candidate could resume it). When the stream is cut, stalls or ends
with an upstream in-band error, ``continuation_request`` re-sends the conversation with the
partial answer as a trailing assistant message (a *prefill*, for a model that declares the
``prefill`` capability), and a ``Continuation`` maps that model's stream onto the client's:
no second start, the first text continues the open text part, later parts take the next
free indexes, and the final usage covers both attempts.

Never resumed: a stream that emitted a tool call (a partial call cannot be prefilled), and
a request that only its own format can carry (nothing canonical to re-send).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from engine.canonical import (
    ChatRequest,
    Message,
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
    Usage,
)
from engine.routing.facts import CHARS_PER_TOKEN  # the estimate routing uses


@dataclass(slots=True)
class _Part:
    kind: str  # "text", "thinking", "refusal", "tool"
    text: str = ""
    open: bool = True


@dataclass(slots=True)
class Transcript:
    """The canonical view of what one client stream has shown so far."""

    start: StreamStart | None = None
    parts: dict[int, _Part] = field(default_factory=dict)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta | ThinkingDelta | RefusalDelta):
            part = self.parts.get(event.index)
            if part is not None:
                part.text += event.text  # in place: one growing string, no per-delta object kept
        elif isinstance(event, PartStart):
            kind = _KIND.get(type(event.part), "text")
            self.parts[event.index] = _Part(kind, getattr(event.part, "text", "") if kind != "tool" else "")
        elif isinstance(event, PartStop):
            part = self.parts.get(event.index)
            if part is not None:
                part.open = False
        elif isinstance(event, StreamStart):
            self.start = event

    @property
    def has_tool_call(self) -> bool:
        return any(part.kind == "tool" for part in self.parts.values())

    @property
    def text(self) -> str:
        """The answer text so far (what a prefill continues)."""
        return "".join(part.text for part in self.parts.values() if part.kind == "text")

    @property
    def output_chars(self) -> int:
        return sum(len(part.text) for part in self.parts.values())

    def replay(self) -> list[StreamEvent]:
        """Events that rebuild this view in a fresh client encoder (to continue a stream
        that was relayed as it came, without canonical events)."""
        events: list[StreamEvent] = [self.start] if self.start is not None else []
        for index, part in self.parts.items():
            if part.kind == "thinking":
                events += [PartStart(index, Thinking("")), ThinkingDelta(index, part.text)]
            elif part.kind == "refusal":
                events += [PartStart(index, Refusal("")), RefusalDelta(index, part.text)]
            else:
                events += [PartStart(index, TextPart("")), TextDelta(index, part.text)]
            if not part.open:
                events.append(PartStop(index))
        return events


_KIND: dict[type, str] = {TextPart: "text", Thinking: "thinking", ToolCall: "tool", Refusal: "refusal"}


def why_not_resumable(transcript: Transcript | None) -> str | None:
    """None when the stream can be continued elsewhere, else the reason it cannot."""
    if transcript is None:
        return "no canonical record of the stream was kept"
    if transcript.has_tool_call:
        return "the stream had started a tool call"
    return None


def continuation_request(request: ChatRequest, transcript: Transcript) -> tuple[ChatRequest, str]:
    """The conversation again, with the partial answer as a trailing assistant message, and
    the whitespace stripped off its end (Anthropic refuses a prefill ending in whitespace;
    the continuation usually starts with it again). The output cap shrinks by what was
    already produced."""
    text = transcript.text
    prefill = text.rstrip()
    messages = list(request.messages)
    if prefill:
        messages.append(Message("assistant", [TextPart(prefill)]))
    max_tokens = request.max_tokens
    if max_tokens is not None:
        max_tokens = max(1, max_tokens - transcript.output_chars // CHARS_PER_TOKEN)
    return replace(request, messages=messages, max_tokens=max_tokens, stream=True), text[len(prefill) :]


def estimated_usage(reported: Usage | None, prompt_tokens: int, output_chars: int) -> Usage:
    """What an attempt consumed when its upstream did not report it all: the reported input
    (else the prompt estimate) and the larger of the reported output and what was relayed."""
    relayed = -(-output_chars // CHARS_PER_TOKEN)
    if reported is None:
        return Usage(input_tokens=prompt_tokens, output_tokens=relayed)
    return replace(
        reported,
        input_tokens=reported.input_tokens or prompt_tokens,
        output_tokens=max(reported.output_tokens, relayed),
    )


def add_usage(a: Usage, b: Usage) -> Usage:
    return Usage(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cached_input_tokens=a.cached_input_tokens + b.cached_input_tokens,
        cache_write_tokens=a.cache_write_tokens + b.cache_write_tokens,
        reasoning_tokens=a.reasoning_tokens + b.reasoning_tokens,
    )


class Continuation:
    """Maps a continuing model's canonical stream onto the client's stream (per resume)."""

    def __init__(self, transcript: Transcript, stripped: str, usage_before: Usage) -> None:
        self._usage_before = usage_before
        self._stripped = stripped  # whitespace cut off the prefill: dropped once from the continuation
        open_text = [i for i, part in transcript.parts.items() if part.kind == "text" and part.open]
        self._open_text = open_text[-1] if open_text else None
        self._next = max(transcript.parts, default=-1) + 1
        self._map: dict[int, int] = {}

    def map(self, events: list[StreamEvent]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for event in events:
            if isinstance(event, StreamStart):
                continue  # the client's stream has started already
            if isinstance(event, StreamEnd):
                out.append(replace(event, usage=add_usage(self._usage_before, event.usage)))
                continue
            if isinstance(event, PartStart):
                if isinstance(event.part, TextPart) and self._open_text is not None and not self._map:
                    self._map[event.index] = self._open_text  # continue the text the client is reading
                    continue
                self._map[event.index] = self._next
                self._next += 1
                out.append(replace(event, index=self._map[event.index]))
                continue
            index = self._map.get(event.index)
            if index is None:  # a delta without its start: a broken upstream; keep the client's stream sane
                continue
            if isinstance(event, TextDelta) and self._stripped and index == self._open_text:
                text = event.text
                if text.startswith(self._stripped):
                    text = text[len(self._stripped) :]
                self._stripped = ""
                if not text:
                    continue
                event = replace(event, text=text)
            out.append(_reindexed(event, index))
        return out


def _reindexed(event: StreamEvent, index: int) -> StreamEvent:
    if isinstance(event, TextDelta | ThinkingDelta | RefusalDelta | ToolArgsDelta | SignatureDelta | PartStop):
        return replace(event, index=index)
    return event
