"""Batch jobs, their requests and uploaded files in the state database.

A request moves ``pending`` -> ``running`` (claimed by one runner, under a lease it renews)
-> ``done`` (its answer stored), or ``pending`` -> ``cancelled``. Claiming is a
conditional update, so two runners never take the same request. A job finishes in the
transaction that stores its last answer (or cancels its last pending request); a job with
a callback URL then has its callback due. A ``running`` request whose lease ran out (its
runner died) is never sent again: it is answered with an ``interrupted`` error, since its
upstream may already have served (and billed) it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.access import Principal
from engine.batch.model import BatchLine, Counts, Job, Result, StoredFile, principal_from, principal_record
from engine.state.schema import batch_files, batch_jobs, batch_requests

COMPLETION_WINDOW = timedelta(hours=24)
INTERRUPTED = {
    "error": {
        "message": "the gateway stopped while this request was in flight; it was not sent again "
        "(its upstream may have served it)",
        "type": "server_error",
        "code": "interrupted",
    }
}


@dataclass(frozen=True, slots=True)
class NewJob:
    owner: str
    principal: Principal
    api: str
    endpoint: str
    lines: Sequence[BatchLine]
    input_file_id: str | None = None
    meta: dict[str, Any] | None = None
    callback_url: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    job_id: str
    idx: int
    owner: str
    endpoint: str
    principal: Principal
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Answered:
    job_id: str
    idx: int
    status_code: int
    response: Any
    request_id: str


@dataclass(frozen=True, slots=True)
class DueCallback:
    job_id: str
    owner: str
    url: str
    secret: str
    attempts: int


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def _now() -> datetime:
    return datetime.now(UTC)


def _job(row: sa.RowMapping, counts: Counts) -> Job:
    return Job(
        id=row["id"],
        owner=row["owner"],
        api=row["api"],
        endpoint=row["endpoint"],
        input_file_id=row["input_file_id"],
        status=row["status"],
        meta=row["meta"],
        callback_url=row["callback_url"],
        callback_state=row["callback_state"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        in_progress_at=row["in_progress_at"],
        completed_at=row["completed_at"],
        cancelling_at=row["cancelling_at"],
        cancelled_at=row["cancelled_at"],
        counts=counts,
    )


def _file(row: sa.RowMapping) -> StoredFile:
    return StoredFile(row["id"], row["owner"], row["purpose"], row["filename"], int(row["bytes"]), row["created_at"])


_FILE_COLUMNS = [c for c in batch_files.c if c.name != "content"]
_JOB_COLUMNS = [c for c in batch_jobs.c if c.name not in ("principal", "callback_secret")]


class BatchStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # ---- files ------------------------------------------------------------------------

    async def add_file(self, owner: str, purpose: str, filename: str, content: bytes) -> StoredFile:
        row = {
            "id": new_id("file-"),
            "owner": owner,
            "purpose": purpose,
            "filename": filename,
            "bytes": len(content),
            "content": content,
            "created_at": _now(),
        }
        async with self._engine.begin() as conn:
            await conn.execute(batch_files.insert().values(row))
        return _file(row)  # type: ignore[arg-type]  # a dict reads like a row mapping here

    async def file(self, owner: str, file_id: str) -> StoredFile | None:
        query = sa.select(*_FILE_COLUMNS).where(batch_files.c.id == file_id, batch_files.c.owner == owner)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return None if row is None else _file(row)

    async def file_content(self, owner: str, file_id: str) -> bytes | None:
        query = sa.select(batch_files.c.content).where(batch_files.c.id == file_id, batch_files.c.owner == owner)
        async with self._engine.connect() as conn:
            content = (await conn.execute(query)).scalar()
        return None if content is None else bytes(content)

    async def files(self, owner: str) -> list[StoredFile]:
        query = sa.select(*_FILE_COLUMNS).where(batch_files.c.owner == owner).order_by(batch_files.c.created_at.desc())
        async with self._engine.connect() as conn:
            return [_file(row) for row in (await conn.execute(query)).mappings()]

    async def delete_file(self, owner: str, file_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                batch_files.delete().where(batch_files.c.id == file_id, batch_files.c.owner == owner)
            )
        return bool(result.rowcount)

    # ---- jobs -------------------------------------------------------------------------

    async def create(self, spec: NewJob) -> tuple[Job, str | None]:
        """The new job, in progress, and its callback secret (None without a callback)."""
        now = _now()
        job_id = new_id("batch_")
        secret = f"whsec_{secrets.token_urlsafe(32)}" if spec.callback_url else None
        job_row = {
            "id": job_id,
            "owner": spec.owner,
            "principal": principal_record(spec.principal),
            "api": spec.api,
            "endpoint": spec.endpoint,
            "input_file_id": spec.input_file_id,
            "status": "in_progress",
            "total": len(spec.lines),
            "meta": spec.meta,
            "callback_url": spec.callback_url,
            "callback_secret": secret,
            "callback_state": "none",
            "callback_attempts": 0,
            "created_at": now,
            "in_progress_at": now,
            "expires_at": now + COMPLETION_WINDOW,
        }
        rows = [
            {"job_id": job_id, "idx": i, "custom_id": line.custom_id, "body": line.body, "state": "pending"}
            for i, line in enumerate(spec.lines)
        ]
        async with self._engine.begin() as conn:
            await conn.execute(batch_jobs.insert().values(job_row))
            await conn.execute(batch_requests.insert(), rows)
        job = await self.job(job_id)
        assert job is not None
        return job, secret

    async def _counts(self, conn: AsyncConnection, job_ids: Sequence[str]) -> dict[str, Counts]:
        if not job_ids:
            return {}
        r = batch_requests.c
        ok = sa.and_(r.state == "done", r.status_code == 200)
        query = (
            sa.select(
                r.job_id,
                sa.func.count(),
                sa.func.sum(sa.case((ok, 1), else_=0)),
                sa.func.sum(sa.case((sa.and_(r.state == "done", r.status_code != 200), 1), else_=0)),
                sa.func.sum(sa.case((r.state == "cancelled", 1), else_=0)),
                sa.func.sum(sa.case((r.state == "running", 1), else_=0)),
                sa.func.sum(sa.case((r.state == "pending", 1), else_=0)),
            )
            .where(r.job_id.in_(list(job_ids)))
            .group_by(r.job_id)
        )
        return {row[0]: Counts(*(int(v or 0) for v in row[1:])) for row in await conn.execute(query)}

    async def job(self, job_id: str, owner: str | None = None) -> Job | None:
        """The job (None when it does not exist or, with ``owner``, is not theirs)."""
        query = sa.select(*_JOB_COLUMNS).where(batch_jobs.c.id == job_id)
        if owner is not None:
            query = query.where(batch_jobs.c.owner == owner)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
            if row is None:
                return None
            counts = await self._counts(conn, [job_id])
        return _job(row, counts.get(job_id, Counts()))

    async def jobs(self, owner: str, limit: int = 20, after: str | None = None) -> list[Job]:
        """The owner's jobs, newest first, after the job ``after`` (pagination)."""
        j = batch_jobs.c
        query = sa.select(*_JOB_COLUMNS).where(j.owner == owner)
        if after is not None:
            anchor = sa.select(j.created_at).where(j.id == after, j.owner == owner).scalar_subquery()
            query = query.where(sa.or_(j.created_at < anchor, sa.and_(j.created_at == anchor, j.id < after)))
        query = query.order_by(j.created_at.desc(), j.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            rows = list((await conn.execute(query)).mappings())
            counts = await self._counts(conn, [row["id"] for row in rows])
        return [_job(row, counts.get(row["id"], Counts())) for row in rows]

    async def results(self, job_id: str) -> list[Result]:
        r = batch_requests.c
        query = sa.select(r.idx, r.custom_id, r.state, r.status_code, r.response, r.request_id).where(
            r.job_id == job_id
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(r.idx))).all()
        return [Result(row[0], row[1], row[2], row[3], row[4], row[5]) for row in rows]

    async def cancel(self, job_id: str, owner: str) -> Job | None:
        """Cancel what is not sent yet; the job is cancelled once its running requests end."""
        now = _now()
        async with self._engine.begin() as conn:
            updated = await conn.execute(
                batch_jobs.update()
                .where(batch_jobs.c.id == job_id, batch_jobs.c.owner == owner, batch_jobs.c.status == "in_progress")
                .values(status="cancelling", cancelling_at=now)
            )
            if updated.rowcount:
                await conn.execute(
                    batch_requests.update()
                    .where(batch_requests.c.job_id == job_id, batch_requests.c.state == "pending")
                    .values(state="cancelled", finished_at=now)
                )
                await self._finish_if_done(conn, job_id, now)
        return await self.job(job_id, owner)

    # ---- the runner's side ------------------------------------------------------------

    async def pending(self, limit: int) -> list[tuple[str, int, str]]:
        """Up to ``limit`` pending requests of running jobs, oldest job first: (job, idx, owner)."""
        r, j = batch_requests.c, batch_jobs.c
        query = (
            sa.select(r.job_id, r.idx, j.owner)
            .join_from(batch_requests, batch_jobs, r.job_id == j.id)
            .where(r.state == "pending", j.status == "in_progress")
            .order_by(j.created_at, r.job_id, r.idx)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [(row[0], row[1], row[2]) for row in await conn.execute(query)]

    async def claim(self, runner: str, picks: Sequence[tuple[str, int]], lease: timedelta) -> list[Claimed]:
        """Take the picked requests that are still pending (another runner may have been first)."""
        r, j = batch_requests.c, batch_jobs.c
        taken: list[Claimed] = []
        until = _now() + lease
        async with self._engine.begin() as conn:
            for job_id, idx in picks:
                done = await conn.execute(
                    batch_requests.update()
                    .where(r.job_id == job_id, r.idx == idx, r.state == "pending")
                    .values(state="running", claimed_by=runner, lease_until=until)
                )
                if not done.rowcount:
                    continue
                row = (
                    await conn.execute(
                        sa.select(r.body, j.owner, j.endpoint, j.principal)
                        .join_from(batch_requests, batch_jobs, r.job_id == j.id)
                        .where(r.job_id == job_id, r.idx == idx)
                    )
                ).one()
                taken.append(Claimed(job_id, idx, row[1], row[2], principal_from(row[3]), dict(row[0])))
        return taken

    async def finish(self, job_id: str, idx: int, status_code: int, response: Any, request_id: str) -> None:
        """Store a request's answer (once: only while it is running)."""
        await self.finish_many([Answered(job_id, idx, status_code, response, request_id)])

    async def finish_many(self, answers: Sequence[Answered]) -> None:
        """Store answers in one transaction (each once: only while it is running)."""
        now = _now()
        r = batch_requests.c
        async with self._engine.begin() as conn:
            for answer in answers:
                await conn.execute(
                    batch_requests.update()
                    .where(r.job_id == answer.job_id, r.idx == answer.idx, r.state == "running")
                    .values(
                        state="done",
                        status_code=answer.status_code,
                        response=answer.response,
                        request_id=answer.request_id,
                        finished_at=now,
                        claimed_by=None,
                        lease_until=None,
                    )
                )
            for job_id in dict.fromkeys(answer.job_id for answer in answers):
                await self._finish_if_done(conn, job_id, now)

    async def release(self, job_id: str, idx: int) -> None:
        """Give a claimed request back, unsent (it is pending again)."""
        r = batch_requests.c
        async with self._engine.begin() as conn:
            await conn.execute(
                batch_requests.update()
                .where(r.job_id == job_id, r.idx == idx, r.state == "running")
                .values(state="pending", claimed_by=None, lease_until=None)
            )
            job = (await conn.execute(sa.select(batch_jobs.c.status).where(batch_jobs.c.id == job_id))).scalar()
            if job == "cancelling":  # cancelled while it was claimed: it never goes out now
                now = _now()
                await conn.execute(
                    batch_requests.update()
                    .where(r.job_id == job_id, r.idx == idx, r.state == "pending")
                    .values(state="cancelled", finished_at=now)
                )
                await self._finish_if_done(conn, job_id, now)

    async def renew(self, runner: str, lease: timedelta) -> None:
        r = batch_requests.c
        async with self._engine.begin() as conn:
            await conn.execute(
                batch_requests.update()
                .where(r.claimed_by == runner, r.state == "running")
                .values(lease_until=_now() + lease)
            )

    async def reap(self) -> int:
        """Answer the running requests whose runner is gone with ``INTERRUPTED``; how many."""
        now = _now()
        r = batch_requests.c
        async with self._engine.begin() as conn:
            stale = (
                await conn.execute(sa.select(r.job_id, r.idx).where(r.state == "running", r.lease_until < now))
            ).all()
            for job_id, idx in stale:
                await conn.execute(
                    batch_requests.update()
                    .where(r.job_id == job_id, r.idx == idx, r.state == "running")
                    .values(state="done", status_code=500, response=INTERRUPTED, finished_at=now, claimed_by=None)
                )
            for job_id in {job_id for job_id, _ in stale}:
                await self._finish_if_done(conn, job_id, now)
        return len(stale)

    async def _finish_if_done(self, conn: AsyncConnection, job_id: str, now: datetime) -> None:
        r, j = batch_requests.c, batch_jobs.c
        left = (
            await conn.execute(
                sa.select(sa.func.count()).where(r.job_id == job_id, r.state.in_(("pending", "running")))
            )
        ).scalar()
        if left:
            return
        row = (await conn.execute(sa.select(j.status, j.callback_url).where(j.id == job_id))).one()
        status, callback_url = row
        if status not in ("in_progress", "cancelling"):
            return
        values: dict[str, Any] = (
            {"status": "cancelled", "cancelled_at": now}
            if status == "cancelling"
            else {"status": "completed", "finalizing_at": now, "completed_at": now}
        )
        if callback_url:
            values.update(callback_state="pending", callback_next_at=now)
        await conn.execute(batch_jobs.update().where(j.id == job_id).values(values))

    # ---- callbacks --------------------------------------------------------------------

    async def callbacks_due(self, limit: int = 16) -> list[DueCallback]:
        j = batch_jobs.c
        query = (
            sa.select(j.id, j.owner, j.callback_url, j.callback_secret, j.callback_attempts)
            .where(j.callback_state == "pending", j.callback_next_at <= _now())
            .order_by(j.callback_next_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [DueCallback(*row) for row in await conn.execute(query)]

    async def callback_tried(self, job_id: str, error: str | None, retry_at: datetime | None) -> None:
        """One delivery attempt's outcome: delivered (no error), due again at ``retry_at``, or
        given up (an error and no ``retry_at``)."""
        j = batch_jobs.c
        state = "delivered" if error is None else ("pending" if retry_at is not None else "failed")
        async with self._engine.begin() as conn:
            await conn.execute(
                batch_jobs.update()
                .where(j.id == job_id)
                .values(
                    callback_state=state,
                    callback_attempts=j.callback_attempts + 1,
                    callback_next_at=retry_at,
                    callback_error=error,
                )
            )
