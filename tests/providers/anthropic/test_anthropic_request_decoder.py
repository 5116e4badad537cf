"""A client's /v1/messages body -> canonical ChatRequest."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.canonical import (
    ImagePart,
    Message,
    Reasoning,
    ResponseFormat,
    TextPart,
    Thinking,
    ToolCall,
    ToolChoice,
    ToolResult,
)
from engine.errors import BadRequest
from providers.anthropic.codec import AnthropicCodec
from tests.providers.anthropic._anthropic_fixtures import FIXTURES, as_data

EXAMPLE = FIXTURES / "examples" / "messages-request-constructed.json"
CLAUDE_CODE = FIXTURES / "constructed" / "claude-code-multi-turn-request.json"


def _load(path: Any) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(path.read_bytes())
    body.pop("_comment", None)
    return body


def _minimal(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}], **fields}


def decode(body: Any, **kwargs: Any) -> Any:
    return AnthropicCodec().decode_request(body, **kwargs)


def test_constructed_example_request(snapshot: Any) -> None:
    request = decode(_load(EXAMPLE))
    assert as_data(request) == snapshot


def test_claude_code_style_conversation(snapshot: Any) -> None:
    request = decode(_load(CLAUDE_CODE))
    assert as_data(request) == snapshot


def test_user_turn_with_several_tool_results_keeps_each_result_and_the_tool_name() -> None:
    request = decode(_load(CLAUDE_CODE))
    assert [m.role for m in request.messages] == ["user", "assistant", "tool", "user", "assistant", "tool"]
    results = request.messages[2].parts
    assert results == [
        ToolResult("toolu_01A09q90qw90lq917835lq9", [TextPart("[metadata]\nname = project\n")], name="Read"),
        ToolResult(
            "toolu_01B29q90qw90lq917835lq8",
            [
                TextPart("E   ModuleNotFoundError: No module named 'yaml'"),
                ImagePart(
                    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
                ),
            ],
            is_error=True,
            name="Bash",
        ),
    ]
    # Claude Code's cache breakpoint on the latest user block is kept as the canonical hint
    assert request.messages[3] == Message("user", [TextPart("Also, keep it short.", cache="5m")])


def test_assistant_blocks_become_thinking_text_and_tool_calls() -> None:
    assistant = decode(_load(CLAUDE_CODE)).messages[1]
    assert assistant.parts[0] == Thinking(
        "I should read the config and run the tests in parallel.", signature="EqQBCkYIBxgCKkBsig=="
    )
    assert assistant.parts[3] == ToolCall(
        "toolu_01B29q90qw90lq917835lq8", "Bash", '{"command":"pytest -x -q","timeout":120000}'
    )
    redacted = decode(_load(CLAUDE_CODE)).messages[4].parts[0]
    assert redacted == Thinking("", redacted="EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP")


def test_top_level_fields() -> None:
    request = decode(
        _minimal(
            system="Be brief.",
            temperature=0.2,
            top_p=0.9,
            top_k=40,
            stop_sequences=["END"],
            stream=True,
            metadata={"user_id": "u-1"},
            service_tier="auto",
        )
    )
    assert request.system == [TextPart("Be brief.")]
    assert (request.temperature, request.top_p, request.stop, request.stream) == (0.2, 0.9, ["END"], True)
    assert request.user == "u-1"
    assert request.include_usage is True
    assert request.extras == {"top_k": 40, "service_tier": "auto"}
    assert request.extras_format == "anthropic"


def test_path_parameters_override_the_body() -> None:
    request = decode(_minimal(stream=False), model="claude-from-path", stream=True)
    assert (request.model, request.stream) == ("claude-from-path", True)


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, ToolChoice("auto"), None),
        ({"type": "any"}, ToolChoice("required"), None),
        ({"type": "none"}, ToolChoice("none"), None),
        ({"type": "tool", "name": "Read"}, ToolChoice("tool", "Read"), None),
        ({"type": "auto", "disable_parallel_tool_use": True}, ToolChoice("auto"), False),
        ({"type": "any", "disable_parallel_tool_use": False}, ToolChoice("required"), True),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: ToolChoice, parallel: bool | None) -> None:
    request = decode(_minimal(tool_choice=choice))
    assert (request.tool_choice, request.parallel_tool_calls) == (expected, parallel)


@pytest.mark.parametrize(
    ("thinking", "reasoning", "extras"),
    [
        ({"type": "enabled", "budget_tokens": 2048}, Reasoning(budget_tokens=2048, include_thoughts=True), {}),
        (
            {"type": "enabled", "budget_tokens": 2048, "display": "omitted"},
            Reasoning(budget_tokens=2048, include_thoughts=False),
            {},
        ),
        ({"type": "disabled"}, Reasoning(budget_tokens=0, include_thoughts=False), {}),
        ({"type": "adaptive"}, Reasoning(include_thoughts=True), {}),
        ({"type": "adaptive", "display": "omitted"}, Reasoning(include_thoughts=False), {}),
        ({"type": "future_mode"}, None, {"thinking": {"type": "future_mode"}}),
    ],
)
def test_thinking(thinking: dict[str, Any], reasoning: Reasoning | None, extras: dict[str, Any]) -> None:
    request = decode(_minimal(thinking=thinking))
    assert (request.reasoning, request.extras) == (reasoning, extras)


def test_adaptive_thinking_is_kept_as_sent_for_anthropic_only() -> None:
    request = decode(_minimal(thinking={"type": "adaptive", "display": "omitted"}))
    assert request.hints == {"thinking": {"type": "adaptive", "display": "omitted"}}


@pytest.mark.parametrize(
    ("thinking", "effort", "reasoning"),
    [
        (None, "high", Reasoning(effort="high")),
        (None, "max", Reasoning(effort="high")),
        (None, "xhigh", Reasoning(effort="high")),
        (None, "low", Reasoning(effort="low")),
        ({"type": "adaptive", "display": "omitted"}, "medium", Reasoning(effort="medium", include_thoughts=False)),
        ({"type": "enabled", "budget_tokens": 4096}, "low", Reasoning("low", 4096, include_thoughts=True)),
        ({"type": "disabled"}, "high", Reasoning(budget_tokens=0, include_thoughts=False)),
    ],
)
def test_effort_is_the_reasoning_effort(thinking: dict[str, Any] | None, effort: str, reasoning: Reasoning) -> None:
    fields: dict[str, Any] = {"output_config": {"effort": effort}}
    if thinking is not None:
        fields["thinking"] = thinking
    request = decode(_minimal(**fields))
    assert request.reasoning == reasoning
    assert request.hints["output_config"] == {"effort": effort}
    assert request.extras == {}


def test_an_unknown_effort_is_anthropic_only() -> None:
    request = decode(_minimal(output_config={"effort": "ludicrous"}))
    assert (request.reasoning, request.extras) == (None, {"output_config": {"effort": "ludicrous"}})


def test_context_management_is_a_hint() -> None:
    edits = {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]}
    request = decode(_minimal(context_management=edits))
    assert (request.hints, request.extras) == ({"context_management": edits}, {})


@pytest.mark.parametrize(
    ("user_id", "user", "session"),
    [
        ('{"device_id":"dev1","account_uuid":"","session_id":"s-1"}', "dev1", "s-1"),
        ('{"device_id":"dev1","account_uuid":"acc-9","session_id":"s-1"}', "acc-9", "s-1"),
        ("user_dev1_account_acc-9_session_s-2", "acc-9", "s-2"),
        ("user_dev1_account__session_s-2", "dev1", "s-2"),
        ('{"not": "an agent"}', '{"not": "an agent"}', None),
        ("plain-user", "plain-user", None),
    ],
)
def test_an_agent_user_id_names_the_user_and_the_session(user_id: str, user: str, session: str | None) -> None:
    request = decode(_minimal(metadata={"user_id": user_id}))
    assert (request.user, request.cache_key) == (user, session)
    assert request.hints == ({} if user == user_id else {"metadata": {"user_id": user_id}})


def test_server_tools_and_unmodelled_tool_keys_go_to_extras() -> None:
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    custom = {
        "name": "Read",
        "input_schema": {"type": "object"},
        "defer_loading": False,
        "cache_control": {"type": "ephemeral"},
    }
    request = decode(_minimal(tools=[custom, web_search]))
    assert [tool.name for tool in request.tools] == ["Read"]
    assert request.extras == {"tools[web_search]": web_search, "tools[Read].defer_loading": False}


def test_a_deferred_tool_is_a_hint_not_a_tool() -> None:
    deferred = {"name": "Later", "input_schema": {"type": "object", "properties": {}}, "defer_loading": True}
    request = decode(_minimal(tools=[{"name": "Now", "input_schema": {"type": "object"}}, deferred]))
    assert [tool.name for tool in request.tools] == ["Now"]
    assert (request.hints, request.extras) == ({"tools[Later]": deferred}, {})


def test_structured_output_format_is_a_response_format_and_effort_the_reasoning_effort() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = decode(_minimal(output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "high"}))
    assert request.response_format == ResponseFormat("json_schema", schema=schema)
    assert (request.reasoning, request.extras) == (Reasoning(effort="high"), {})


def test_count_tokens_body_does_not_need_max_tokens() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "system": "You are a scientist",
        "messages": [{"role": "user", "content": "Hello, Claude"}],
    }
    request = AnthropicCodec().decode_count_tokens_request(body)
    assert request.max_tokens is None
    with pytest.raises(BadRequest, match="^max_tokens: field required$"):
        decode(body)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b.pop("max_tokens"), "max_tokens: field required"),
        (lambda b: b.update(max_tokens="10"), "max_tokens: expected an integer, got string"),
        (lambda b: b.update(messages=[]), "messages: at least one message is required"),
        (
            lambda b: b.update(messages=[{"role": "developer", "content": "x"}]),
            "messages.0.role: must be 'user', 'assistant' or 'system'",
        ),
        (lambda b: b.update(messages=[{"role": "user"}]), "messages.0.content: field required"),
        (
            lambda b: b.update(
                messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text"}]}]
            ),
            "messages.0.content.1.text: field required",
        ),
        (
            lambda b: b.update(
                messages=[{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]
            ),
            "messages.0.content.0: 'tool_use' blocks are only allowed in assistant messages",
        ),
        (
            lambda b: b.update(
                messages=[{"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]
            ),
            "messages.0.content.0: 'tool_result' blocks are only allowed in user messages",
        ),
        (
            lambda b: b.update(messages=[{"role": "user", "content": [{"type": "document", "source": {}}]}]),
            "messages.0.content.0: content block type 'document' is not supported",
        ),
        (
            lambda b: b.update(
                messages=[{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]
            ),
            "messages.0.content.0.source.type: image source type 'file' is not supported",
        ),
        (
            lambda b: b.update(
                messages=[{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": []}]}]
            ),
            "messages.0.content.0.input: expected an object, got array",
        ),
        (
            lambda b: b.update(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "document"}]}],
                    }
                ]
            ),
            "messages.0.content.0.content.0: content block type 'document' is not supported",
        ),
        (lambda b: b.update(system=[{"type": "image"}]), "system.0.type: system blocks must be 'text'"),
        (lambda b: b.update(tools=[{"name": "a"}]), "tools.0.input_schema: field required"),
        (
            lambda b: b.update(tools=[{"name": "a", "input_schema": {}}, {"name": "a", "input_schema": {}}]),
            "tools.1.name: duplicate tool name 'a'",
        ),
        (lambda b: b.update(tool_choice={"type": "tool"}), "tool_choice.name: field required"),
        (lambda b: b.update(tool_choice={"type": "sometimes"}), "tool_choice.type: must be one of"),
        (lambda b: b.update(thinking={"type": "enabled"}), "thinking.budget_tokens: field required"),
        (lambda b: b.update(temperature="hot"), "temperature: expected a number, got string"),
        (lambda b: b.update(stop_sequences=["a", 1]), "stop_sequences.1: expected a string, got number"),
        (
            lambda b: b.update(output_config={"format": {"type": "regex"}}),
            "output_config.format.type: must be 'json_schema'",
        ),
    ],
)
def test_malformed_bodies_name_the_field(mutate: Any, message: str) -> None:
    body = _minimal()
    mutate(body)
    with pytest.raises(BadRequest) as caught:
        decode(body)
    assert caught.value.message.startswith(message)
    assert caught.value.status == 400


def test_body_must_be_an_object() -> None:
    with pytest.raises(BadRequest, match="request body: expected an object, got array"):
        decode([])


def test_cache_control_becomes_the_canonical_cache_hint_with_its_lifetime() -> None:
    request = decode(
        {
            "model": "claude-x",
            "max_tokens": 10,
            "system": [{"type": "text", "text": "rules", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
            "tools": [
                {"name": "t", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}},
            ],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}
            ],
        }
    )
    assert request.system == [TextPart("rules", cache="1h")]
    assert request.tools[0].cache == "5m"
    assert request.messages[0].parts == [TextPart("hi", cache="5m")]
    assert "cache_control" not in str(request.extras)


@pytest.mark.parametrize(
    ("control", "message"),
    [
        ({"type": "persistent"}, "must be 'ephemeral'"),
        ({"type": "ephemeral", "ttl": "2d"}, "must be one of 5m, 1h"),
        ("ephemeral", "cache_control"),
    ],
)
def test_a_malformed_cache_control_is_a_400_naming_it(control: object, message: str) -> None:
    body = {
        "model": "m",
        "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "x", "cache_control": control}]}],
    }
    with pytest.raises(BadRequest, match=message) as caught:
        decode(body)
    assert "messages.0.content.0.cache_control" in str(caught.value)
