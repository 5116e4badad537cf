"""The real Codex CLI through an alias onto every upstream format (OpenAI chat, Responses,
Anthropic, Gemini), against the real gateway and a scripted fake model.

The fake answers Codex's first request with one call to a tool Codex declared, and the request
carrying the tool's result with ``DONE: `` and that result's text, so Codex's final answer holds
what the tool really printed. Each test asserts Codex's exit status and final answer and what
the fake received (declared tools and their flat names, roles, the tool result).
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.agents.codex_cli import VERSION, ensure_installed, run_codex
from tests.e2e.conftest import StartGateway
from tests.e2e_keys.waiting import wait_until
from tests.support.agent_request import AgentRequest
from tests.support.agent_upstream import AgentScript, AgentUpstream
from tests.support.gateway import GatewayProcess

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "agents" / f"codex-{VERSION}-first-request.json"
# channel format -> (the fake's base URL attribute, the format the fake records)
FORMATS = {
    "openai": ("openai_base_url", "openai-chat"),
    "openai-responses": ("openai_base_url", "openai-responses"),
    "anthropic": ("anthropic_base_url", "anthropic"),
    "gemini": ("gemini_base_url", "gemini"),
}
ANTHROPIC_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # the strictest of the four formats

CHANNEL = """
[channels.up-{fmt}]
format = "{fmt}"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ "agent-{fmt}" = "fake-{fmt}" }}

[models.agent-{fmt}]
price = {{ input = 1.0, output = 2.0, cached_input = 0.1 }}
context_window = 400000
capabilities = ["tools", "vision", "json"]

