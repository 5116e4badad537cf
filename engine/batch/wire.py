"""Batch jobs and files in their clients' shapes: OpenAI's Batch, File and batch output
JSONL, and the seed API's job document. Pure.

OpenAI's output file holds one line per request answered 200, its error file one per
request answered otherwise (``response`` with the status and the error body) or never sent
(``error``: ``batch_cancelled`` or ``batch_expired``); both exist only once the job has
finished, and only when they would not be empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from engine.batch.model import Job, Result, StoredFile


def _ts(at: datetime | None) -> int | None:
    return None if at is None else int(at.timestamp())


def output_file_id(job_id: str) -> str:
    return f"file-{job_id}-output"


def error_file_id(job_id: str) -> str:
    return f"file-{job_id}-errors"


def job_of_file(file_id: str) -> tuple[str, str] | None:
    """(job id, "output" | "errors") for a file id a job's results are served under."""
    for kind in ("output", "errors"):
        suffix = f"-{kind}"
        if file_id.startswith("file-batch_") and file_id.endswith(suffix):
            return file_id[len("file-") : -len(suffix)], kind
    return None


def _ok(result: Result) -> bool:
    return result.state == "done" and result.status_code == 200


def result_line(job_id: str, result: Result) -> dict[str, Any]:
    """One line of the output or error file."""
    line: dict[str, Any] = {"id": f"batch_req_{job_id}_{result.idx}", "custom_id": result.custom_id}
    if result.state == "done":
        line["response"] = {
            "status_code": result.status_code,
            "request_id": result.request_id,
            "body": result.response,
        }
        line["error"] = None
    else:
        code = "batch_cancelled" if result.state == "cancelled" else "batch_expired"
        line["response"] = None
        line["error"] = {"code": code, "message": f"the request was not sent: {code.removeprefix('batch_')}"}
    return line


def result_file(job_id: str, results: list[Result], kind: str) -> bytes:
    chosen = [r for r in results if _ok(r) == (kind == "output")]
    return b"".join(orjson.dumps(result_line(job_id, r)) + b"\n" for r in chosen)


def openai_batch(job: Job) -> dict[str, Any]:
    counts = job.counts
    failed = counts.failed + counts.cancelled
    return {
        "id": job.id,
        "object": "batch",
        "endpoint": job.endpoint,
        "errors": None,
        "input_file_id": job.input_file_id or "",
        "completion_window": "24h",
        "status": job.status,
        "output_file_id": output_file_id(job.id) if job.finished and counts.completed else None,
        "error_file_id": error_file_id(job.id) if job.finished and failed else None,
        "created_at": _ts(job.created_at),
        "in_progress_at": _ts(job.in_progress_at),
        "expires_at": _ts(job.expires_at),
        "finalizing_at": _ts(job.completed_at),
        "completed_at": _ts(job.completed_at),
        "failed_at": None,
        "expired_at": None,
        "cancelling_at": _ts(job.cancelling_at),
        "cancelled_at": _ts(job.cancelled_at),
        "request_counts": {"total": counts.total, "completed": counts.completed, "failed": failed},
        "metadata": job.meta,
    }


def openai_file(stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.id,
        "object": "file",
        "bytes": stored.bytes,
        "created_at": _ts(stored.created_at),
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": "processed",
    }


def result_file_object(job: Job, kind: str, size: int) -> dict[str, Any]:
    """The File object of a job's output or error file."""
    file_id = output_file_id(job.id) if kind == "output" else error_file_id(job.id)
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": _ts(job.completed_at or job.cancelled_at),
        "filename": f"{job.id}_{kind}.jsonl",
        "purpose": "batch_output",
        "status": "processed",
    }


def seed_job(job: Job, poll_url: str, results: list[Result] | None) -> dict[str, Any]:
    """``GET /v1/batch/{id}``: status and counts; with ``results`` (a finished job) the answers."""
    counts = job.counts
    document: dict[str, Any] = {
        "id": job.id,
        "object": "batch_job",
        "tier": "batch_50",
        "status": job.status,
        "poll_url": poll_url,
        "counts": {
            "total": counts.total,
            "completed": counts.completed,
            "failed": counts.failed,
            "cancelled": counts.cancelled,
            "in_progress": counts.running,
            "pending": counts.pending,
        },
        "created_at": _ts(job.created_at),
        "completed_at": _ts(job.completed_at or job.cancelled_at),
        "callback_url": job.callback_url,
        "callback_status": job.callback_state,
    }
    if results is not None:
        document["results"] = [
            {
                "custom_id": r.custom_id,
                "status": "cancelled" if r.state == "cancelled" else ("succeeded" if _ok(r) else "failed"),
                "status_code": r.status_code,
                "response": r.response if _ok(r) else None,
                "error": (r.response or {}).get("error") if r.state == "done" and not _ok(r) else None,
            }
            for r in results
        ]
    return document
