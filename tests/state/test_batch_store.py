"""The batch store on SQLite and PostgreSQL: a request is claimed once, answered once, a
job finishes with its last answer (its callback then due), cancel stops what is pending,
and a request whose runner died is answered ``interrupted``, never sent again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine.access import Principal
from engine.batch.model import BatchLine
from engine.batch.store import BatchStore, NewJob
from engine.state import State

ALICE = Principal("key-alice", "alice", "acct", "default", ("team",), ("*",))
LEASE = timedelta(seconds=30)


def _lines(count: int) -> list[BatchLine]:
    return [BatchLine(f"c{i}", {"model": "m", "messages": [{"role": "user", "content": str(i)}]}) for i in range(count)]


def _job(count: int, callback: str | None = None) -> NewJob:
    return NewJob("key-alice", ALICE, "seed", "/v1/chat/completions", _lines(count), callback_url=callback)


@pytest.fixture
def store(state: State) -> BatchStore:
    return BatchStore(state.engine)


async def test_each_request_is_claimed_once_and_the_job_finishes_with_its_last_answer(store: BatchStore) -> None:
    job, secret = await store.create(_job(3, "https://hooks.example/done"))
    assert secret is not None and secret.startswith("whsec_")
    assert job.status == "in_progress" and job.counts.pending == 3
    picks = [(job_id, idx) for job_id, idx, _ in await store.pending(10)]
    assert picks == [(job.id, 0), (job.id, 1), (job.id, 2)]
    first = await store.claim("runner-a", picks, LEASE)
    assert [c.idx for c in first] == [0, 1, 2]
    assert first[0].principal == ALICE and first[0].body["messages"][0]["content"] == "0"
    assert await store.claim("runner-b", picks, LEASE) == []  # already taken
    assert await store.pending(10) == []
    for claimed in first[:2]:
        await store.finish(job.id, claimed.idx, 200, {"ok": claimed.idx}, f"{job.id}-{claimed.idx}")
    await store.finish(job.id, 0, 500, {"again": True}, "x")  # a second answer is ignored
    assert (await store.job(job.id)).status == "in_progress"  # type: ignore[union-attr]
    assert await store.callbacks_due() == []
    await store.finish(job.id, 2, 400, {"error": {"message": "no"}}, f"{job.id}-2")
    done = await store.job(job.id)
    assert done is not None and done.status == "completed"
    assert (done.counts.completed, done.counts.failed) == (2, 1)
    results = await store.results(job.id)
    assert [(r.status_code, r.response) for r in results] == [
        (200, {"ok": 0}),
        (200, {"ok": 1}),
        (400, {"error": {"message": "no"}}),
    ]
    due = await store.callbacks_due()
    assert [(d.job_id, d.url, d.secret) for d in due] == [(job.id, "https://hooks.example/done", secret)]


async def test_cancel_stops_pending_requests_and_waits_for_running_ones(store: BatchStore) -> None:
    job, _ = await store.create(_job(4))
    running = await store.claim("runner-a", [(job.id, 0)], LEASE)
    cancelling = await store.cancel(job.id, "key-alice")
    assert cancelling is not None and cancelling.status == "cancelling"
    assert cancelling.counts.cancelled == 3 and cancelling.counts.running == 1
    assert await store.pending(10) == []
    await store.finish(job.id, running[0].idx, 200, {"ok": True}, "r")
    cancelled = await store.job(job.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert await store.cancel(job.id, "someone-else") is None


async def test_a_claim_given_back_unsent_is_pending_again(store: BatchStore) -> None:
    job, _ = await store.create(_job(1))
    await store.claim("runner-a", [(job.id, 0)], LEASE)
    await store.release(job.id, 0)
    assert [(j, i) for j, i, _ in await store.pending(10)] == [(job.id, 0)]


async def test_a_request_whose_runner_died_is_answered_interrupted_not_resent(store: BatchStore) -> None:
    job, _ = await store.create(_job(2))
    await store.claim("dead-runner", [(job.id, 0)], timedelta(seconds=-1))  # its lease already ran out
    await store.claim("live-runner", [(job.id, 1)], LEASE)
    await store.renew("live-runner", LEASE)
    assert await store.reap() == 1
    assert await store.reap() == 0
    results = await store.results(job.id)
    assert results[0].state == "done" and results[0].status_code == 500
    assert results[0].response["error"]["code"] == "interrupted"
    assert results[1].state == "running"
    assert await store.pending(10) == []  # never offered again


async def test_jobs_are_listed_newest_first_per_owner(store: BatchStore) -> None:
    first, _ = await store.create(_job(1))
    second, _ = await store.create(_job(1))
    other, _ = await store.create(NewJob("key-bob", ALICE, "seed", "/v1/chat/completions", _lines(1)))
    assert [j.id for j in await store.jobs("key-alice")] == [second.id, first.id]
    assert [j.id for j in await store.jobs("key-alice", after=second.id)] == [first.id]
    assert [j.id for j in await store.jobs("key-bob")] == [other.id]
    assert await store.job(other.id, "key-alice") is None
