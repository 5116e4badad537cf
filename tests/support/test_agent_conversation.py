"""The conversation reader on shapes the over-HTTP tests do not send: Gemini function responses
as gateways wrap them, Anthropic server tools and thinking, Responses string input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.agent_conversation import Item, function_response_text, read_conversation


@pytest.mark.parametrize(
    ("response", "text"),
    [
        ({"result": "plain text"}, "plain text"),  # Turnout: a non-object result as {"result": value}
        ({"result": 42}, "42"),
        ({"result": [1, 2]}, "[1,2]"),
        ({"error": "boom"}, "boom"),  # an error result
        ({"output": "from gemini-cli"}, "from gemini-cli"),
        ({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}, "ab"),
        ({"temperature": 22}, '{"temperature":22}'),  # a JSON object result, sent as is
        (None, ""),
    ],
)
def test_a_function_response_reads_as_the_tool_results_text(response: Any, text: str) -> None:
    assert function_response_text(response) == text


def test_anthropic_thinking_is_not_listed_and_server_tools_count_as_calls_and_results() -> None:
    body = {
        "system": "sys",
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [
            {"role": "user", "content": "search"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "s"},
                    {"type": "server_tool_use", "id": "srv_1", "name": "web_search", "input": {"query": "q"}},
                    {"type": "web_search_tool_result", "tool_use_id": "srv_1", "content": []},
                    {"type": "text", "text": "Found "},
                    {"type": "text", "text": "it."},
                ],
            },
        ],
    }
    conversation = read_conversation("anthropic", body)
    assert conversation.roles == ["user", "tool-call", "tool-result", "assistant"]
    assert conversation.items[-1] == Item("assistant", "Found it.")
    assert conversation.tool_names == ["web_search"] and conversation.system_text == "sys"


def test_gemini_thoughts_are_skipped_and_snake_case_fields_read() -> None:
    body = {
        "system_instruction": {"parts": [{"text": "be short"}]},
        "tools": [{"function_declarations": [{"name": "Bash"}]}],
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "plan", "thought": True},
                    {"text": "Sure."},
                    {"function_call": {"name": "Bash", "args": {}}},
                ],
            },
            {"role": "user", "parts": [{"function_response": {"name": "Bash", "response": {"result": "done"}}}]},
        ],
    }
    conversation = read_conversation("gemini", body)
    assert conversation.roles == ["user", "assistant", "tool-call", "tool-result"]
    assert (conversation.tool_results, conversation.tool_names, conversation.system_text) == (
        ["done"],
        ["Bash"],
        "be short",
    )


def test_responses_string_input_is_one_user_item_and_a_body_that_is_not_an_object_is_empty() -> None:
    assert read_conversation("openai-responses", {"input": "hello"}).items == (Item("user", "hello"),)
    assert read_conversation("openai-chat", ["not", "an", "object"]).items == ()
