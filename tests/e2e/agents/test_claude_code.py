"""Claude Code, the real CLI (claude_cli.VERSION), through an alias onto every upstream format.

One gateway routes the alias ``code-<format>`` of each format to a scripted fake model
speaking it (tests/support/agent_upstream.py). ``claude -p`` asks for a file's content;
the model calls Bash (``cat`` on that file) first, Claude Code runs it and sends the
result back, and the model answers with the scripted prefix and the result. Each alias
lists a model whose ``max_output_tokens`` is below Claude Code's 32000 first: the plan
skips it rather than failing the request.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.e2e.agents.claude_cli import VERSION, ensure_installed, run_claude
from tests.e2e.conftest import StartGateway
from tests.e2e_keys.waiting import wait_until
from tests.support.agent_upstream import AgentRequest, AgentScript, AgentUpstream
from tests.support.gateway import GatewayProcess

FORMATS = ["openai", "openai-responses", "anthropic", "gemini"]
ANSWER = "SCRIPTED ANSWER: "
CONTENT = "turnout-e2e-content-4711"
CAPTURE = Path(__file__).resolve().parents[2] / "fixtures" / "agents" / f"claude-code-{VERSION}-first-request.json"

CHANNEL = """
[channels.{name}]
format = "{fmt}"
base_url = "{base_url}"
api_key = "${{FAKE_KEY}}"
models = {{ "agent-{name}" = "upstream-agent", "small-{name}" = "upstream-small" }}
timeout = {{ connect = 5, first_byte = 60, first_token = 60, idle = 60, total = 300 }}

[models.agent-{name}]
price = {{ input = 1.0, output = 2.0, cached_input = 0.1 }}
context_window = 1_000_000
max_output_tokens = 64_000
capabilities = ["tools", "vision", "json", "reasoning", "stream"]

[models.small-{name}]
price = {{ input = 0.1, output = 0.2 }}
context_window = 1_000_000
max_output_tokens = 8_192
capabilities = ["tools", "vision", "json", "reasoning", "stream"]