[aliases.codex-{fmt}]
rules = [ {{ when = "true", use = ["agent-{fmt}"] }} ]
"""


@pytest.fixture(scope="module")
def codex_binary() -> Path:
    return ensure_installed()  # installs the pinned CLIs when missing; fails loudly, never skips


@pytest.fixture(scope="module")
def upstream() -> Iterator[AgentUpstream]:
    with AgentUpstream(AgentScript(tool="exec_command")) as up:
        yield up


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, upstream: AgentUpstream) -> GatewayProcess:
    policy = "".join(CHANNEL.format(fmt=fmt, base=getattr(upstream, attr)) for fmt, (attr, _) in FORMATS.items())
    return launch(policy)


# Every scripted answer reports this usage (the cached part inside the input, each format its
# own way); at the price above (USD per 1M tokens = micro-dollars per token) the uncached input
# costs 1.0, the cached part 0.1, the output 2.0.
INPUT, CACHED, OUTPUT = 50_000, 40_000, 300
COST_MICROS = (INPUT - CACHED) * 1 + CACHED // 10 + OUTPUT * 2


def _usage_rows(gateway: GatewayProcess, alias: str, count: int) -> list[dict[str, Any]] | None:
    """The request rows of ``alias`` in the usage log, once there are ``count`` of them."""
    db = sqlite3.connect(gateway.workdir / "data" / "turnout.db")
    db.row_factory = sqlite3.Row
    try:
        found = db.execute(
            "SELECT prompt_tokens, completion_tokens, cached_tokens, cost_micros FROM usage_log"
            " WHERE model_requested = ? AND attempt IS NULL",
            (alias,),
        ).fetchall()
    finally:
        db.close()
    return [dict(row) for row in found] if len(found) >= count else None


def _turns(upstream: AgentUpstream) -> tuple[AgentRequest, AgentRequest]:
    """The generation that called the tool and the one that answered from its result."""
    generations = [r for r in upstream.wait_idle() if r.kind == "generate" and r.tool_names]
    calls = [r for r in generations if r.answered == "tool-call"]
    answers = [r for r in generations if r.answered == "answer"]
    assert calls and answers, [(r.path, r.answered, r.reply_text[:200]) for r in generations]
    return calls[0], answers[-1]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_codex_runs_its_shell_tool_through_an_alias(
    fmt: str, codex_binary: Path, upstream: AgentUpstream, gateway: GatewayProcess, tmp_path: Path
) -> None:
    token = f"turnout-codex-{fmt}-{uuid.uuid4().hex[:8]}"
    (tmp_path / "notes.txt").write_text(token + "\n")
    upstream.reset()
    upstream.script = AgentScript(
        tool="exec_command",
        arguments={"cmd": "cat notes.txt"},
        answer_prefix="DONE: ",
        input_tokens=INPUT,
        cached_tokens=CACHED,
        output_tokens=OUTPUT,
    )
    alias = f"codex-{fmt}"

    run = run_codex(gateway.base_url, alias, "Print the contents of notes.txt.", tmp_path)

    assert run.returncode == 0, run.describe()
    assert "DONE: " in run.last_message and token in run.last_message, run.describe()
    called, answered = _turns(upstream)
    assert called.format == answered.format == FORMATS[fmt][1]
    assert called.model == answered.model == f"fake-{fmt}"
    assert called.called_tool == "exec_command"
    # Codex ran the call and sent its output back as the result of that call
    [call] = [c for c in answered.tool_calls if c.name == "exec_command"]
    assert token in answered.tool_results[-1]
    assert answered.roles[-2:] == ["tool-call", "tool-result"]
    assert answered.conversation.items[-1].call_id == call.call_id
    # Codex's developer messages are the system instructions; its prompt is a user turn
    assert "Codex CLI" in called.system_text
    assert any("notes.txt" in text for text in called.user_texts)
    # the usage log bills the cached part of both turns at the cached price
    rows = wait_until(lambda: _usage_rows(gateway, alias, 2), what=f"two usage rows of {alias}")
    expected = {"prompt_tokens": INPUT, "completion_tokens": OUTPUT, "cached_tokens": CACHED}
    assert rows == [{**expected, "cost_micros": COST_MICROS}] * 2
    if fmt == "openai-responses":  # same format: passed through untouched
        kinds = [t["type"] for t in called.body["tools"]]
        assert "namespace" in kinds and "web_search" in kinds
        assert called.body["prompt_cache_key"] and called.body["include"] == ["reasoning.encrypted_content"]
        return
    names = called.tool_names
    assert {"exec_command", "multi_agent_v1__close_agent", "multi_agent_v1__spawn_agent"} <= set(names)
    assert "web_search" not in names and "multi_agent_v1" not in names  # dropped (and said so) / flattened
    assert all(ANTHROPIC_TOOL_NAME.match(name) for name in names), names
    assert "developer" not in called.roles
    # OpenAI chat: one leading system message; Anthropic and Gemini: the system prompt field
    assert called.roles.count("system") == (1 if fmt == "openai" else 0) and called.roles[-1] == "user"
    if fmt == "anthropic":  # the prompt-cache key became cache breakpoints
        assert called.body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert called.body["system"][-1]["cache_control"] == {"type": "ephemeral"}
    if fmt == "openai":
        assert called.body["prompt_cache_key"] == answered.body["prompt_cache_key"]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_codex_sees_its_own_namespace_call(
    fmt: str, codex_binary: Path, upstream: AgentUpstream, gateway: GatewayProcess, tmp_path: Path
) -> None:
    """The model calls ``close_agent`` in namespace ``multi_agent_v1`` (translated: the flat
    ``multi_agent_v1__close_agent``; on Responses, passed through, the namespaced call
    itself); Codex gets its own namespaced call back and runs its handler (which rejects the
    made-up agent id), not "unsupported call"."""
    upstream.reset()
    upstream.script = AgentScript(tool="close_agent", arguments={"target": "no-such-agent"}, answer_prefix="DONE: ")

    run = run_codex(gateway.base_url, f"codex-{fmt}", "Close the agent named no-such-agent.", tmp_path)

    assert run.returncode == 0, run.describe()
    called, answered = _turns(upstream)
    assert called.called_tool == "multi_agent_v1__close_agent"
    result = answered.tool_results[-1]
    assert "unsupported call" not in result and "no-such-agent" in result, result
    assert [c.name for c in answered.tool_calls] == ["multi_agent_v1__close_agent"]
    assert "DONE: " in run.last_message and "no-such-agent" in run.last_message, run.describe()


def _patch_arguments(text: str) -> Callable[[AgentRequest], Any]:
    """A custom tool's raw input on Responses (passed through); elsewhere the flat function's
    one string argument, as the gateway declared it."""
    return lambda r: text if r.format == "openai-responses" else {"input": text}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_codex_applies_a_patch_with_its_free_form_tool(
    fmt: str, codex_binary: Path, upstream: AgentUpstream, gateway: GatewayProcess, tmp_path: Path
) -> None:
    """``apply_patch`` declared as a ``custom`` tool (a grammar, no JSON schema): the model's
    call comes back to Codex as a ``custom_tool_call`` whose input is the patch, Codex applies
    it, and its output goes back as the result of that call."""
    line = f"patched through {fmt} {uuid.uuid4().hex[:8]}"
    patch = f"*** Begin Patch\n*** Add File: hello.txt\n+{line}\n*** End Patch\n"
    upstream.reset()
    upstream.script = AgentScript(tool="apply_patch", arguments=_patch_arguments(patch), answer_prefix="DONE: ")

    run = run_codex(gateway.base_url, f"codex-{fmt}", "Create hello.txt.", tmp_path, freeform_patch=True)

    assert run.returncode == 0, run.describe()
    assert (tmp_path / "hello.txt").read_text() == line + "\n"
    called, answered = _turns(upstream)
    assert called.called_tool == "apply_patch"
    if fmt == "openai-responses":
        [tool] = [t for t in called.body["tools"] if t.get("name") == "apply_patch"]
        assert tool["type"] == "custom" and tool["format"]["type"] == "grammar"
    else:
        declared = called.body["tools"] if fmt != "gemini" else called.body["tools"][0]["functionDeclarations"]
        schema = json.dumps(declared)
        assert '"input"' in schema and "*** Begin Patch" in schema  # one string; the grammar in the description
    result = answered.tool_results[-1]
    assert "hello.txt" in result and "unsupported" not in result.lower(), result
    assert "DONE: " in run.last_message and "hello.txt" in run.last_message, run.describe()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_codex_first_request_names_the_dropped_web_search(
    fmt: str, upstream: AgentUpstream, gateway: GatewayProcess
) -> None:
    """The captured first request, replayed: served on every format; an attempt on a format
    without hosted web search says it went without it."""
    fixture = orjson.loads(FIXTURE.read_bytes())
    body = {**fixture["body"], "model": f"codex-{fmt}"}
    upstream.reset()
    upstream.script = AgentScript(tool="exec_command", arguments={"cmd": "true"})
    with httpx.Client(timeout=30) as client:
        with client.stream("POST", f"{gateway.base_url}/v1/responses", json=body) as response:
            text = response.read().decode()
    assert response.status_code == 200, text
    assert "response.completed" in text and '"name":"exec_command"' in text
    dropped = response.headers.get("x-turnout-dropped-tools")
    assert dropped == (None if fmt == "openai-responses" else "web_search")
