"""Property: the client stream encoder and the upstream stream decoder are inverses.

Any well-formed canonical stream, encoded as OpenAI chunks and decoded again, comes back
unchanged (for the stop reasons OpenAI can express without loss), except that a stream with
refusal text that ended normally reads back as a refusal and a tool call that streamed no
arguments reads back with ``"{}"``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.canonical import (
    ChatRequest,
    Message,
    PartStart,
    PartStop,
    Refusal,
    RefusalDelta,
    StopReason,
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
from providers.base import Endpoint
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai.codec import OpenAIChatCodec

ENDPOINT = Endpoint("c", "openai", "https://x.test/v1", None, "up-model")
REQUEST = ChatRequest(model="m", messages=[Message("user", [TextPart("x")])], stream=True, include_usage=True)

# (kind, fragments, call id, tool name); text-like parts need at least one fragment
PartSpec = tuple[str, list[str], str, str]
identifier = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=10)
part_spec: st.SearchStrategy[PartSpec] = st.one_of(
    st.tuples(
        st.sampled_from(["text", "thinking", "refusal"]),
        st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=4),
        st.just(""),
        st.just(""),
    ),
    st.tuples(st.just("tool"), st.lists(st.text(min_size=1, max_size=8), max_size=4), identifier, identifier),
)


def distinct_neighbours(specs: list[PartSpec]) -> bool:
    """Two adjacent text-like parts of one kind are one part on the OpenAI wire."""
    return all(a[0] != b[0] or a[0] == "tool" for a, b in zip(specs, specs[1:], strict=False))


def part_events(index: int, spec: PartSpec, *, decoded: bool = False) -> list[StreamEvent]:
    kind, fragments, call_id, name = spec
    events: list[StreamEvent] = []
    if kind == "tool":
        events.append(PartStart(index, ToolCall(call_id, name, "")))
        events.extend(ToolArgsDelta(index, f) for f in (fragments or ["{}"] if decoded else fragments))
    elif kind == "text":
        events.append(PartStart(index, TextPart("")))
        events.extend(TextDelta(index, f) for f in fragments)
    elif kind == "thinking":
        events.append(PartStart(index, Thinking("")))
        events.extend(ThinkingDelta(index, f) for f in fragments)
    else:
        events.append(PartStart(index, Refusal("")))
        events.extend(RefusalDelta(index, f) for f in fragments)
    events.append(PartStop(index))
    return events


@settings(max_examples=100, deadline=None)
@given(
    specs=st.lists(part_spec, max_size=6).filter(distinct_neighbours),
    stop=st.sampled_from(["end", "length", "tool_use", "content_filter"]),
    counts=st.tuples(*(st.integers(0, 10**6) for _ in range(4))),
)
def test_encode_then_decode_is_identity(specs: list[PartSpec], stop: StopReason, counts: tuple[int, ...]) -> None:
    inp, out, cached, reasoning = counts
    usage = Usage(inp, out, cached_input_tokens=cached, reasoning_tokens=reasoning)
    sent: list[StreamEvent] = [StreamStart("chatcmpl-1", "m", 123)]
    expected: list[StreamEvent] = [StreamStart("chatcmpl-1", "m", 123)]
    for index, spec in enumerate(specs):
        sent.extend(part_events(index, spec))
        expected.extend(part_events(index, spec, decoded=True))
    sent.append(StreamEnd(stop, usage))
    refused = stop == "end" and any(spec[0] == "refusal" for spec in specs)
    expected.append(StreamEnd("refusal" if refused else stop, usage))

    encoder = OpenAIChatCodec().stream_encoder(REQUEST)
    wire = b"".join(encoder.encode(e) for e in sent)
    decoder = OpenAIChatAdapter().stream_decoder(ENDPOINT)
    assert decoder.feed(wire) + decoder.close() == expected
