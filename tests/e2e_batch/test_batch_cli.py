"""``turnout batch submit|list|show|cancel`` against a running gateway (open mode: no key)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from engine.batch.cli import progress_line
from tests.e2e_batch.conftest import batch_deployment
from tests.e2e_batch.servers import EchoUpstream
from tests.e2e_keys.turnout_cli import turnout_command
from tests.e2e_keys.waiting import wait_until
from tests.support.gateway import GatewayProcess, gateway_env


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: EchoUpstream) -> Iterator[GatewayProcess]:
    with batch_deployment(tmp_path_factory.mktemp("batch-cli"), upstream).start() as running:
        yield running


def _turnout(gateway: GatewayProcess, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = gateway_env({"TURNOUT_URL": gateway.base_url}, tmp / "cli-data")
    return subprocess.run([*turnout_command(), "batch", *args], capture_output=True, text=True, env=env, cwd=tmp)


def test_submit_and_wait_prints_each_result(gateway: GatewayProcess, tmp_path: Path) -> None:
    lines = [
        {"custom_id": "seed-shape", "model": "batch-model", "messages": [{"role": "user", "content": "alpha"}]},
        {
            "custom_id": "openai-shape",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "batch-model", "messages": [{"role": "user", "content": "beta"}]},
        },
    ]
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    done = _turnout(gateway, tmp_path, "submit", str(path), "--wait")
    assert done.returncode == 0, done.stderr
    results = {r["custom_id"]: r for r in map(orjson.loads, done.stdout.splitlines())}
    assert results["seed-shape"]["response"]["choices"][0]["message"]["content"] == "echo: alpha"
    assert results["openai-shape"]["response"]["choices"][0]["message"]["content"] == "echo: beta"
    assert "completed: 2/2 succeeded" in done.stderr
    job_id = done.stderr.split()[1]

    listed = _turnout(gateway, tmp_path, "list")
    assert listed.returncode == 0 and job_id in listed.stdout and "completed" in listed.stdout
    shown = _turnout(gateway, tmp_path, "show", job_id)
    assert shown.returncode == 0 and orjson.loads(shown.stdout)["counts"]["completed"] == 2


def test_cancel(gateway: GatewayProcess, tmp_path: Path, upstream: EchoUpstream) -> None:
    upstream.delay = 0.5
    path = tmp_path / "slow.jsonl"
    lines = [{"model": "batch-model", "messages": [{"role": "user", "content": f"slow {i}"}]} for i in range(30)]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    submitted = _turnout(gateway, tmp_path, "submit", str(path))
    assert submitted.returncode == 0, submitted.stderr
    job_id = orjson.loads(submitted.stdout)["id"]
    wait_until(lambda: sum(upstream.received().values()) > 0, timeout=10.0, what="the first request upstream")
    cancelled = _turnout(gateway, tmp_path, "cancel", job_id)
    assert cancelled.returncode == 0 and cancelled.stdout.split()[1] in ("cancelling", "cancelled")


def test_a_bad_file_is_one_line(gateway: GatewayProcess, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n")
    failed = _turnout(gateway, tmp_path, "submit", str(path))
    assert failed.returncode == 1 and failed.stderr.startswith("error: ") and "bad.jsonl:1" in failed.stderr
    refused = _turnout(gateway, tmp_path, "show", "batch_nope")
    assert refused.returncode == 1 and "404" in refused.stderr and "no such batch" in refused.stderr


def test_the_progress_bar() -> None:
    assert progress_line({"total": 40, "completed": 10, "failed": 0}, width=8) == "[##......] 10/40 done"
    assert progress_line({"total": 4, "completed": 3, "failed": 1}, width=4) == "[####] 4/4 done, 1 failed"
    assert progress_line({"total": 0}, width=4) == "[....] 0/0 done"