[aliases.code-{name}]
candidates = ["small-{name}", "agent-{name}"]
strategy = "priority"
"""


def _name(fmt: str) -> str:
    return fmt.replace("openai-responses", "responses")


def _base_url(up: AgentUpstream, fmt: str) -> str:
    return up.gemini_base_url if fmt == "gemini" else up.openai_base_url


@pytest.fixture(scope="session")
def claude() -> Path:
    """The pinned CLI, installed with npm ci when missing (a failure, never a skip)."""
    return ensure_installed()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, AgentUpstream]]:
    started = {fmt: AgentUpstream(AgentScript(tool="Bash", answer_prefix=ANSWER)).start() for fmt in FORMATS}
    yield started
    for up in started.values():
        up.stop()


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, upstreams: dict[str, AgentUpstream]) -> GatewayProcess:
    policy = "".join(
        CHANNEL.format(name=_name(fmt), fmt=fmt, base_url=_base_url(up, fmt)) for fmt, up in upstreams.items()
    )
    return launch(policy)


@pytest.fixture(scope="module")
def gateway_url(gateway: GatewayProcess) -> str:
    return gateway.base_url


# Every answer reports this usage (the cached part inside the input, each format its own way).
INPUT, CACHED, OUTPUT = 100_000, 80_000, 500
# At the agent model's price (USD per 1M tokens = micro-dollars per token): the uncached
# input at 1.0, the cached part at 0.1, the output at 2.0.
COST_MICROS = (INPUT - CACHED) * 1 + CACHED // 10 + OUTPUT * 2


def _cat(path: Path) -> AgentScript:
    return AgentScript(
        tool="Bash",
        arguments={"command": f"cat {path}", "description": "Show the file"},
        answer_prefix=ANSWER,
        input_tokens=INPUT,
        cached_tokens=CACHED,
        output_tokens=OUTPUT,
    )


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
    return [dict(row) for row in found] if len(found) == count else None


@pytest.mark.parametrize("fmt", FORMATS)
def test_claude_code_runs_a_tool_loop(
    fmt: str, claude: Path, gateway: GatewayProcess, upstreams: dict[str, AgentUpstream], tmp_path: Path
) -> None:
    up = upstreams[fmt]
    up.reset()
    note = tmp_path / "note.txt"
    note.write_text(CONTENT + "\n", encoding="utf-8")
    up.script = _cat(note)

    alias = f"code-{_name(fmt)}"
    run = run_claude(gateway.base_url, alias, f"Show me the content of {note}.", tmp_path)

    assert run.returncode == 0, run.describe()
    assert ANSWER + CONTENT in run.stdout, run.describe()
    first, second = _tool_loop(up.wait_idle())
    upstream_format = "openai-chat" if fmt == "openai" else fmt
    assert (first.format, second.format) == (upstream_format, upstream_format)
    assert first.model == second.model == "upstream-agent"  # the 8k-output model was skipped
    assert first.stream and second.stream
    assert {"Bash", "Read", "Edit", "Write"} <= set(first.tool_names)
    assert first.answered == "tool-call" and first.called_tool == "Bash"
    assert second.tool_results and CONTENT in second.tool_results[-1]
    assert second.answered == "answer"
    _assert_roles(fmt, first, second)
    _assert_settings(fmt, first.body)
    # the usage log bills the cached part of both turns at the cached price
    rows = wait_until(lambda: _usage_rows(gateway, alias, 2), what=f"two usage rows of {alias}")
    expected = {"prompt_tokens": INPUT, "completion_tokens": OUTPUT, "cached_tokens": CACHED}
    assert rows == [{**expected, "cost_micros": COST_MICROS}] * 2


def _assert_settings(fmt: str, body: dict[str, Any]) -> None:
    """Claude Code's effort (``high``), its session as the prompt-cache key, and its
    Anthropic-only hints only on Anthropic."""
    if fmt == "openai":
        assert body["reasoning_effort"] == "high"
        assert body["prompt_cache_key"] and body["max_completion_tokens"] == 32000
    elif fmt == "openai-responses":
        assert body["reasoning"] == {"effort": "high"}
        assert body["prompt_cache_key"] and body["max_output_tokens"] == 32000
    elif fmt == "gemini":
        assert body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "HIGH", "includeThoughts": False}
    else:
        assert body["thinking"]["type"] == "adaptive" and body["output_config"] == {"effort": "high"}
        assert "context_management" in body and "cache_control" in orjson.dumps(body["system"]).decode()
    if fmt != "anthropic":
        assert not {"thinking", "context_management", "output_config", "metadata"} & body.keys()


def _tool_loop(requests: list[AgentRequest]) -> tuple[AgentRequest, AgentRequest]:
    generations = [r for r in requests if r.kind == "generate" and r.tool_names]
    assert len(generations) == 2, [(r.kind, r.path, r.answered) for r in requests]
    return generations[0], generations[1]


def _assert_roles(fmt: str, first: AgentRequest, second: AgentRequest) -> None:
    """Claude Code's system turn (its environment) after the first user turn: a system message
    in place on OpenAI formats, marked user text on Anthropic and Gemini."""
    calls = second.roles[second.roles.index("tool-call") :]
    assert calls[:2] == ["tool-call", "tool-result"], second.roles
    assert "You are a Claude agent" in first.system_text
    if fmt == "openai":
        assert first.roles[:3] == ["system", "user", "system"], first.roles
    elif fmt == "openai-responses":  # the system prompt is ``instructions``, not an input item
        assert first.roles[:2] == ["user", "system"], first.roles
    else:
        # Gemini has only systemInstruction, and an Anthropic model without the
        # system_messages capability refuses role "system": marked user text in place
        assert "system" not in first.roles, first.roles
        assert any("<system>\n# Environment" in text for text in first.user_texts), first.user_texts


def test_the_capture_is_this_version() -> None:
    capture = orjson.loads(CAPTURE.read_bytes())
    assert capture["version"] == VERSION
    assert capture["path"] == "/v1/messages?beta=true"


@pytest.mark.parametrize("fmt", FORMATS)
def test_count_tokens_and_probes_answer_on_every_route(fmt: str, gateway_url: str) -> None:
    captured: dict[str, Any] = orjson.loads(CAPTURE.read_bytes())["body"]
    body = {key: captured[key] for key in ("messages", "system", "tools", "thinking", "output_config")}
    headers = {"x-api-key": "sk-turnout-e2e", "anthropic-version": "2023-06-01"}
    counted = httpx.post(
        f"{gateway_url}/v1/messages/count_tokens?beta=true",
        json={**body, "model": f"code-{_name(fmt)}"},
        headers=headers,
    )
    assert counted.status_code == 200, counted.text
    assert counted.json()["input_tokens"] > 1000
    for path in ("/", "/api/hello"):
        assert httpx.head(gateway_url + path).status_code == 200
