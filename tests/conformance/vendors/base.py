"""What a vendor fake offers the matrix: scripted replies replaying recorded transcripts,
what a client should see of each (``Expected``, usage already normalised to the canonical
convention), and readers for the request the gateway sent upstream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.canonical import StopReason, Usage
from tests.conformance import transcripts
from tests.support.fake_upstream import Received
from tests.support.replies import Cut, Reply, Status, Stream


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Expected:
    text: str
    calls: tuple[Call, ...]
    stop: StopReason
    usage: Usage


@dataclass(frozen=True, slots=True)
class Scripted:
    reply: Reply
    expected: Expected


@dataclass(frozen=True, slots=True)
class ErrorReply:
    reply: Status
    message: str  # the upstream's own message, which must reach the client


@dataclass(frozen=True, slots=True)
class MidStream:
    """A stream that fails after some text: an in-band error event, or a dropped connection."""

    reply: Stream | Cut
    text_before: str  # the text sent before the failure


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SeenImage:
    mime: str
    data: str  # base64


@dataclass(frozen=True, slots=True)
class SeenCall:
    id: str | None
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class SeenResult:
    call_id: str | None
    name: str | None
    text: str


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """The parts of an upstream request body the matrix checks, in neutral terms."""

    system: str | None
    user_texts: list[str]
    images: list[SeenImage]
    tool_names: list[str]
    tool_strict: list[bool]  # per tool: strict schema adherence in effect (the format's default applied)
    calls: list[SeenCall]  # assistant tool calls in the history
    results: list[SeenResult]
    max_tokens: int | None
    stop: list[str]
    stream: bool
    extra: dict[str, Any] = field(default_factory=dict)


class Vendor(Protocol):
    format: str
    upstream_model: str
    prefix: str  # the fake's path prefix (the channel's base_url path)
    tools: tuple[ToolSpec, ...]  # the tools its recordings call

    def text(self, *, stream: bool) -> Scripted: ...

    def usage(self, *, stream: bool) -> Scripted:
        """Text whose streamed and non-streamed usage are the same numbers."""
        ...

    def tool_call(self) -> Scripted:
        """A non-streamed reply with one tool call."""
        ...

    def parallel_tool_calls(self, *, stream: bool) -> Scripted: ...

    def streamed_tool_args(self) -> Scripted:
        """A stream whose tool-call arguments arrive in several pieces."""
        ...

    def length(self, *, stream: bool) -> Scripted:
        """Text cut by the output-token limit."""
        ...

    def error_400(self) -> ErrorReply: ...

    def error_429(self) -> ErrorReply: ...

    def midstream_error(self) -> MidStream: ...

    def read_request(self, received: Received) -> SeenRequest:
        """What the gateway sent this upstream, from the fake's record of it."""
        ...


class RecordedVendor:
    """The scripts every recorded vendor builds the same way from its fixture folder
    (``text.json``, ``text.chunks.txt``, ``tool-call.json``, ``error-400.json``...): a
    vendor supplies how one JSON body, one chunk file and one SSE file are replayed, and
    overrides only what its recordings do differently."""

    name: str  # the fixture folder under tests/fixtures/conformance/

    def _json(self, name: str, stop: StopReason) -> Scripted:
        raise NotImplementedError

    def _chunks(self, name: str, stop: StopReason) -> Scripted:
        raise NotImplementedError

    def _sse(self, name: str, stop: StopReason) -> Scripted:
        raise NotImplementedError

    def _error_headers(self, body: dict[str, Any]) -> dict[str, str]:
        return {}

    def _error(self, status: int) -> ErrorReply:
        body = transcripts.load_json(self.name, f"error-{status}.json")
        return ErrorReply(Status(status, body, self._error_headers(body)), body["error"]["message"])

    def text(self, *, stream: bool) -> Scripted:
        return self._chunks("text.chunks.txt", "end") if stream else self._json("text.json", "end")

    def usage(self, *, stream: bool) -> Scripted:
        return self._chunks("text.chunks.txt", "end") if stream else self._json("text-usage-matched.json", "end")

    def tool_call(self) -> Scripted:
        return self._json("tool-call.json", "tool_use")

    def parallel_tool_calls(self, *, stream: bool) -> Scripted:
        if stream:
            return self._sse("parallel-tool-calls.sse", "tool_use")
        return self._json("parallel-tool-calls.json", "tool_use")

    def streamed_tool_args(self) -> Scripted:
        return self._sse("tool-call.sse", "tool_use")

    def length(self, *, stream: bool) -> Scripted:
        return self._chunks("length.chunks.txt", "length") if stream else self._json("length.json", "length")

    def error_400(self) -> ErrorReply:
        return self._error(400)

    def error_429(self) -> ErrorReply:
        return self._error(429)


def text_of(value: Any) -> str:
    """A string, or the text of a list of text blocks/parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(str(p.get("text", "")) for p in value if isinstance(p, dict))
    return ""


def data_url_image(url: str) -> SeenImage:
    head, _, data = url.partition(",")
    assert head.startswith("data:") and head.endswith(";base64"), url[:60]
    return SeenImage(head[5 : -len(";base64")], data)
