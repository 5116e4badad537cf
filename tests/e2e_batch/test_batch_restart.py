"""A restart in the middle of a batch: the gateway is stopped (SIGTERM) while requests are
in flight at the upstream and more are pending, then started again on the same database.
Every request is answered exactly once: the upstream received each exactly once, each has
exactly one usage row, and every answer is the upstream's."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.e2e_batch.conftest import batch_deployment, wait_closed
from tests.e2e_batch.servers import EchoUpstream
from tests.e2e_batch.usage_db import request_rows
from tests.e2e_keys.admin import Admin
from tests.e2e_keys.deployment import ADMIN_TOKEN
from tests.e2e_keys.waiting import wait_until

REQUESTS = 40


def test_a_batch_survives_a_restart_with_every_request_answered_once(tmp_path: Path, upstream: EchoUpstream) -> None:
    deployment = batch_deployment(tmp_path, upstream, TURNOUT_BATCH_PER_KEY="4")
    texts = [f"restart question {i}" for i in range(REQUESTS)]
    requests = [
        {"custom_id": f"r{i}", "model": "batch-model", "messages": [{"role": "user", "content": text}]}
        for i, text in enumerate(texts)
    ]
    upstream.delay = 0.3  # so requests are in flight when the gateway stops
    with deployment.start("first") as gateway:
        admin = Admin(gateway.base_url, ADMIN_TOKEN)
        key = admin.create_key("batcher")
        admin.close()
        wait_closed(gateway.base_url)
        headers = {"authorization": f"Bearer {key.secret}"}
        job = httpx.post(f"{gateway.base_url}/v1/batch", json={"requests": requests}, headers=headers).json()
        wait_until(lambda: sum(upstream.received().values()) >= 8, timeout=20.0, what="8 requests upstream")
        before_stop = httpx.get(job["poll_url"], headers=headers).json()["counts"]
    # stopped (SIGTERM, a graceful drain): in-flight requests finished, pending ones stayed pending
    sent_before = sum(upstream.received().values())
    assert before_stop["in_progress"] > 0 and before_stop["pending"] > 0
    assert sent_before < REQUESTS

    with deployment.start("second") as gateway:
        poll_url = f"{gateway.base_url}/v1/batch/{job['id']}"

        def finished() -> dict[str, Any] | None:
            document: dict[str, Any] = httpx.get(poll_url, headers=headers).json()
            return document if document["status"] == "completed" else None

        done = wait_until(finished, timeout=30.0, interval=0.2, what="the batch to complete after the restart")
    assert done["counts"]["completed"] == REQUESTS
    answers = {r["custom_id"]: r["response"]["choices"][0]["message"]["content"] for r in done["results"]}
    assert answers == {f"r{i}": f"echo: {text}" for i, text in enumerate(texts)}
    assert upstream.received() == Counter(dict.fromkeys(texts, 1))  # each sent exactly once
    rows = request_rows(deployment.data_dir, job["id"])
    assert sorted(row.request_id for row in rows) == sorted(f"{job['id']}-{i}" for i in range(REQUESTS))
    assert {row.status for row in rows} == {200}
