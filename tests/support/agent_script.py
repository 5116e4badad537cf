"""The agent script, and the pure decision of what the agent upstream answers a request.

``plan(script, request)`` picks one of four answers (``Reply.kind``):

- ``side``: the request declares no tools (a title, summary or quota probe): ``script.side_text``.
- ``answer``: the conversation holds a tool result: ``script.answer_prefix`` + the last result's
  text, finishing normally (stop / end_turn / STOP).
- ``tool-call``: tools are declared and no result is in yet: one call to the scripted tool,
  found among the declared tools by ``pick_tool``.
- ``no-such-tool``: as ``tool-call``, but no declared tool matches: a text naming the offered
  tools, so a failing test shows why.

Token counts are deterministic: ``estimate_tokens`` is the length of the JSON of the request's
conversation fields (messages/input/contents, system, tools) divided by four, the same for a
generation and a count-tokens request over the same conversation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.support.agent_conversation import Format
from tests.support.agent_request import AgentRequest

Arguments = Mapping[str, Any] | str
ArgumentsSpec = Arguments | Callable[[AgentRequest], Arguments]
SEPARATORS = ("__", ".", "/", ":", "_", "-")
COUNTED_FIELDS: dict[Format, tuple[str, ...]] = {
    "openai-chat": ("messages", "tools"),
    "openai-responses": ("instructions", "input", "tools"),
    "anthropic": ("system", "messages", "tools"),
    "gemini": ("systemInstruction", "contents", "tools"),
}


@dataclass(frozen=True)
class AgentScript:
    """What the fake model does.

    ``tool``: the name of the tool to call. ``arguments``: the call's arguments, an object (sent
    as JSON), a string (sent verbatim: JSON text for function tools, the raw input of a
    Responses ``custom`` tool), or a callable building either from the ``AgentRequest`` (to fill
    in a path that must exist). ``answer_prefix``: put before the tool result's text in the
    final answer. ``side_text``: the answer to requests without tools. ``cached_tokens``: the
    cached part of the input reported in every answer's usage; ``input_tokens`` /
    ``output_tokens`` replace the estimates (the input count includes the cached part, as
    OpenAI counts; Anthropic's ``input_tokens`` is reported without it). ``fragments``: how
    many pieces a streamed text or argument string is split into.
    """

    tool: str
    arguments: ArgumentsSpec = field(default_factory=dict)
    answer_prefix: str = ""
    side_text: str = "ok"
    cached_tokens: int = 0
    input_tokens: int | None = None
    output_tokens: int | None = None
    fragments: int = 4


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int  # including the cached part
    output_tokens: int
    cached_tokens: int

    @property
    def uncached_input_tokens(self) -> int:
        return self.input_tokens - self.cached_tokens

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Call:
    name: str  # the declared tool's name (as listed: ``ns__tool`` for a Responses namespace's tool)
    arguments: str  # JSON text, or a custom tool's raw input
    custom: bool = False
    namespace: str | None = None  # a Responses namespace's tool: the call names the namespace
    bare_name: str | None = None  # and the tool's own name in it


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer, ready for a wire format to render."""

    kind: str  # "tool-call" | "answer" | "side" | "no-such-tool"
    model: str
    ident: str  # unique per request, used in the ids the answer carries
    text: str  # "" for a tool call
    call: Call | None
    usage: Usage
    pieces: tuple[str, ...]  # the text, or the call's arguments, split for streaming
    include_usage: bool = True  # OpenAI chat streams: end with the usage chunk

    def arguments_object(self) -> Any:
        """The call's arguments parsed (``{}`` when they are not a JSON object)."""
        if self.call is None:
            return {}
        try:
            parsed = orjson.loads(self.call.arguments)
        except orjson.JSONDecodeError:
            return {}
        return parsed if isinstance(parsed, dict) else {}


def pick_tool(wanted: str, declared: list[str]) -> str | None:
    """``wanted`` itself when declared; else the first declared name ending with a separator
    (``__ . / : _ -``) and ``wanted`` (a gateway may flatten ``ns__tool``); else ``None``."""
    if wanted in declared:
        return wanted
    for sep in SEPARATORS:
        for name in declared:
            if name.endswith(sep + wanted):
                return name
    return None


def split(text: str, count: int) -> tuple[str, ...]:
    """``text`` in up to ``count`` consecutive non-empty pieces (one piece for ""), joined back exactly."""
    if len(text) <= 1 or count <= 1:
        return (text,)
    size = -(-len(text) // count)
    return tuple(text[i : i + size] for i in range(0, len(text), size))


def counted_body(fmt: Format, body: Any) -> dict[str, Any]:
    """The request body whose conversation is counted (Gemini's ``countTokens`` may wrap it in
    ``generateContentRequest``)."""
    if not isinstance(body, dict):
        return {}
    inner = body.get("generateContentRequest")
    return inner if fmt == "gemini" and isinstance(inner, dict) else body


def estimate_tokens(fmt: Format, body: Any) -> int:
    fields = counted_body(fmt, body)
    counted = [fields.get(key) for key in COUNTED_FIELDS[fmt]]
    return max(1, len(orjson.dumps(counted)) // 4)


def input_count(script: AgentScript, fmt: Format, body: Any) -> int:
    """The input tokens a request reports, cached part included (what count-tokens answers too)."""
    given = script.input_tokens if script.input_tokens is not None else estimate_tokens(fmt, body)
    return max(given, script.cached_tokens)


def _usage(script: AgentScript, fmt: Format, body: Any, produced: str) -> Usage:
    output = script.output_tokens if script.output_tokens is not None else max(1, len(produced) // 4)
    return Usage(input_count(script, fmt, body), output, max(0, script.cached_tokens))


def _arguments(script: AgentScript, request: AgentRequest) -> Arguments:
    spec = script.arguments
    return spec(request) if callable(spec) else spec


def plan(script: AgentScript, request: AgentRequest) -> Reply:
    """The answer to a generation request (``request.format`` must be set)."""
    fmt = request.format
    if fmt is None:
        raise ValueError("plan() needs a request of a known wire format")
    conversation = request.conversation
    declared = conversation.tool_names
    call: Call | None = None
    if not declared:
        kind, text = "side", script.side_text
    elif request.has_tool_result:
        kind, text = "answer", script.answer_prefix + conversation.tool_results[-1]
    elif (name := pick_tool(script.tool, declared)) is None:
        offered = ", ".join(declared)
        kind, text = "no-such-tool", f"agent upstream: no tool {script.tool!r} among the offered tools: {offered}"
    else:
        tool = conversation.tool(name)
        given = _arguments(script, request)
        arguments = given if isinstance(given, str) else orjson.dumps(dict(given)).decode()
        custom, namespace, bare = (tool.custom, tool.namespace, tool.bare_name) if tool else (False, None, None)
        kind, text, call = "tool-call", "", Call(name, arguments, custom, namespace, bare)
    produced = call.arguments if call is not None else text
    options = request.body.get("stream_options") if isinstance(request.body, dict) else None
    return Reply(
        kind=kind,
        model=request.model or "agent-model",
        ident=f"agent{request.index:04d}",
        text=text,
        call=call,
        usage=_usage(script, fmt, request.body, produced),
        pieces=split(produced, script.fragments),
        include_usage=isinstance(options, dict) and options.get("include_usage") is True,
    )
