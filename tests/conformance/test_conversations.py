"""Multi-turn tool use across formats, the way real clients drive it.

* A Claude-Code-style agent loop (Anthropic SDK, streamed: cached system blocks, several
  tools, thinking disabled, assistant ``tool_use`` sent back verbatim, a user turn with
  several ``tool_result``s one of them ``is_error``) routed to an OpenAI Chat upstream
  over three turns. The client sees ``toolu_`` ids; the upstream gets its own back.
* A Gemini SDK chat (``client.chats.create``) with function declarations routed to an
  Anthropic upstream over two turns: ``functionCall``, then ``functionResponse``.
"""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
from google.genai import types

from tests.conformance import transcripts
from tests.conformance.case import public_model
from tests.conformance.clients import ClosableDriver
from tests.conformance.clients.anthropic import AnthropicDriver
from tests.conformance.clients.gemini import GeminiDriver, declarations
from tests.conformance.vendors import Vendor
from tests.conformance.vendors.anthropic import JSON_TOOL
from tests.conformance.vendors.base import SeenCall, SeenResult
from tests.conformance.vendors.openai_chat import WEATHER
from tests.support.fake_upstream import FakeUpstream

CLAUDE_SYSTEM: list[dict[str, Any]] = [
    {
        "type": "text",
        "text": "You are Claude Code, Anthropic's official CLI for Claude.",
        "cache_control": {"type": "ephemeral"},
    },
    {
        "type": "text",
        "text": "You are an interactive CLI tool that helps users with software engineering tasks.",
        "cache_control": {"type": "ephemeral"},
    },
]
BASH = {
    "name": "Bash",
    "description": "Executes a given bash command and returns its output.",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    },
}
CLAUDE_TOOLS = [
    {"name": WEATHER.name, "description": WEATHER.description, "input_schema": WEATHER.parameters},
    BASH,
]


def _claude_turn(sdk: anthropic.Anthropic, messages: list[dict[str, Any]]) -> Any:
    with sdk.messages.stream(
        model=public_model("openai"),
        max_tokens=32000,
        system=CLAUDE_SYSTEM,  # type: ignore[arg-type]
        tools=CLAUDE_TOOLS,  # type: ignore[arg-type]
        thinking={"type": "disabled"},
        messages=messages,  # type: ignore[arg-type]
    ) as live:
        return live.get_final_message()


def _issued_call_ids(name: str) -> list[str]:
    """The tool call ids an OpenAI recording issues, in order."""
    return [
        call["id"]
        for chunk in transcripts.sse_payloads("openai", name)
        for choice in chunk.get("choices") or ()
        for call in choice["delta"].get("tool_calls") or ()
        if call.get("id")
    ]


