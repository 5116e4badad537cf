"""Graceful shutdown: SIGTERM to ``turnout serve`` with 100 streams open. Streams that can
finish within the drain (``TURNOUT_DRAIN_TIMEOUT``) finish whole; the others are ended
cleanly with an error event in the client's format (not a dropped connection); the server
exits by itself within the drain plus a margin; and every request's usage row reached the
database (the usage log is flushed before the worker exits)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from pathlib import Path

import aiohttp
import orjson

from engine.http.readiness import readiness
from tests.support.fault_upstream import FaultUpstream
from tests.support.gateway import start_gateway
from tests.support.policy_files import write_policy

DRAIN_S = 4.0
SHORT_WORDS = 40  # 40 words at 50 ms: done about 2 s after the signal, inside the drain
POLICY = """
[channels.fault]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = {{ short = "s+words{short}+delay50ms", long = "l+words2000+delay50ms" }}

[models.short]
price = {{ input = 1.0, output = 1.0 }}

[models.long]
price = {{ input = 1.0, output = 1.0 }}
"""


async def _stream(http: aiohttp.ClientSession, url: str, model: str, index: int, started: asyncio.Event) -> list[bytes]:
    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": f"stream {index}"}]}
    frames: list[bytes] = []
    async with http.post(url, json=body) as response:
        assert response.status == 200
        async for line in response.content:
            if line.startswith(b"data: "):
                frames.append(line[6:].strip())
                started.set()
    return frames


async def test_sigterm_drains_open_streams_and_loses_no_usage_row(tmp_path: Path) -> None:
    with FaultUpstream() as upstream:
        write_policy(tmp_path / "policies", POLICY.format(base=upstream.base_url, short=SHORT_WORDS))
        env = {"FAKE_KEY": "sk-fake", "TURNOUT_DRAIN_TIMEOUT": str(DRAIN_S)}
        gateway = start_gateway(tmp_path / "policies", env, workdir=tmp_path / "work")
        url = f"{gateway.base_url}/v1/chat/completions"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
                started = [asyncio.Event() for _ in range(100)]
                tasks = [
                    asyncio.create_task(_stream(http, url, "short" if i % 2 == 0 else "long", i, started[i]))
                    for i in range(100)
                ]
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
                signalled = time.monotonic()
                gateway.process.send_signal(signal.SIGTERM)
                results = await asyncio.gather(*tasks, return_exceptions=True)
                streams_over = time.monotonic() - signalled
            exit_code = await asyncio.to_thread(gateway.process.wait, 30)
            exited = time.monotonic() - signalled
        finally:
            gateway.stop()
        logs = gateway.logs()

    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]
    frames = [r for r in results if not isinstance(r, BaseException)]
    short, long = frames[0::2], frames[1::2]
    for stream in short:  # finished whole
        assert stream[-1] == b"[DONE]"
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in map(orjson.loads, stream[:-1]) if c.get("choices")
        )
        assert text.split() == [f"w{n}" for n in range(1, SHORT_WORDS + 1)]
    for stream in long:  # cut at the drain deadline with a clean in-band error
        last = orjson.loads(stream[-1])
        assert "shutting down" in last["error"]["message"], stream[-2:]
        assert len(stream) > 2
    assert streams_over < DRAIN_S + 5, streams_over  # nobody waited for the 100 s streams
    assert exit_code == 0 and exited < DRAIN_S + 10, (exit_code, exited, logs[-2000:])

    db = sqlite3.connect(tmp_path / "work" / "data" / "turnout.db")
    rows = db.execute(
        "SELECT model_requested, status, completion_tokens, estimated FROM usage_log WHERE attempt IS NULL"
    ).fetchall()
    assert len(rows) == 100, logs[-2000:]
    assert sorted({(model, status) for model, status, _, _ in rows}) == [("long", 503), ("short", 200)]
    assert all(tokens > 0 for model, _, tokens, _ in rows if model == "long")  # billed for what was delivered


async def test_a_draining_worker_is_not_ready() -> None:
    ready, document = await readiness(None, None, draining=True)
    assert not ready and document["checks"]["shutdown"]["ok"] is False
