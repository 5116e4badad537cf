"""System-role messages on the Anthropic passthrough: kept for a model declaring
``system_messages`` (Claude Opus 4.8), rewritten for any other (which would answer 400):
opening ones into ``system``, later ones marked user text in place, after tool results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from providers.anthropic.passthrough import AnthropicPassthrough
from providers.anthropic.system_messages import without_system_messages
from providers.base import Endpoint

CAPTURE = Path(__file__).resolve().parents[2] / "fixtures" / "agents" / "claude-code-2.1.332-first-request.json"
SENT: dict[str, Any] = orjson.loads(CAPTURE.read_bytes())["body"]


def forwarded(body: dict[str, Any], system_messages: bool) -> dict[str, Any]:
    endpoint = Endpoint("c", "anthropic", "http://up/v1", "k", "claude-x", system_messages=system_messages)
    built = AnthropicPassthrough().build(body, endpoint, True, {})
    out: dict[str, Any] = orjson.loads(built.body)
    return out


def test_a_model_taking_system_messages_gets_them_as_sent() -> None:
    body = forwarded(SENT, system_messages=True)
    assert body["messages"] == SENT["messages"]
    assert body["model"] == "claude-x"


def test_claude_codes_environment_turn_becomes_marked_user_text() -> None:
    body = forwarded(SENT, system_messages=False)
    assert [m["role"] for m in body["messages"]] == ["user", "user"]
    environment = SENT["messages"][1]["content"][0]
    assert body["messages"][1]["content"] == [
        {
            "type": "text",
            "text": "<system>\n" + environment["text"] + "\n</system>",
            "cache_control": {"type": "ephemeral"},
        }
    ]
    assert body["messages"][0] == SENT["messages"][0]
    assert body["system"] == SENT["system"]
    assert SENT["messages"][1]["role"] == "system"  # the client's body is not changed


def test_opening_system_messages_join_the_system_prompt() -> None:
    body = {
        "system": "base",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "two"},
            {"role": "user", "content": "hi"},
        ],
    }
    assert without_system_messages(body) == {
        "system": [
            {"type": "text", "text": "base"},
            {"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "two"},
        ],
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_a_system_message_between_a_tool_use_and_its_results_moves_after_them() -> None:
    use = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]}
    results = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]}
    note = {"role": "system", "content": "note"}
    body = {"messages": [{"role": "user", "content": "go"}, use, note, results]}
    marked = {"role": "user", "content": [{"type": "text", "text": "<system>\nnote\n</system>"}]}
    assert without_system_messages(body)["messages"] == [{"role": "user", "content": "go"}, use, results, marked]


def test_a_body_without_system_messages_is_untouched() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "system": "s"}
    assert without_system_messages(body) is body