def test_claude_code_loop_against_an_openai_upstream(
    drivers: dict[str, ClosableDriver], vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    driver = drivers["anthropic"]
    assert isinstance(driver, AnthropicDriver)
    openai_vendor, fake = vendors["openai"], fakes["openai"]
    fake.reset()
    parallel = openai_vendor.parallel_tool_calls(stream=True)
    single = openai_vendor.streamed_tool_args()
    final = openai_vendor.text(stream=True)
    fake.script(openai_vendor.upstream_model, parallel.reply, single.reply, final.reply)

    # turn 1: two parallel tool calls
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What's the weather in Edinburgh and London?"}]
    first = _claude_turn(driver.sdk, messages)
    assert first.stop_reason == "tool_use"
    uses = [b for b in first.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [(c.name, c.arguments) for c in parallel.expected.calls]
    edinburgh, london = (u.id for u in uses)

    # turn 2: the assistant turn verbatim, then both results (one failed)
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]})
    messages.append(
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": edinburgh,
                    "content": [{"type": "text", "text": "11°C, drizzle"}],
                },
                {"type": "tool_result", "tool_use_id": london, "content": "weather station offline", "is_error": True},
            ],
        }
    )
    second = _claude_turn(driver.sdk, messages)
    assert second.stop_reason == "tool_use"
    [retry] = [b for b in second.content if b.type == "tool_use"]
    assert (retry.name, retry.input) == (single.expected.calls[0].name, single.expected.calls[0].arguments)

    # turn 3: the last result, then the answer
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in second.content]})
    messages.append({"role": "user", "content": [{"type": "tool_result", "tool_use_id": retry.id, "content": "9°C"}]})
    third = _claude_turn(driver.sdk, messages)
    assert third.stop_reason == "end_turn"
    assert "".join(b.text for b in third.content if b.type == "text") == final.expected.text
    assert driver.usage_view(final.expected.usage) == {
        "input_tokens": third.usage.input_tokens,
        "output_tokens": third.usage.output_tokens,
        "cache_read_input_tokens": third.usage.cache_read_input_tokens or 0,
        "cache_creation_input_tokens": third.usage.cache_creation_input_tokens or 0,
    }

    # what the OpenAI upstream saw, turn by turn
    requests = fake.requests
    assert len(requests) == 3
    seen = [openai_vendor.read_request(r) for r in requests]
    for body, view in zip((r.json for r in requests), seen, strict=True):
        assert body["stream"] is True
        assert view.system is not None
        assert [b["text"] in view.system for b in CLAUDE_SYSTEM] == [True, True]
        assert view.system.index(CLAUDE_SYSTEM[0]["text"]) < view.system.index(CLAUDE_SYSTEM[1]["text"])
        assert view.tool_names == ["GetWeatherArgs", "Bash"]
        assert b"cache_control" not in orjson.dumps(body)
        # thinking disabled is canonical budget 0, which the OpenAI adapter documents as
        # the least reasoning it can ask for; nothing Anthropic-only leaks through
        assert body.get("reasoning_effort") == "minimal"
        assert not {"reasoning", "thinking"} & set(body)
    # the client was shown toolu_ ids; the upstream gets back the very ids it issued
    assert all(u.id.startswith("toolu_") for u in (*uses, retry)), [u.id for u in (*uses, retry)]
    issued = _issued_call_ids("parallel-tool-calls.sse")
    [retry_issued] = _issued_call_ids("tool-call.sse")
    assert seen[0].calls == [] and seen[0].results == []
    assert seen[1].calls == [SeenCall(i, u.name, dict(u.input)) for i, u in zip(issued, uses, strict=True)]
    assert seen[1].results == [
        SeenResult(issued[0], None, "11°C, drizzle"),
        SeenResult(issued[1], None, "Error: weather station offline"),
    ]
    assert seen[2].calls == [*seen[1].calls, SeenCall(retry_issued, retry.name, dict(retry.input))]
    assert seen[2].results == [*seen[1].results, SeenResult(retry_issued, None, "9°C")]
    assert [m["role"] for m in requests[2].json["messages"]] == [
        "system",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "tool",
    ]


def test_gemini_chat_with_function_calling_against_an_anthropic_upstream(
    drivers: dict[str, ClosableDriver], vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    driver = drivers["gemini"]
    assert isinstance(driver, GeminiDriver)
    claude, fake = vendors["anthropic"], fakes["anthropic"]
    fake.reset()
    call = claude.tool_call()  # the recorded `json` tool call
    answer = claude.text(stream=False)
    fake.script(claude.upstream_model, call.reply, answer.reply)
    chat = driver.sdk.chats.create(
        model=public_model("anthropic"),
        config=types.GenerateContentConfig(
            system_instruction="Report weather as structured data.",
            tools=declarations((JSON_TOOL,)),
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        ),
    )

    first = chat.send_message("The weather in San Francisco, London, Paris and Berlin, as JSON.")
    [function_call] = first.function_calls or []
    assert (function_call.name, function_call.args) == (call.expected.calls[0].name, call.expected.calls[0].arguments)
    assert first.candidates and first.candidates[0].finish_reason == types.FinishReason.STOP

    result = {"result": "stored 4 rows"}
    second = chat.send_message(types.Part.from_function_response(name="json", response=result))
    assert second.text == answer.expected.text
    assert [c.role for c in chat.get_history()] == ["user", "model", "user", "model"]

    first_seen, second_seen = (claude.read_request(r) for r in fake.requests)
    assert first_seen.system == second_seen.system == "Report weather as structured data."
    assert first_seen.tool_names == second_seen.tool_names == ["json"]
    assert first_seen.calls == [] and first_seen.results == []
    [sent_call] = second_seen.calls
    assert (sent_call.name, sent_call.arguments) == ("json", function_call.args)
    recorded_id = transcripts.load_json("anthropic", "tool-call.json")["content"][0]["id"]
    assert sent_call.id == function_call.id == recorded_id  # the Anthropic id made the round trip
    [sent_result] = second_seen.results
    assert sent_result.call_id == sent_call.id  # the response answers that very call
    assert orjson.loads(sent_result.text) == result
    assert [m["role"] for m in fake.requests[1].json["messages"]] == ["user", "assistant", "user"]
