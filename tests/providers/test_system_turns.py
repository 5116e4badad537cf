"""Positioned ``system`` messages (Anthropic mid-conversation system turns, as Claude Code
sends them) through every request encoder: kept in place where the format has a
positioned system message (OpenAI chat, Responses), the system prompt when they open the
conversation, marked user text elsewhere (Anthropic, Gemini); never between a tool call
and its results."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from engine.canonical import ChatRequest, Message, TextPart, ToolCall, ToolResult
from engine.errors import BadRequest
from providers import system_turns
from providers.anthropic.request_decoder import decode_request
from providers.base import Endpoint
from providers.registry import build_registry

FORMATS = ["openai", "openai-responses", "anthropic", "gemini"]

# The shape of Claude Code 2.1.332's second request (tests/fixtures/agents/
# claude-code-2.1.332-first-request.json, shortened): a user turn, a system turn with the
# environment, the tool call, its result, and a later system reminder.
CLAUDE_CODE_TURNS: dict[str, Any] = {
    "model": "smart-code",
    "max_tokens": 32000,
    "system": [{"type": "text", "text": "You are a Claude agent.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Show me f.txt"}]},
        {
            "role": "system",
            "content": [{"type": "text", "text": "# Environment\ncwd: /w", "cache_control": {"type": "ephemeral"}}],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "cat f.txt"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "hello"}]},
        {"role": "system", "content": "The user switched to plan mode."},
    ],
    "tools": [{"name": "Bash", "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}}}],
}


def encoded(fmt: str, request: ChatRequest, system_messages: bool = False) -> dict[str, Any]:
    adapter = build_registry().adapter(fmt)
    endpoint = Endpoint("c", fmt, "http://upstream/v1", "k", "m", system_messages=system_messages)
    body: dict[str, Any] = orjson.loads(adapter.build_request(request, endpoint).body)
    return body


def test_the_anthropic_decoder_keeps_system_turns_in_place() -> None:
    request = decode_request(CLAUDE_CODE_TURNS)
    assert [m.role for m in request.messages] == ["user", "system", "assistant", "tool", "system"]
    assert request.messages[1].parts == [TextPart("# Environment\ncwd: /w", cache="5m")]
    assert request.messages[4].parts == [TextPart("The user switched to plan mode.")]


def test_a_system_turn_holds_only_text() -> None:
    body = {**CLAUDE_CODE_TURNS, "messages": [{"role": "system", "content": [{"type": "image", "source": {}}]}]}
    with pytest.raises(BadRequest, match="messages.0.content.0.type: system messages hold only text"):
        decode_request(body)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_encoder_carries_system_turns(fmt: str, snapshot: SnapshotAssertion) -> None:
    assert encoded(fmt, decode_request(CLAUDE_CODE_TURNS)) == snapshot


def test_openai_chat_keeps_the_position() -> None:
    messages = encoded("openai", decode_request(CLAUDE_CODE_TURNS))["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "system", "assistant", "tool", "system"]
    assert messages[2]["content"] == "# Environment\ncwd: /w"
    assert messages[5]["content"] == "The user switched to plan mode."


def test_responses_keeps_the_position() -> None:
    body = encoded("openai-responses", decode_request(CLAUDE_CODE_TURNS))
    assert body["instructions"] == "You are a Claude agent."
    kinds = [(item["type"], item.get("role")) for item in body["input"]]
    assert kinds == [
        ("message", "user"),
        ("message", "system"),
        ("function_call", None),
        ("function_call_output", None),
        ("message", "system"),
    ]
    assert body["input"][1]["content"] == [{"type": "input_text", "text": "# Environment\ncwd: /w"}]


def test_anthropic_marks_later_system_turns_as_user_text() -> None:
    body = encoded("anthropic", decode_request(CLAUDE_CODE_TURNS))
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    first, last = body["messages"][0]["content"], body["messages"][2]["content"]
    assert first[1] == {
        "type": "text",
        "text": "<system>\n# Environment\ncwd: /w\n</system>",
        "cache_control": {"type": "ephemeral"},
    }
    assert last[0]["type"] == "tool_result"  # the results stay first in their turn
    assert last[1]["text"] == "<system>\nThe user switched to plan mode.\n</system>"


def test_gemini_marks_later_system_turns_as_user_text() -> None:
    body = encoded("gemini", decode_request(CLAUDE_CODE_TURNS))
    assert body["systemInstruction"] == {"parts": [{"text": "You are a Claude agent."}]}
    contents = body["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"][1] == {"text": "<system>\n# Environment\ncwd: /w\n</system>"}
    assert "functionResponse" in contents[2]["parts"][0]
    assert contents[2]["parts"][1] == {"text": "<system>\nThe user switched to plan mode.\n</system>"}


@pytest.mark.parametrize("fmt", ["anthropic", "gemini"])
def test_leading_system_turns_join_the_system_prompt(fmt: str) -> None:
    request = ChatRequest(
        model="m",
        system=[TextPart("base")],
        messages=[Message("system", [TextPart("opening")]), Message("user", [TextPart("hi")])],
        max_tokens=10,
    )
    body = encoded(fmt, request)
    if fmt == "anthropic":
        assert [b["text"] for b in body["system"]] == ["base", "opening"]
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    else:
        assert body["systemInstruction"] == {"parts": [{"text": "base"}, {"text": "opening"}]}
        assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_a_system_turn_between_a_call_and_its_results_moves_after_them() -> None:
    call = Message("assistant", [ToolCall("c1", "f", "{}"), ToolCall("c2", "f", "{}")])
    note = Message("system", [TextPart("note")])
    first = Message("tool", [ToolResult("c1", [TextPart("1")])])
    second = Message("tool", [ToolResult("c2", [TextPart("2")])])
    after = Message("user", [TextPart("next")])
    ordered = system_turns.after_tool_results([call, note, first, second, after])
    assert ordered == [call, first, second, note, after]
    # results that never come: the note is kept before the next turn, not lost
    assert system_turns.after_tool_results([call, note, after]) == [call, note, after]
    messages = encoded(
        "openai", ChatRequest(model="m", messages=[Message("user", [TextPart("q")]), call, note, first, second])
    )
    assert [m["role"] for m in messages["messages"]] == ["user", "assistant", "tool", "tool", "system"]


def test_anthropic_keeps_later_system_turns_for_a_model_that_takes_them() -> None:
    body = encoded("anthropic", decode_request(CLAUDE_CODE_TURNS), system_messages=True)
    assert [m["role"] for m in body["messages"]] == ["user", "system", "assistant", "user", "system"]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "# Environment\ncwd: /w", "cache_control": {"type": "ephemeral"}}
    ]
