"""What a batch job is made of, and how submissions are read into it. Pure.

A submission becomes a list of ``BatchLine`` (custom id and request body) for one client
endpoint: the seed API's ``requests`` array, or the lines of an OpenAI batch input file
(``{"custom_id", "method": "POST", "url", "body"}``). Every problem is a ``BadRequest``
naming the line, before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from engine.access import Principal
from engine.errors import BadRequest

MAX_REQUESTS = 1000
SEED_TIERS = frozenset({"batch_50"})
# Client endpoints a batch request may speak, and their client format.
ENDPOINTS = {"/v1/chat/completions": "openai", "/v1/responses": "openai-responses"}
FINISHED = frozenset({"completed", "cancelled", "failed", "expired"})


@dataclass(frozen=True, slots=True)
class BatchLine:
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Counts:
    total: int = 0
    completed: int = 0  # answered 200
    failed: int = 0  # answered with an error
    cancelled: int = 0  # never sent: the job was cancelled first
    running: int = 0
    pending: int = 0


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    owner: str
    api: str  # "openai" | "seed"
    endpoint: str
    input_file_id: str | None
    status: str  # in_progress | cancelling | completed | cancelled | failed
    meta: dict[str, Any] | None
    callback_url: str | None
    callback_state: str
    created_at: datetime
    expires_at: datetime
    in_progress_at: datetime | None
    completed_at: datetime | None
    cancelling_at: datetime | None
    cancelled_at: datetime | None
    counts: Counts

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


@dataclass(frozen=True, slots=True)
class Result:
    """One request of a job as stored: its answer once ``state`` is ``done``."""

    idx: int
    custom_id: str
    state: str  # pending | running | done | cancelled
    status_code: int | None
    response: Any
    request_id: str | None


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    owner: str
    purpose: str
    filename: str
    bytes: int
    created_at: datetime


def owner_of(principal: Principal) -> str:
    """Whose jobs and files these are: the key's id, or the operator key / open mode by name."""
    return principal.key_id if principal.key_id is not None else f"static:{principal.key_name}"


def principal_record(principal: Principal) -> dict[str, Any]:
    return {
        "key_id": principal.key_id,
        "key_name": principal.key_name,
        "account_id": principal.account_id,
        "group": principal.group,
        "tags": list(principal.tags),
        "models": list(principal.models),
    }


def principal_from(record: dict[str, Any]) -> Principal:
    return Principal(
        record.get("key_id"),
        str(record["key_name"]),
        record.get("account_id"),
        str(record["group"]),
        tuple(record.get("tags", ())),
        tuple(record.get("models", ("*",))),
    )


def _checked_body(body: Any, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(f"{where}: the request must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest(f"{where}: 'model' is required", param="model")
    if body.get("stream") is True:
        raise BadRequest(f"{where}: a batch request cannot stream: leave out 'stream'", param="stream")
    return body


def _checked_all(lines: list[BatchLine]) -> list[BatchLine]:
    if not lines:
        raise BadRequest("a batch needs at least one request")
    if len(lines) > MAX_REQUESTS:
        raise BadRequest(f"a batch holds at most {MAX_REQUESTS} requests; this one has {len(lines)}")
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if line.custom_id in seen:
            raise BadRequest(f"request {number}: custom_id '{line.custom_id}' is used twice", param="custom_id")
        seen.add(line.custom_id)
    return lines


def seed_lines(requests: Any) -> list[BatchLine]:
    """The seed API's ``requests``: ``[{custom_id, model, messages, ...}]`` (chat completions)."""
    if not isinstance(requests, list):
        raise BadRequest("'requests' must be an array of chat completion requests", param="requests")
    lines = []
    for number, item in enumerate(requests, 1):
        where = f"request {number}"
        if not isinstance(item, dict):
            raise BadRequest(f"{where}: expected an object", param="requests")
        custom_id = item.get("custom_id", str(number - 1))
        if not isinstance(custom_id, str) or not custom_id:
            raise BadRequest(f"{where}: custom_id must be a non-empty string", param="custom_id")
        body = {k: v for k, v in item.items() if k != "custom_id"}
        lines.append(BatchLine(custom_id, _checked_body(body, where)))
    return _checked_all(lines)


def openai_lines(content: bytes, endpoint: str) -> list[BatchLine]:
    """An OpenAI batch input file: one ``{"custom_id", "method", "url", "body"}`` per line,
    every ``url`` the batch's ``endpoint``."""
    lines = []
    for number, raw in enumerate(content.splitlines(), 1):
        if not raw.strip():
            continue
        where = f"line {number} of the input file"
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"{where} is not JSON: {exc}") from None
        if not isinstance(item, dict):
            raise BadRequest(f"{where}: expected an object")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise BadRequest(f"{where}: custom_id must be a non-empty string")
        if item.get("method", "POST") != "POST":
            raise BadRequest(f"{where}: method must be POST")
        if item.get("url", endpoint) != endpoint:
            raise BadRequest(f"{where}: url {item.get('url')!r} is not the batch's endpoint {endpoint}")
        lines.append(BatchLine(custom_id, _checked_body(item.get("body"), where)))
    return _checked_all(lines)


def checked_endpoint(endpoint: Any) -> str:
    if endpoint not in ENDPOINTS:
        known = ", ".join(ENDPOINTS)
        raise BadRequest(f"endpoint {endpoint!r} cannot be batched here: use one of {known}", param="endpoint")
    return str(endpoint)
