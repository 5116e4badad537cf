"""Turnout's own upstream adapters read the agent upstream's answers as the scripts meant them:
the one tool call (name, arguments), the answer text, the stop reason and the usage with its
cached part, whole and streamed, in all four wire formats. So an e2e test failing through the
gateway is not the fake's wire being off."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from engine.canonical import (
    ChatResponse,
    PartStart,
    StreamEnd,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCall,
    Usage,
)
from providers.base import Endpoint
from providers.registry import build_registry
from tests.support.agent_upstream import AgentScript, AgentUpstream

SCRIPT = AgentScript(
    tool="Bash",
    arguments={"command": "ls -la"},
    answer_prefix="DONE: ",
    cached_tokens=30,
    input_tokens=100,
    output_tokens=5,
)
USAGE = Usage(input_tokens=100, output_tokens=5, cached_input_tokens=30)
ADAPTER_FORMAT = {
    "openai-chat": "openai",
    "openai-responses": "openai-responses",
    "anthropic": "anthropic",
    "gemini": "gemini",
}
SCHEMA = {"type": "object", "properties": {"command": {"type": "string"}}}


def _request(fmt: str, stream: bool, with_result: bool) -> tuple[str, dict[str, Any]]:
    """The path and body of a turn declaring ``Bash``, with the tool's result or without."""
    if fmt == "gemini":
        contents: list[Any] = [{"role": "user", "parts": [{"text": "list"}]}]
        if with_result:
            contents += [
                {"role": "model", "parts": [{"functionCall": {"name": "Bash", "args": {"command": "ls -la"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "Bash", "response": {"output": "a.txt"}}}]},
            ]
        verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/v1beta/models/gemini-test:{verb}", {
            "contents": contents,
            "tools": [{"functionDeclarations": [{"name": "Bash", "parameters": SCHEMA}]}],
        }
    if fmt == "openai-chat":
        messages: list[Any] = [{"role": "user", "content": "list"}]
        if with_result:
            call = {"id": "c1", "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
            messages += [
                {"role": "assistant", "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "c1", "content": "a.txt"},
            ]
        tools: list[Any] = [{"type": "function", "function": {"name": "Bash", "parameters": SCHEMA}}]
        body = (
            {"messages": messages, "tools": tools, "stream_options": {"include_usage": True}}
            if stream
            else {"messages": messages, "tools": tools}
        )
        return "/v1/chat/completions", {"model": "m", "stream": stream, **body}
    if fmt == "openai-responses":
        items: list[Any] = [{"role": "user", "content": "list"}]
        if with_result:
            items += [
                {"type": "function_call", "call_id": "c1", "name": "Bash", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
            ]
        return "/v1/responses", {
            "model": "m",
            "stream": stream,
            "input": items,
            "tools": [{"type": "function", "name": "Bash", "parameters": SCHEMA}],
        }
    turns: list[Any] = [{"role": "user", "content": "list"}]
    if with_result:
        turns += [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}]},
        ]
    tools = [{"name": "Bash", "input_schema": SCHEMA}]
    return "/v1/messages", {"model": "m", "max_tokens": 100, "stream": stream, "messages": turns, "tools": tools}


def _from_stream(events: list[StreamEvent]) -> tuple[list[str], list[str], str, Usage, int]:
    """Texts, calls (``name args``), stop reason, usage and how many argument/text deltas came."""
    texts: dict[int, str] = {}
    calls: dict[int, list[str]] = {}
    deltas, stop, usage = 0, "", Usage()
    for event in events:
        if isinstance(event, PartStart) and isinstance(event.part, ToolCall):
            calls[event.index] = [event.part.name, event.part.arguments]
        elif isinstance(event, ToolArgsDelta):
            calls[event.index][1] += event.fragment
            deltas += 1
        elif isinstance(event, TextDelta):
            texts[event.index] = texts.get(event.index, "") + event.text
            deltas += 1
        elif isinstance(event, StreamEnd):
            stop, usage = event.stop_reason, event.usage
    return [t for t in texts.values() if t], [f"{n} {a}" for n, a in calls.values()], stop, usage, deltas


def _from_whole(response: ChatResponse) -> tuple[list[str], list[str], str, Usage, int]:
    texts = [p.text for p in response.parts if isinstance(p, TextPart) and p.text]
    calls = [f"{p.name} {p.arguments}" for p in response.parts if isinstance(p, ToolCall)]
    return texts, calls, response.stop_reason, response.usage, 1


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fmt", list(ADAPTER_FORMAT))
def test_turnout_reads_the_call_then_the_answer(fmt: str, stream: bool) -> None:
    adapter = build_registry().adapter(ADAPTER_FORMAT[fmt])
    with AgentUpstream(SCRIPT) as up:
        endpoint = Endpoint("agent", ADAPTER_FORMAT[fmt], up.base_url, "k", "m")
        seen = []
        for with_result in (False, True):
            path, body = _request(fmt, stream, with_result)
            answer = httpx.post(
                up.base_url + path, content=orjson.dumps(body), headers={"content-type": "application/json"}
            )
            assert answer.status_code == 200, answer.text
            if stream:
                decoder = adapter.stream_decoder(endpoint)
                seen.append(_from_stream([*decoder.feed(answer.content), *decoder.close()]))
            else:
                seen.append(_from_whole(adapter.decode_response(answer.content, endpoint)))
    (texts, calls, stop, usage, deltas), (texts2, calls2, stop2, usage2, deltas2) = seen
    assert (texts, calls, stop, usage) == ([], ['Bash {"command":"ls -la"}'], "tool_use", USAGE)
    assert (texts2, calls2, stop2, usage2) == (["DONE: a.txt"], [], "end", USAGE)
    if stream:
        assert deltas2 > 1 and (deltas > 1 or fmt == "gemini")  # Gemini sends a call whole
