"""The usage log keeps each request's routing facts, through the real server, and never its
text or a credential; ``turnout usage export`` writes them and ``turnout replay --from``
re-plans them against a changed policy."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from engine.canonical import Usage
from engine.cli import main
from engine.metering import cost_micros
from engine.policy.compiled import Price
from tests.e2e.conftest import StartGateway
from tests.e2e_keys.waiting import wait_until
from tests.support.fake_upstream import FakeUpstream
from tests.support.policy_files import write_policy

SECRET_PROMPT = "the launch code is swordfish-7431"
POLICY = """
[router]
request_headers = ["x-team", "x-upstream-token"]

[channels.primary]
format = "openai"
base_url = "{a}"
api_key = "${{FAKE_KEY}}"
models = {{ "big-model" = "upstream-big", "small-model" = "upstream-small" }}

[models.big-model]
price = {{ input = 1.0, output = 2.0 }}
capabilities = ["tools"]

[models.small-model]
price = {{ input = 0.1, output = 0.2 }}

[aliases.smart]
rules = [
  {{ when = "request.headers[?'x-upstream-token'].orValue('') == 'tok-admin'", use = ["big-model"] }},
  {{ when = "request.headers[?'x-team'].orValue('') == '{team_rule}'", use = ["big-model"] }},
]
candidates = ["small-model"]
"""


def _routing_row(db_file: Path, request_id: str) -> dict[str, Any] | None:
    db = sqlite3.connect(db_file)
    db.row_factory = sqlite3.Row
    try:
        row = db.execute("SELECT * FROM usage_log WHERE request_id = ? AND attempt IS NULL", (request_id,)).fetchone()
    finally:
        db.close()
    return dict(row) if row is not None else None


def test_a_served_request_is_recorded_with_its_routing_facts_and_replays(
    launch: StartGateway, fake_a: FakeUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    gateway = launch(POLICY.format(a=fake_a.base_url, team_rule="research"))
    body = {
        "model": "smart",
        "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": SECRET_PROMPT}],
        "max_tokens": 50,
        "stream": False,
    }
    headers = {"x-team": "search", "x-upstream-token": "tok-never-recorded", "authorization": "Bearer sk-nope"}
    reply = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert reply.status_code == 200, reply.text
    request_id = reply.headers["x-request-id"]
    answer = reply.json()["choices"][0]["message"]["content"]

    db_file = gateway.workdir / "data" / "turnout.db"
    row = wait_until(lambda: _routing_row(db_file, request_id), what="the request's usage row")
    routing = json.loads(row["routing"])
    planned_at = routing.pop("planned_at")
    assert planned_at.endswith("+00:00")
    assert routing == {
        "v": 1,
        "model": "smart",
        "estimated_tokens": routing["estimated_tokens"],
        "max_tokens": 50,
        "stream": False,
        "has_tools": False,
        "has_images": False,
        "wants_json": False,
        "message_count": 1,
        "metadata": {},
        "headers": {"x-team": "search"},  # the token header a rule reads is not kept
        "key_name": "anonymous",
        "key_group": "default",
        "key_tags": [],
        "keyed": False,
        "first_model": "small-model",
        "first_channel": "primary",
    }
    assert routing["estimated_tokens"] > len(SECRET_PROMPT) // 4
    stored = json.dumps(row)
    for secret in (SECRET_PROMPT, "swordfish", "tok-never-recorded", "sk-nope", answer):
        assert secret not in stored
    assert (row["prompt_tokens"], row["completion_tokens"]) != (0, 0)

    monkeypatch.setenv("TURNOUT_DATA_DIR", str(gateway.workdir / "data"))
    export = tmp_path / "traffic.jsonl"
    assert main(["usage", "export", "--since", "1h", "--output", str(export)]) == 0
    lines = export.read_bytes().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["request_id"] == request_id
    assert b"swordfish" not in export.read_bytes()

    candidate = tmp_path / "candidate"
    write_policy(candidate, POLICY.format(a=fake_a.base_url, team_rule="search"))  # team search -> big-model
    capsys.readouterr()
    assert main(["replay", "--policy", str(candidate), "--from", str(export), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["requests"], report["changed"], report["became_refused"]) == (1, 1, 0)
    assert report["top_changes"] == [
        {"requested": "smart", "from": "small-model@primary", "to": "big-model@primary", "requests": 1}
    ]
    prompt, completion = row["prompt_tokens"], row["completion_tokens"]
    usage = Usage(input_tokens=prompt, output_tokens=completion)
    assert report["cost"]["before_micros"] == row["cost_micros"] == cost_micros(usage, Price(0.1, 0.2))
    assert report["cost"]["after_micros"] == prompt * 1 + completion * 2 == cost_micros(usage, Price(1.0, 2.0))
