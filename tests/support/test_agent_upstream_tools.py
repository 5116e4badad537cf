"""Free-form and namespaced tools: a Responses ``custom`` tool gets its raw input, a namespace's
tools are listed flat and called in their namespace, and a free-form tool a gateway flattened to
a function of one string gets the scripted string as that parameter, in every format."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.support.agent_upstream import AgentScript, AgentUpstream
from tests.support.wire_checks import sse_json

PATCH = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n"
ONE_STRING = {"type": "object", "properties": {"input": {"type": "string"}}, "required": ["input"]}


@pytest.fixture
def up() -> Iterator[AgentUpstream]:
    with AgentUpstream(AgentScript(tool="Bash", answer_prefix="DONE: ")) as server:
        yield server


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_responses_custom_tool_gets_its_raw_input(stream: bool) -> None:
    with AgentUpstream(AgentScript(tool="apply_PATCH", arguments=PATCH)) as up:
        body = {
            "model": "m",
            "input": "patch it",
            "tools": [{"type": "custom", "name": "apply_PATCH"}],
            "stream": stream,
        }
        answer = httpx.post(up.openai_base_url + "/responses", json=body)
    if stream:
        events = sse_json(answer.content)
        deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
        assert len(deltas) > 1 and "".join(deltas) == PATCH
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        [done] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    else:
        [done] = answer.json()["output"]
    assert (done["type"], done["name"], done["input"]) == ("custom_tool_call", "apply_PATCH", PATCH)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_responses_namespace_tool_is_listed_flat_and_called_in_its_namespace(up: AgentUpstream, stream: bool) -> None:
    namespace = {
        "type": "namespace",
        "name": "fs",
        "description": "files",
        "tools": [{"type": "function", "name": "Bash"}],
    }
    tools = [namespace, {"type": "web_search"}, {"type": "function", "name": "BashOutput"}]
    body = {"model": "m", "input": "go", "tools": tools, "stream": stream}
    answer = httpx.post(up.openai_base_url + "/responses", json=body)
    if stream:
        [call] = [e["item"] for e in sse_json(answer.content) if e["type"] == "response.output_item.done"]
    else:
        [call] = answer.json()["output"]
    assert (call["type"], call["namespace"], call["name"]) == ("function_call", "fs", "Bash")
    history = [
        {"type": "function_call", "call_id": call["call_id"], "namespace": "fs", "name": "Bash", "arguments": "{}"}
    ]
    history.append({"type": "function_call_output", "call_id": call["call_id"], "output": "listed"})
    httpx.post(up.openai_base_url + "/responses", json={**body, "input": history})
    first, second = up.wait_idle()
    assert first.tool_names == ["fs__Bash", "BashOutput"] and first.called_tool == "fs__Bash"
    assert [c.name for c in second.tool_calls] == ["fs__Bash"] and second.reply_text == "DONE: listed"


FLATTENED = {  # the path and body of a request declaring apply_patch as a function of one string
    "openai-chat": (
        "/v1/chat/completions",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "go"}],
            "tools": [{"type": "function", "function": {"name": "apply_patch", "parameters": ONE_STRING}}],
        },
    ),
    "openai-responses": (
        "/v1/responses",
        {"model": "m", "input": "go", "tools": [{"type": "function", "name": "apply_patch", "parameters": ONE_STRING}]},
    ),
    "anthropic": (
        "/v1/messages",
        {
            "model": "m",
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "go"}],
            "tools": [{"name": "apply_patch", "input_schema": ONE_STRING}],
        },
    ),
    "gemini": (
        "/v1beta/models/g:generateContent",
        {
            "contents": [{"parts": [{"text": "go"}]}],
            "tools": [{"functionDeclarations": [{"name": "apply_patch", "parametersJsonSchema": ONE_STRING}]}],
        },
    ),
}


def _call_arguments(fmt: str, answer: dict[str, Any]) -> Any:
    if fmt == "openai-chat":
        return answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    if fmt == "openai-responses":
        return answer["output"][0]["arguments"]
    if fmt == "anthropic":
        return answer["content"][0]["input"]
    return answer["candidates"][0]["content"]["parts"][0]["functionCall"]["args"]


@pytest.mark.parametrize("fmt", list(FLATTENED))
def test_a_flattened_free_form_tool_gets_the_string_as_its_one_parameter(fmt: str) -> None:
    path, body = FLATTENED[fmt]
    with AgentUpstream(AgentScript(tool="apply_patch", arguments=PATCH)) as up:
        answer = httpx.post(up.base_url + path, json=body)
    arguments = _call_arguments(fmt, answer.json())
    assert (orjson.loads(arguments) if isinstance(arguments, str) else arguments) == {"input": PATCH}


def test_a_string_that_fits_no_parameter_is_a_500_naming_the_tool() -> None:
    body = {
        "model": "m",
        "max_tokens": 9,
        "messages": [{"role": "user", "content": "go"}],
        "tools": [{"name": "Bash", "input_schema": {"type": "object"}}],
    }
    with AgentUpstream(AgentScript(tool="Bash", arguments="ls -la")) as up:
        answer = httpx.post(up.anthropic_base_url + "/messages", json=body)
        [request] = up.wait_idle()
    assert answer.status_code == 500 and answer.json()["error"]["type"] == "api_error"
    assert "'Bash'" in answer.json()["error"]["message"] and request.answered == "error"
