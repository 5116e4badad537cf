"""The agent upstream over real HTTP: the official SDKs (openai, anthropic, google-genai) run the
tool-call turn and then the answer turn in all four wire formats, streamed and not; raw httpx
checks usage, counts, probes, 404 shapes and the recorded requests' accessors on real shapes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support import agent_sdk_turns as sdk
from tests.support.agent_sdk_turns import PROMPT, SYSTEM, Outcome
from tests.support.agent_upstream import AgentRequest, AgentScript, AgentUpstream
from tests.support.wire_checks import sse_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FORMATS = ("openai-chat", "openai-responses", "anthropic", "gemini")
BASH = AgentScript(tool="Bash", arguments={"command": "cat note.txt"}, answer_prefix="DONE: ", cached_tokens=7)


@dataclass(frozen=True)
class Driver:
    base: Callable[[AgentUpstream], str]
    opening: list[Any]  # the first turn's conversation
    tools: Callable[..., list[Any]]
    turn: Callable[[str, list[Any], list[Any], bool], Outcome]
    second: Callable[[Outcome, str], list[Any]]
    call_finish: str
    stop_finish: str
    first_roles: list[str]
    streams_arguments: bool = True  # Gemini sends a functionCall whole


DRIVERS = {
    "openai-chat": Driver(
        lambda up: up.openai_base_url,
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
        sdk.chat_tools,
        sdk.chat_turn,
        sdk.chat_second,
        "tool_calls",
        "stop",
        ["system", "user"],
    ),
    "openai-responses": Driver(
        lambda up: up.openai_base_url,
        [{"role": "user", "content": PROMPT}],
        sdk.responses_tools,
        sdk.responses_turn,
        sdk.responses_second,
        "completed",
        "completed",
        ["user"],
    ),
    "anthropic": Driver(
        lambda up: up.base_url,  # the SDK adds /v1
        [{"role": "user", "content": PROMPT}],
        sdk.anthropic_tools,
        sdk.anthropic_turn,
        sdk.anthropic_second,
        "tool_use",
        "end_turn",
        ["user"],
    ),
    "gemini": Driver(
        lambda up: up.base_url,  # the SDK adds /v1beta
        [{"role": "user", "parts": [{"text": PROMPT}]}],
        sdk.gemini_tools,
        sdk.gemini_turn,
        sdk.gemini_second,
        "STOP",
        "STOP",
        ["user"],
        streams_arguments=False,
    ),
}


@pytest.fixture
def up() -> Iterator[AgentUpstream]:
    with AgentUpstream(BASH) as server:
        yield server


def _turn(
    up: AgentUpstream, fmt: str, tools: tuple[str, ...], stream: bool = False, more: list[Any] | None = None
) -> Outcome:
    d = DRIVERS[fmt]
    return d.turn(d.base(up), d.opening + (more or []), d.tools(*tools), stream)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_tool_call_then_answer_through_the_sdk(up: AgentUpstream, fmt: str, stream: bool) -> None:
    d = DRIVERS[fmt]
    first = _turn(up, fmt, ("Read", "Bash"), stream)
    assert (first.call_name, first.arguments) == ("Bash", {"command": "cat note.txt"})
    assert (first.text, first.finish, first.cached) == ("", d.call_finish, 7)
    if stream:
        assert first.pieces > 1 if d.streams_arguments else first.pieces == 1

    second = _turn(up, fmt, ("Read", "Bash"), stream, d.second(first, "hello from note"))
    assert (second.call_name, second.text, second.finish, second.cached) == (
        None,
        "DONE: hello from note",
        d.stop_finish,
        7,
    )
    if stream:
        assert second.pieces > 1

    one, two = up.wait_idle()
    assert [r.format for r in (one, two)] == [fmt, fmt]
    assert [r.stream for r in (one, two)] == [stream, stream]
    assert one.tool_names == two.tool_names == ["Read", "Bash"]
    assert one.roles == d.first_roles
    assert two.roles == [*d.first_roles, "tool-call", "tool-result"]
    assert (one.tool_results, two.tool_results) == ([], ["hello from note"])
    assert two.system_text == SYSTEM and one.user_texts == [PROMPT]
    assert [c.name for c in two.tool_calls] == ["Bash"]
    assert (one.answered, one.called_tool, orjson.loads(one.call_arguments or "")) == (
        "tool-call",
        "Bash",
        {"command": "cat note.txt"},
    )
    assert (two.answered, two.reply_text, two.status) == ("answer", "DONE: hello from note", 200)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_flattened_namespaced_tool_is_found_by_its_suffix(up: AgentUpstream, fmt: str) -> None:
    got = _turn(up, fmt, ("mcp__fs__read_file", "BashOutput", "ns__Bash"))
    assert (got.call_name, got.arguments) == ("ns__Bash", {"command": "cat note.txt"})
    assert up.wait_idle()[0].called_tool == "ns__Bash"


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_the_scripted_tool_the_answer_names_the_offered_ones(up: AgentUpstream, fmt: str) -> None:
    got = _turn(up, fmt, ("Read", "Write"))
    assert got.call_name is None
    assert got.text == "agent upstream: no tool 'Bash' among the offered tools: Read, Write"
    assert got.finish == DRIVERS[fmt].stop_finish
    assert up.wait_idle()[0].answered == "no-such-tool"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_request_without_tools_gets_the_side_text(up: AgentUpstream, fmt: str, stream: bool) -> None:
    got = _turn(up, fmt, (), stream)
    assert (got.call_name, got.text, got.finish) == (None, "ok", DRIVERS[fmt].stop_finish)
    [request] = up.wait_idle()
    assert (request.answered, request.tool_names) == ("side", [])


def test_arguments_can_be_built_from_the_request() -> None:
    script = AgentScript(tool="Bash", arguments=lambda r: {"command": f"echo {len(r.roles)} {r.user_texts[-1]}"})
    with AgentUpstream(script) as up:
        got = _turn(up, "anthropic", ("Bash",))
    assert got.arguments == {"command": f"echo 1 {PROMPT}"}


def test_a_failing_arguments_callable_is_a_500_that_keeps_the_reason() -> None:
    def broken(request: AgentRequest) -> dict[str, Any]:
        raise KeyError("no path")

    with AgentUpstream(AgentScript(tool="Bash", arguments=broken)) as up:
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "tools": sdk.chat_tools("Bash")}
        answer = httpx.post(up.openai_base_url + "/chat/completions", json=body)
        assert answer.status_code == 500 and "no path" in answer.json()["error"]["message"]
        [request] = up.wait_idle()
    assert (request.answered, request.status) == ("error", 500)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_responses_custom_tool_gets_its_raw_input(stream: bool) -> None:
    patch = "*** Begin Patch\n*** Add File: a.txt\n+hello\n*** End Patch\n"
    with AgentUpstream(AgentScript(tool="apply_patch", arguments=patch)) as up:
        body = {
            "model": "m",
            "input": "patch it",
            "tools": [{"type": "custom", "name": "apply_patch"}],
            "stream": stream,
        }
        answer = httpx.post(up.openai_base_url + "/responses", json=body)
    if stream:
        events = sse_json(answer.content)
        deltas = [e["delta"] for e in events if e["type"] == "response.custom_tool_call_input.delta"]
        assert len(deltas) > 1 and "".join(deltas) == patch
        assert [e["sequence_number"] for e in events] == list(range(len(events)))
        [done] = [e["item"] for e in events if e["type"] == "response.output_item.done"]
    else:
        [done] = answer.json()["output"]
    assert (done["type"], done["name"], done["input"]) == ("custom_tool_call", "apply_patch", patch)


# -- usage and counts -----------------------------------------------------------------

USAGE_PATHS = {
    "openai-chat": "/v1/chat/completions",
    "openai-responses": "/v1/responses",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/gemini-test:generateContent",
}


def _raw_body(fmt: str, stream: bool) -> dict[str, Any]:
    if fmt == "gemini":
        return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    key = "input" if fmt == "openai-responses" else "messages"
    body: dict[str, Any] = {"model": "m", key: [{"role": "user", "content": "hi"}], "stream": stream, "max_tokens": 10}
    if fmt == "openai-chat" and stream:
        body["stream_options"] = {"include_usage": True}
    return body


def _usage_of(fmt: str, answer: httpx.Response, stream: bool) -> dict[str, Any]:
    """The usage the answer reports, the last one seen in a stream."""
    if not stream:
        payloads = [answer.json()]
    else:
        payloads = sse_json(answer.content)
    found: dict[str, Any] = {}
    for p in payloads:
        for holder in (p, p.get("response") or {}, p.get("message") or {}):
            usage = holder.get("usage") or holder.get("usageMetadata")
            if usage:
                found = {**found, **usage}
    return found


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "openai-chat",
            {
                "prompt_tokens": 100,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 30, "audio_tokens": 0},
            },
        ),
        ("openai-responses", {"input_tokens": 100, "output_tokens": 5, "input_tokens_details": {"cached_tokens": 30}}),
        ("anthropic", {"input_tokens": 70, "cache_read_input_tokens": 30, "output_tokens": 5}),
        ("gemini", {"promptTokenCount": 100, "candidatesTokenCount": 5, "cachedContentTokenCount": 30}),
    ],
)
def test_usage_reports_the_scripted_cached_tokens(fmt: str, expected: dict[str, Any], stream: bool) -> None:
    script = AgentScript(tool="Bash", cached_tokens=30, input_tokens=100, output_tokens=5)
    path = USAGE_PATHS[fmt]
    if fmt == "gemini" and stream:
        path = path.replace(":generateContent", ":streamGenerateContent?alt=sse")
    with AgentUpstream(script) as up:
        answer = httpx.post(up.base_url + path, json=_raw_body(fmt, stream))
    assert answer.status_code == 200
    usage = _usage_of(fmt, answer, stream)
    assert {k: usage.get(k) for k in expected} == expected


def test_count_tokens_match_the_usage_of_the_same_conversation(up: AgentUpstream) -> None:
    messages: list[Any] = [{"role": "user", "content": "count these words please"}]
    claude = sdk.anthropic_client(up.base_url)
    counted = claude.messages.count_tokens(model="claude-test", system=SYSTEM, messages=messages)
    used = claude.messages.create(model="claude-test", max_tokens=10, system=SYSTEM, messages=messages).usage
    assert counted.input_tokens == used.input_tokens + (used.cache_read_input_tokens or 0)

    gemini = sdk.gemini_client(up.base_url)
    total = gemini.models.count_tokens(model="gemini-test", contents="count these words please").total_tokens
    meta = gemini.models.generate_content(model="gemini-test", contents="count these words please").usage_metadata
    assert meta is not None and total == meta.prompt_token_count

    body = {"model": "m", "input": "count these words please"}
    tokens = httpx.post(up.openai_base_url + "/responses/input_tokens", json=body).json()
    answered = httpx.post(up.openai_base_url + "/responses", json=body).json()
    assert tokens == {"object": "response.input_tokens", "input_tokens": answered["usage"]["input_tokens"]}

    kinds = [(r.format, r.kind, r.answered) for r in up.wait_idle()]
    assert kinds == [
        ("anthropic", "count_tokens", "count"),
        ("anthropic", "generate", "side"),
        ("gemini", "count_tokens", "count"),
        ("gemini", "generate", "side"),
        ("openai-responses", "count_tokens", "count"),
        ("openai-responses", "generate", "side"),
    ]


def test_a_gemini_stream_without_alt_sse_is_a_json_array(up: AgentUpstream) -> None:
    url = up.gemini_base_url + "/models/gemini-test:streamGenerateContent"
    body = {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": [{"name": "Bash"}]}]}
    chunks = httpx.post(url, json=body).json()
    assert chunks[0]["candidates"][0]["content"]["parts"] == [
        {"functionCall": {"name": "Bash", "args": {"command": "cat note.txt"}}}
    ]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    [request] = up.wait_idle()
    assert (request.model, request.stream, request.query) == ("gemini-test", True, {})


# -- probes, unknown paths, recordings --------------------------------------------------


def test_probes_answer_200_and_unknown_paths_a_404_in_a_plausible_shape(up: AgentUpstream) -> None:
    with httpx.Client(base_url=up.base_url) as http:
        assert http.head("/").status_code == 200
        assert http.get("/").status_code == 200
        openai_404 = http.post("/v1/embeddings?x=1", json={"model": "m"}, headers={"Authorization": "Bearer sk-t"})
        anthropic_404 = http.post("/v1/complete", json={}, headers={"anthropic-version": "2023-06-01"})
        gemini_404 = http.post("/v1beta/models/g:embedContent", json={})
        models = http.get("/v1/models").json()
    assert openai_404.status_code == anthropic_404.status_code == gemini_404.status_code == 404
    assert openai_404.json()["error"]["message"] == "Invalid URL (POST /v1/embeddings)"
    assert anthropic_404.json()["error"]["type"] == "not_found_error"
    assert gemini_404.json()["error"]["status"] == "NOT_FOUND"
    assert models == {"object": "list", "data": []}
    recorded = up.wait_idle()
    assert [(r.method, r.kind, r.status) for r in recorded] == [
        ("HEAD", "probe", 200),
        ("GET", "probe", 200),
        ("POST", "unknown", 404),
        ("POST", "unknown", 404),
        ("POST", "unknown", 404),
        ("GET", "models", 200),
    ]
    assert recorded[2].query == {"x": "1"} and recorded[2].headers["authorization"] == "Bearer sk-t"
    assert recorded[2].body == {"model": "m"}


def _fixture(path: str) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads((FIXTURES / path).read_bytes())
    body.pop("_comment", None)
    return body


RESPONSES_BODY = {  # the item shapes Codex sends (no "type" on messages, list outputs, custom tool output)
    "model": "m",
    "instructions": "Be brief.",
    "input": [
        {"role": "developer", "content": [{"type": "input_text", "text": "Sandbox: workspace-write"}]},
        {"role": "user", "content": [{"type": "input_text", "text": "fix it"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
        {"type": "function_call", "call_id": "c1", "name": "shell", "arguments": '{"command":["ls"]}'},
        {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "a.txt"}]},
        {"type": "custom_tool_call", "call_id": "c2", "name": "apply_patch", "input": "*** Begin Patch"},
        {"type": "custom_tool_call_output", "call_id": "c2", "output": "Success."},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Done."}]},
        {"type": "web_search_call", "id": "ws_1", "status": "completed"},
    ],
    "tools": [{"type": "function", "name": "shell"}, {"type": "custom", "name": "apply_patch"}, {"type": "web_search"}],
}
CHAT_BODY = {
    "model": "m",
    "messages": [
        {"role": "developer", "content": "Dev rules."},
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {
            "role": "assistant",
            "content": "Looking.",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "Read", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "file body"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "Read"}}],
}


@pytest.mark.parametrize(
    ("path", "body", "roles", "results", "system", "tools"),
    [
        (
            "/v1/messages",
            _fixture("anthropic/examples/messages-request-constructed.json"),
            ["user", "assistant", "tool-call", "tool-call", "tool-result", "tool-result", "user"],
            ["22C sunny", "error: upstream timeout"],
            "You are a helpful assistant.",
            ["get_current_weather"],
        ),
        (
            "/v1beta/models/gemini-test:generateContent",
            _fixture("gemini/generateContent-request-constructed.json"),
            ["user", "tool-call", "tool-result"],
            ['{"temperature":22,"unit":"celsius"}'],
            "You are a helpful assistant.",
            ["get_current_weather"],
        ),
        (
            "/v1/responses",
            RESPONSES_BODY,
            [
                "developer",
                "user",
                "tool-call",
                "tool-result",
                "tool-call",
                "tool-result",
                "assistant",
                "web_search_call",
            ],
            ["a.txt", "Success."],
            "Be brief.\n\nSandbox: workspace-write",
            ["shell", "apply_patch"],
        ),
        (
            "/v1/chat/completions",
            CHAT_BODY,
            ["developer", "user", "assistant", "tool-call", "tool-result"],
            ["file body"],
            "Dev rules.",
            ["Read"],
        ),
    ],
    ids=["anthropic", "gemini", "openai-responses", "openai-chat"],
)
def test_accessors_read_each_formats_real_shapes(
    up: AgentUpstream,
    path: str,
    body: dict[str, Any],
    roles: list[str],
    results: list[str],
    system: str,
    tools: list[str],
) -> None:
    answer = httpx.post(up.base_url + path, json=body)
    assert answer.status_code == 200
    [request] = up.wait_idle()
    assert (request.roles, request.tool_results, request.system_text, request.tool_names) == (
        roles,
        results,
        system,
        tools,
    )
    assert request.answered == "answer" and request.reply_text == "DONE: " + results[-1]


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
