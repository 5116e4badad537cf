"""The seed API, ``/v1/batch``: submitted at once (202, id, poll_url), polled to the end
with the payloads, listed per key, and the callback POSTed with a signature that verifies
(retried after the receiver fails)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e_batch.conftest import batch_deployment, wait_closed
from tests.e2e_batch.servers import CallbackReceiver, EchoUpstream, json_of
from tests.e2e_batch.signature import verify
from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.deployment import ADMIN_TOKEN
from tests.e2e_keys.waiting import wait_until
from tests.support.gateway import GatewayProcess


class Seed:
    def __init__(self, gateway: GatewayProcess, keys: tuple[CreatedKey, CreatedKey], data_dir: Path) -> None:
        self.gateway = gateway
        self.data_dir = data_dir
        self.alice = httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {keys[0].secret}"})
        self.bob = httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {keys[1].secret}"})


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory, upstream: EchoUpstream) -> Iterator[Seed]:
    root = tmp_path_factory.mktemp("seed-batch")
    deployment = batch_deployment(root, upstream, TURNOUT_BATCH_CALLBACK_BACKOFF="0.2")
    with deployment.start() as gateway:
        admin = Admin(gateway.base_url, ADMIN_TOKEN)
        keys = admin.create_key("alice"), admin.create_key("bob")
        admin.close()
        wait_closed(gateway.base_url)
        running = Seed(gateway, keys, deployment.data_dir)
        yield running
        running.alice.close()
        running.bob.close()


def _requests(*texts: str) -> list[dict[str, Any]]:
    return [
        {"custom_id": f"q{i}", "model": "batch-model", "messages": [{"role": "user", "content": text}]}
        for i, text in enumerate(texts)
    ]


def _done(client: httpx.Client, poll_url: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        document: dict[str, Any] = client.get(poll_url).json()
        assert "status" in document, document
        return document if document["status"] in ("completed", "cancelled") else None

    return wait_until(finished, timeout=20.0, interval=0.1, what="the batch to finish")


def test_submit_poll_and_a_signed_callback(seed: Seed, upstream: EchoUpstream) -> None:
    with CallbackReceiver(statuses=[503]) as receiver:  # the first delivery fails: it is retried
        answer = seed.alice.post(
            "/v1/batch",
            json={"tier": "batch_50", "requests": _requests("one", "two", "three"), "callback_url": receiver.url},
        )
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert job["id"].startswith("batch_") and job["status"] == "in_progress"
        assert job["poll_url"] == f"{seed.gateway.base_url}/v1/batch/{job['id']}"
        secret = job["callback_secret"]
        assert "results" not in job

        done = _done(seed.alice, job["poll_url"])
        assert done["status"] == "completed"
        assert done["counts"]["total"] == 3 and done["counts"]["completed"] == 3
        answers = {r["custom_id"]: r["response"]["choices"][0]["message"]["content"] for r in done["results"]}
        assert answers == {"q0": "echo: one", "q1": "echo: two", "q2": "echo: three"}
        assert "callback_secret" not in done

        deliveries = wait_until(lambda: receiver.received() if len(receiver.received()) >= 2 else None, timeout=10.0)
        assert len(deliveries) == 2
        for delivery in deliveries:
            assert verify(secret, delivery.headers["x-turnout-signature"], delivery.body)
            assert not verify(secret, delivery.headers["x-turnout-signature"], delivery.body + b" ")
            assert not verify("whsec_another", delivery.headers["x-turnout-signature"], delivery.body)
        body = json_of(deliveries[-1])
        assert body["id"] == job["id"] and body["status"] == "completed"
        assert [r["custom_id"] for r in body["results"]] == ["q0", "q1", "q2"]

        def delivered() -> bool:
            return bool(seed.alice.get(job["poll_url"]).json()["callback_status"] == "delivered")

        wait_until(delivered, what="the callback to be marked delivered")


def test_listing_shows_only_the_callers_jobs(seed: Seed) -> None:
    mine = seed.alice.post("/v1/batch", json={"requests": _requests("listed")}).json()
    assert mine["id"] in [j["id"] for j in seed.alice.get("/v1/batch").json()["data"]]
    assert mine["id"] not in [j["id"] for j in seed.bob.get("/v1/batch").json()["data"]]
    assert seed.bob.get(f"/v1/batch/{mine['id']}").status_code == 404
    assert seed.alice.get("/v1/batch").status_code == 200
    assert httpx.get(f"{seed.gateway.base_url}/v1/batch").status_code == 401


def test_failed_requests_keep_their_error(seed: Seed, upstream: EchoUpstream) -> None:
    upstream.fail.add("bad one")
    job = seed.alice.post("/v1/batch", json={"requests": _requests("good one", "bad one")}).json()
    done = _done(seed.alice, job["poll_url"])
    by_id = {r["custom_id"]: r for r in done["results"]}
    assert by_id["q0"]["status"] == "succeeded" and by_id["q0"]["error"] is None
    assert by_id["q1"]["status"] == "failed" and by_id["q1"]["status_code"] == 400
    assert "bad one" in by_id["q1"]["error"]["message"]
    assert done["counts"]["failed"] == 1


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"tier": "batch_90", "requests": _requests("x")}, "tier"),
        ({"requests": []}, "at least one request"),
        ({"requests": [{"custom_id": "a", "messages": []}]}, "'model' is required"),
        ({"requests": _requests(*(["x"] * 1001))}, "at most 1000"),
        ({"requests": [{**_requests("x")[0], "stream": True}]}, "cannot stream"),
        ({"requests": _requests("x"), "callback_url": "ftp://example.com/hook"}, "http(s)"),
    ],
)
def test_bad_submissions_are_refused(seed: Seed, payload: dict[str, Any], problem: str) -> None:
    answer = seed.alice.post("/v1/batch", json=payload)
    assert answer.status_code == 400
    assert problem in answer.json()["error"]["message"]


def test_a_key_disabled_mid_batch_sends_nothing_more(seed: Seed, upstream: EchoUpstream) -> None:
    admin = Admin(seed.gateway.base_url, ADMIN_TOKEN)
    carol = admin.create_key("carol")
    upstream.delay = 0.3
    with httpx.Client(base_url=seed.gateway.base_url, headers={"authorization": f"Bearer {carol.secret}"}) as client:
        job = client.post("/v1/batch", json={"requests": _requests(*(f"carol {i}" for i in range(20)))}).json()
    wait_until(lambda: sum(upstream.received().values()) > 0, timeout=10.0, what="the first request upstream")
    admin.patch_key("carol", enabled=False)
    admin.close()

    def answered() -> list[tuple[str, int | None]] | None:  # the key cannot poll any more: read the store
        with sqlite3.connect(seed.data_dir / "turnout.db") as db:
            rows = db.execute("SELECT state, status_code FROM batch_requests WHERE job_id = ?", (job["id"],)).fetchall()
        return rows if all(state == "done" for state, _ in rows) else None

    rows = wait_until(answered, timeout=20.0, what="every request answered")
    statuses = Counter(status for _, status in rows)
    assert statuses[200] == sum(upstream.received().values()) < 20
    assert statuses[401] == 20 - statuses[200]
