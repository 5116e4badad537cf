"""A Responses client's namespace and custom (free-form) tools, hosted web search, caching
hints and positioned developer messages: decoded from the Codex CLI's captured request,
sent to every upstream format, and the calls restored to the client's shapes on the way back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import (
    ChatRequest,
    ChatResponse,
    ClientToolShape,
    Message,
    PartStart,
    PartStop,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextPart,
    ToolArgsDelta,
    ToolCall,
    ToolChoice,
    ToolResult,
    Usage,
)
from engine.pipeline import dropped_tools
from providers.anthropic.adapter import AnthropicAdapter
from providers.base import Endpoint, UpstreamAdapter
from providers.gemini.adapter import GeminiAdapter
from providers.openai.adapter import OpenAIChatAdapter
from providers.openai_responses.adapter import ResponsesAdapter
from providers.openai_responses.client_tools import MAX_NAME, custom_input, flat_name
from providers.openai_responses.codec import ResponsesCodec
from tests.providers.openai_responses.checks import validated_events

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "agents" / "codex-0.171.0-first-request.json"
CODEC = ResponsesCodec()
STRICTEST_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # Anthropic's rule; OpenAI and Gemini accept these too
ADAPTERS: dict[str, tuple[UpstreamAdapter, str]] = {
    "openai": (OpenAIChatAdapter(), "http://up/v1"),
    "openai-responses": (ResponsesAdapter(), "http://up/v1"),
    "anthropic": (AnthropicAdapter(), "http://up/v1"),
    "gemini": (GeminiAdapter(), "http://up/v1beta"),
}
PATCH_TOOL = {
    "type": "custom",
    "name": "apply_patch",
    "description": "Edit files.",
    "format": {"type": "grammar", "syntax": "lark", "definition": 'start: "*** Begin Patch"'},
}
AGENTS_NS = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents.",
    "tools": [{"type": "function", "name": "close_agent", "parameters": {"type": "object"}, "strict": False}],
}


def _codex_body() -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(FIXTURE.read_bytes())["body"]
    return body


def _upstream_body(fmt: str, request: ChatRequest) -> dict[str, Any]:
    adapter, base = ADAPTERS[fmt]
    built = adapter.build_request(request, Endpoint("c", fmt, base, "k", "m"))
    body: dict[str, Any] = orjson.loads(built.body)
    return body


def _declared_names(fmt: str, body: dict[str, Any]) -> list[str]:
    if fmt == "openai":
        return [t["function"]["name"] for t in body["tools"]]
    if fmt == "gemini":
        return [d["name"] for t in body["tools"] for d in t.get("functionDeclarations", [])]
    return [t["name"] for t in body["tools"] if "name" in t]


def test_flat_names_are_valid_everywhere_deterministic_and_distinct() -> None:
    assert flat_name("close_agent", "multi_agent_v1") == "multi_agent_v1__close_agent"
    assert flat_name("apply_patch") == "apply_patch"
    odd = [flat_name("read", "mcp.server/x"), flat_name("read", "mcp_server_x"), flat_name("t" * 80, "ns")]
    assert all(STRICTEST_NAME.match(name) for name in odd), odd
    assert len(set(odd)) == 3 and len(odd[2]) == MAX_NAME
    assert flat_name("t" * 80, "ns") == odd[2]  # the same on every turn


def test_codex_first_request_decodes_with_nothing_refused(snapshot: SnapshotAssertion) -> None:
    request = CODEC.decode_request(_codex_body())
    assert request.extras == {}  # nothing only a Responses upstream could take
    assert set(request.hints) == {"client_metadata"} and request.cache_key == _codex_body()["prompt_cache_key"]
    assert [(h.kind, h.format) for h in request.hosted_tools] == [("web_search", "openai-responses")]
    system = "\n".join(p.text for p in request.system)  # both developer messages: the system prompt
    assert system.startswith("You are a coding agent") and "<skills_instructions>" in system
    assert [m.role for m in request.messages] == ["user", "user"]
    names = [t.name for t in request.tools]
    assert all(STRICTEST_NAME.match(n) for n in names)
    close = next(t for t in request.tools if t.name == "multi_agent_v1__close_agent")
    assert close.shape == ClientToolShape("close_agent", "multi_agent_v1")
    # prompt_cache_key: breakpoints on the tools, the system prompt and the conversation
    assert request.tools[-1].cache == request.system[-1].cache == "5m"
    assert request.messages[-1].parts == [TextPart("Print the contents of notes.txt", cache="5m")]
    assert [(t.name, t.shape) for t in request.tools] == snapshot


@pytest.mark.parametrize("fmt", list(ADAPTERS))
def test_codex_first_request_reaches_every_upstream_format(fmt: str) -> None:
    request = CODEC.decode_request(_codex_body())
    body = _upstream_body(fmt, request)
    names = _declared_names(fmt, body)
    assert "multi_agent_v1__spawn_agent" in names and "exec_command" in names
    assert all(STRICTEST_NAME.match(n) for n in names), names
    if fmt == "openai-responses":  # the hosted tool only where it runs
        assert {"type": "web_search", "external_web_access": True} in body["tools"]
        assert body["client_metadata"]["turn_id"] and body["prompt_cache_key"]
    else:
        assert "web_search" not in orjson.dumps(body.get("tools")).decode()
        assert "client_metadata" not in body
    assert dropped_tools(request, fmt) == ([] if fmt == "openai-responses" else ["web_search"])
    if fmt == "anthropic":
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    if fmt == "openai":
        assert body["prompt_cache_key"] == _codex_body()["prompt_cache_key"]


def test_custom_tool_is_a_function_of_one_string() -> None:
    request = CODEC.decode_request({"model": "m", "input": "patch it", "tools": [PATCH_TOOL]})
    [tool] = request.tools
    assert tool.name == "apply_patch" and tool.shape == ClientToolShape("apply_patch", freeform=True)
    assert tool.parameters["required"] == ["input"]
    assert tool.parameters["properties"]["input"]["type"] == "string"
    assert tool.description is not None and 'start: "*** Begin Patch"' in tool.description
    choice = CODEC.decode_request({"model": "m", "input": "x", "tools": [PATCH_TOOL], "tool_choice": PATCH_TOOL})
    assert choice.tool_choice == ToolChoice("tool", "apply_patch")


def test_namespace_and_custom_calls_in_history_become_flat_calls_and_results(snapshot: SnapshotAssertion) -> None:
    body = {
        "model": "m",
        "tools": [AGENTS_NS, PATCH_TOOL],
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be careful."}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
            {
                "type": "function_call",
                "id": "fc_1",
                "status": "completed",
                "call_id": "call_1",
                "namespace": "multi_agent_v1",
                "name": "close_agent",
                "arguments": '{"target":"a1"}',
            },
            {"type": "function_call_output", "id": "fco_1", "call_id": "call_1", "output": "closed"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "apply_patch", "input": "*** Begin Patch\n"},
            {"type": "custom_tool_call_output", "call_id": "call_2", "output": "Done!"},
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Now summarise."}]},
        ],
    }
    request = CODEC.decode_request(body)
    assert request.system == [TextPart("Be careful.")]  # leading developer message: the system prompt
    assert request.messages[1:] == [
        Message("assistant", [ToolCall("call_1", "multi_agent_v1__close_agent", '{"target":"a1"}')]),
        Message("tool", [ToolResult("call_1", [TextPart("closed")])]),
        Message("assistant", [ToolCall("call_2", "apply_patch", '{"input":"*** Begin Patch\\n"}')]),
        Message("tool", [ToolResult("call_2", [TextPart("Done!")])]),
        Message("system", [TextPart("Now summarise.")]),  # a later one keeps its position
    ]
    upstream = {fmt: _upstream_body(fmt, request) for fmt in ("anthropic", "gemini", "openai")}
    assert upstream == snapshot


def _request_with_client_tools(stream: bool) -> ChatRequest:
    body = {"model": "m", "input": "go", "tools": [AGENTS_NS, PATCH_TOOL], "stream": stream}
    return CODEC.decode_request(body)


CALLS = [
    ToolCall("call_1", "multi_agent_v1__close_agent", '{"target":"a1"}'),
    ToolCall("call_2", "apply_patch", '{"input":"*** Begin Patch\\n*** End Patch\\n"}'),
]


def test_response_encoder_answers_with_the_clients_own_call_items(snapshot: SnapshotAssertion) -> None:
    response = ChatResponse("r1", "codex-alias", list(CALLS), "tool_use", Usage(10, 5), 1)
    body = orjson.loads(CODEC.encode_response(response, _request_with_client_tools(False)))
    namespaced, custom = body["output"]
    assert (namespaced["type"], namespaced["namespace"], namespaced["name"]) == (
        "function_call",
        "multi_agent_v1",
        "close_agent",
    )
    assert (custom["type"], custom["name"], custom["input"]) == (
        "custom_tool_call",
        "apply_patch",
        "*** Begin Patch\n*** End Patch\n",
    )
    # echoed as the model was offered them
    assert [t["name"] for t in body["tools"]] == ["multi_agent_v1__close_agent", "apply_patch"]
    assert body["output"] == snapshot


def test_stream_encoder_answers_with_the_clients_own_call_items(snapshot: SnapshotAssertion) -> None:
    events: list[StreamEvent] = [StreamStart("r1", "codex-alias", 1)]
    for index, call in enumerate(CALLS):
        events.append(PartStart(index, ToolCall(call.id, call.name, "")))
        half = len(call.arguments) // 2
        events += [ToolArgsDelta(index, call.arguments[:half]), ToolArgsDelta(index, call.arguments[half:])]
        events.append(PartStop(index))
    events.append(StreamEnd("tool_use", Usage(10, 5, cached_input_tokens=4)))
    encoder = CODEC.stream_encoder(_request_with_client_tools(True))
    frames = validated_events(b"".join(encoder.encode(e) for e in events))
    kinds = [f["type"] for f in frames]
    assert "response.custom_tool_call_input.done" in kinds
    done = [f["item"] for f in frames if f["type"] == "response.output_item.done"]
    assert done[0]["namespace"] == "multi_agent_v1" and done[0]["name"] == "close_agent"
    assert done[1]["type"] == "custom_tool_call" and done[1]["input"] == "*** Begin Patch\n*** End Patch\n"
    # a free-form input is never streamed as JSON argument fragments
    assert not any(f["type"] == "response.function_call_arguments.delta" and f["output_index"] == 1 for f in frames)
    assert frames[-1]["response"]["usage"]["input_tokens_details"]["cached_tokens"] == 4
    assert frames == snapshot


def test_custom_input_falls_back_to_the_raw_arguments() -> None:
    assert custom_input('{"input": "x"}') == "x"
    assert custom_input("not json") == "not json"
    assert custom_input('{"other": 1}') == '{"other": 1}'


def test_plain_function_names_are_never_rewritten() -> None:
    """Only namespaced and custom tools get flat names; a plain function, its calls and a
    tool choice naming it keep the name the client gave, whatever its characters."""
    tool = {"type": "function", "name": "get.weather", "parameters": {"type": "object"}}
    body = {
        "model": "m",
        "tools": [tool],
        "tool_choice": {"type": "function", "name": "get.weather"},
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "function_call", "call_id": "c1", "name": "get.weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
    }
    request = CODEC.decode_request(body)
    assert [t.name for t in request.tools] == ["get.weather"] and request.tools[0].shape is None
    assert request.tool_choice == ToolChoice("tool", "get.weather")
    assert request.messages[1].parts == [ToolCall("c1", "get.weather", "{}")]
