"""The internal request, response and stream-event types every wire format maps to.

Client codecs decode into these types and encode out of them; upstream adapters build
requests from them and decode responses and streams into them. N client codecs + M
upstream adapters, never N x M translators.

Conventions every codec follows:

* ``Usage.input_tokens`` is the *total* prompt size, cached reads and cache writes
  included (OpenAI's convention); ``cached_input_tokens`` and ``cache_write_tokens`` are
  subsets of it. ``output_tokens`` includes ``reasoning_tokens``.
* A stream is ``StreamStart``, then for each output part ``PartStart`` -> deltas ->
  ``PartStop`` (parts indexed 0, 1, 2... in order of first appearance; parts may
  interleave), then exactly one ``StreamEnd``. A failure mid-stream is raised as an
  ``engine.errors.UpstreamError`` by the decoder, never emitted as an event.
* ``ChatRequest.extras`` holds request fields the client format has that this model
  does not. Only an adapter whose format equals ``extras_format`` may forward them;
  any other adapter must raise ``UnsupportedFeature`` naming them (nothing is dropped
  silently).
* ``hints`` are top-level fields of the client format that only tune cost or caching or
  identify the end user (``prompt_cache_key``, ``safety_identifier``...); they never
  change the answer. An adapter of ``extras_format`` forwards them; others leave them out.
* A ``system`` message is a system instruction at its position in the conversation (an
  Anthropic mid-conversation ``system`` turn); it holds ``TextPart`` only.
  ``ChatRequest.system`` is the system prompt ahead of every message. Encoders keep a
  ``system`` message in place where their format has a positioned system turn, else
  carry it as ``providers.system_turns`` says (the README's translation table).
* ``metadata`` and ``user`` are the caller's bookkeeping (tags, an end-user id for abuse
  monitoring); they never change the answer. An adapter forwards them where its format
  has a field and leaves them out where it has none; they are kept in the usage log's
  request context, not lost to the operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from engine.errors import NoCanonicalForm

Role = Literal["system", "user", "assistant", "tool"]
StopReason = Literal["end", "length", "tool_use", "stop_sequence", "content_filter", "refusal"]


# ``cache``: a prompt-cache breakpoint after this block and its lifetime ("5m", "1h"), as
# Anthropic's ``cache_control`` marks it. Upstreams that cache on their own (OpenAI, Gemini)
# need no hint, so only the Anthropic adapter sends it; it never changes an answer.


@dataclass(slots=True)
class TextPart:
    text: str
    cache: str | None = None


@dataclass(slots=True)
class ImagePart:
    """An image by URL: ``https://...`` or ``data:<mime>;base64,<bytes>``."""

    url: str
    detail: str | None = None
    cache: str | None = None


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, exactly as the model produced it
    cache: str | None = None


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[TextPart | ImagePart]
    is_error: bool = False
    name: str | None = None  # the called tool's name, when known (Gemini needs it)
    cache: str | None = None


@dataclass(slots=True)
class Thinking:
    text: str
    signature: str | None = None
    redacted: str | None = None  # opaque redacted-thinking payload
    # The upstream format that issued ``signature``/``redacted`` when the gateway knows it (a
    # translated answer; a Responses client's reasoning state): an upstream of another format
    # cannot verify it, so its encoder leaves it out. None: unknown, sent as it is.
    origin: str | None = None


@dataclass(slots=True)
class Refusal:
    text: str


Part = TextPart | ImagePart | ToolCall | ToolResult | Thinking | Refusal


@dataclass(slots=True)
class Message:
    role: Role
    parts: list[Part]


@dataclass(slots=True)
class ClientToolShape:
    """How the client declared a tool the canonical model holds as a plain function.

    A Responses client's tool inside a ``namespace`` tool, or its ``custom`` (free-form)
    tool, is a function tool here under a flat name every upstream accepts; the client's
    codec restores the client's own shape on the way back (``providers/openai_responses``).
    """

    name: str  # the client's own name (inside ``namespace`` when there is one)
    namespace: str | None = None
    freeform: bool = False  # a custom tool: called with ``{"input": "<the free-form text>"}``


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]
    strict: bool | None = None
    cache: str | None = None
    shape: ClientToolShape | None = None  # the client's own shape, when it is not a plain function


@dataclass(slots=True)
class HostedTool:
    """A tool the upstream vendor runs itself (web search), in ``format``'s wire shape.

    Only an adapter of ``format`` sends it; an attempt on any other format goes without it
    and the gateway names it in the ``x-turnout-dropped-tools`` response header."""

    kind: str  # the wire type, e.g. "web_search"
    spec: dict[str, Any]
    format: str


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    kind: Literal["text", "json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Reasoning:
    effort: Literal["minimal", "low", "medium", "high"] | None = None
    budget_tokens: int | None = None
    include_thoughts: bool | None = None


@dataclass(slots=True)
class ChatRequest:
    model: str
    messages: list[Message]
    system: list[TextPart] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    hosted_tools: list[HostedTool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False  # the client asked to see usage in the stream
    response_format: ResponseFormat | None = None
    reasoning: Reasoning | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    # A stable key for requests sharing a prompt prefix (one agent session): OpenAI's
    # ``prompt_cache_key``, derived by codecs that know the session. Never changes an answer.
    cache_key: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    extras_format: str | None = None
    hints: dict[str, Any] = field(default_factory=dict)
    # Set on a routing outline (providers/outline.py): the codec's refusal of a feature with
    # no canonical form. Only a same-format passthrough can serve such a request.
    opaque: NoCanonicalForm | None = None


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class ChatResponse:
    id: str
    model: str
    parts: list[Part]
    stop_reason: StopReason
    usage: Usage
    created: int
    stop_sequence: str | None = None


# ---- stream events -------------------------------------------------------------------


@dataclass(slots=True)
class StreamStart:
    id: str
    model: str
    created: int


@dataclass(slots=True)
class PartStart:
    """A new output part; ToolCall arrives with empty arguments, Text/Thinking empty."""

    index: int
    part: TextPart | ToolCall | Thinking | Refusal


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(slots=True)
class RefusalDelta:
    index: int
    text: str


@dataclass(slots=True)
class ToolArgsDelta:
    index: int
    fragment: str


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    text: str


@dataclass(slots=True)
class SignatureDelta:
    index: int
    signature: str


@dataclass(slots=True)
class PartStop:
    index: int


@dataclass(slots=True)
class StreamEnd:
    stop_reason: StopReason
    usage: Usage
    stop_sequence: str | None = None


StreamEvent = (
    StreamStart
    | PartStart
    | TextDelta
    | RefusalDelta
    | ToolArgsDelta
    | ThinkingDelta
    | SignatureDelta
    | PartStop
    | StreamEnd
)
