"""What a client driver offers the matrix: one request shape (``Turn``) that each official
SDK expresses in its own format, and the SDK's answer read back in neutral terms."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.canonical import StopReason, Usage
from tests.conformance.vendors.base import ToolSpec


@dataclass(frozen=True, slots=True)
class Image:
    mime: str
    data: bytes

    @property
    def b64(self) -> str:
        return base64.b64encode(self.data).decode()

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.b64}"


@dataclass(frozen=True, slots=True)
class PriorCall:
    """A tool call the assistant made earlier in the conversation, and its result."""

    id: str
    name: str
    arguments: dict[str, Any]
    result: str


@dataclass(frozen=True, slots=True)
class Turn:
    prompt: str
    system: str | None = None
    image: Image | None = None
    tools: tuple[ToolSpec, ...] = ()
    prior_calls: tuple[PriorCall, ...] = ()  # user prompt, assistant calls, their results
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()  # stop sequences


@dataclass(slots=True)
class AnsweredCall:
    id: str | None
    name: str
    arguments: dict[str, Any]
    index: int  # the client format's own position/index of the call
    fragments: int = 1  # argument pieces seen (streams)


@dataclass(slots=True)
class Answer:
    text: str
    calls: list[AnsweredCall]
    stop: str  # the client format's own stop/finish value
    usage: dict[str, int]  # the client format's own usage fields
    model: str
    events: list[str] = field(default_factory=list)  # stream event kinds seen, in order
    pieces: int = 0  # stream events that carried text


@dataclass(frozen=True, slots=True)
class Failure:
    """An SDK exception raised for a non-2xx answer."""

    exception: type[BaseException]
    status: int
    message: str
    body: Any  # the error body as the SDK parsed it


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A stream the SDK consumed until it raised."""

    text_before: str
    exception: BaseException


@dataclass(frozen=True, slots=True)
class RawStream:
    """A raw streamed answer: SSE ``(event name, data)`` pairs, read with httpx."""

    status: int
    events: list[tuple[str | None, str]]


class Driver(Protocol):
    format: str

    def ask(self, model: str, turn: Turn, *, stream: bool) -> Answer: ...

    def fail(self, model: str, turn: Turn, *, stream: bool = False) -> Failure:
        """Expect the SDK to raise for this request; report what it raised."""
        ...

    def interrupted(self, model: str, turn: Turn) -> Interrupted:
        """Stream; expect the SDK to raise mid-stream."""
        ...

    def raw_stream(self, model: str, prompt: str) -> RawStream: ...

    def stop_name(self, stop: StopReason) -> str:
        """The client format's value for a canonical stop reason (as ``Answer.stop``)."""
        ...

    def usage_view(self, usage: Usage) -> dict[str, int]:
        """Canonical usage as this client format shows it (keys as ``Answer.usage``)."""
        ...

    def error_classes(self, status: int) -> tuple[type[BaseException], ...]:
        """The SDK exception types a gateway answer with ``status`` must raise."""
        ...

    def check_error_shape(self, failure: Failure, status: int) -> None:
        """Assert the error body is in this client format's own shape for ``status``."""
        ...

    def check_in_band_error(self, raw: RawStream) -> None:
        """Assert a raw stream ends with this format's in-band error and no clean end."""
        ...
