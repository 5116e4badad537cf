"""The routing facts a request's usage row keeps, and the recorded request a replay reads.

On the request path the pipeline only bundles references it already holds into a
``RoutingRecord`` (no conversion); the usage log's writer turns it into compact JSON
(``routing_json``) when it writes the batch, into the request row's ``routing`` column.

What is kept: the facts ``plan()`` reads (model asked, estimated prompt tokens, output cap,
stream, tools, images, JSON mode, message count, the request's metadata, the headers the
policy lets rules read, the key's name, group and tags, the time the request was planned)
and the first candidate the plan chose. Never kept: the prompt or output text (rules that
read ``request.text`` see ``""`` on replay) and credential-like headers, even when a policy
lists them in ``router.request_headers`` (``SECRET_HEADER``: authorization, cookies,
anything named like a key, token, secret or password).

A ``RecordedRequest`` is those facts plus what the row says happened (who served, status,
actual tokens, cost). ``as_dict``/``from_dict`` are one line of an export file (JSON lines).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from engine.routing.facts import RequestFacts
from engine.routing.plan import KeyFacts, Target

FORMAT_VERSION = 1
SECRET_HEADER = re.compile(r"auth|cookie|key|token|secret|passw|session|signature", re.IGNORECASE)
MAX_METADATA = 16  # entries kept (OpenAI allows 16), each value cut to METADATA_VALUE characters
METADATA_VALUE = 512


class RoutingRecord(NamedTuple):
    """Built per request on the request path: references only, converted at write time."""

    facts: RequestFacts
    key: KeyFacts
    keyed: bool  # a stored key (group limits and model globs apply), not a static key or open mode
    planned_at: datetime
    first: Target | None


def recordable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in headers.items() if not SECRET_HEADER.search(name)}


def routing_fields(record: RoutingRecord) -> dict[str, Any]:
    """The JSON object stored for a request (orjson writes the datetime as RFC 3339 and tuples
    as arrays; the common case, no headers and no metadata, skips both filters)."""
    facts, key, first = record.facts, record.key, record.first
    metadata = {k: v[:METADATA_VALUE] for k, v in list(facts.metadata.items())[:MAX_METADATA]} if facts.metadata else {}
    headers = recordable_headers(facts.headers) if facts.headers else {}
    return {
        "v": FORMAT_VERSION,
        "planned_at": record.planned_at,
        "model": facts.model,
        "estimated_tokens": facts.estimated_tokens,
        "max_tokens": facts.max_tokens,
        "stream": facts.stream,
        "has_tools": facts.has_tools,
        "has_images": facts.has_images,
        "wants_json": facts.wants_json,
        "message_count": facts.message_count,
        "metadata": metadata,
        "headers": headers,
        "key_name": key.name,
        "key_group": key.group,
        "key_tags": key.tags,
        "keyed": record.keyed,
        "first_model": first.model if first else None,
        "first_channel": first.channel if first else None,
    }


def routing_json(record: RoutingRecord) -> str:
    """The ``usage_log.routing`` text of a request row."""
    return orjson.dumps(routing_fields(record)).decode()


class RecordedRequest(NamedTuple):
    request_id: str
    planned_at: datetime
    model: str
    estimated_tokens: int
    max_tokens: int | None
    stream: bool
    has_tools: bool
    has_images: bool
    wants_json: bool
    message_count: int
    metadata: Mapping[str, str]
    headers: Mapping[str, str]
    key_name: str
    key_group: str
    key_tags: tuple[str, ...]
    keyed: bool
    first_model: str | None
    first_channel: str | None
    served_model: str | None
    served_channel: str | None
    status: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    reasoning_tokens: int
    cost_micros: int

    def facts(self) -> RequestFacts:
        return RequestFacts(
            self.model, self.estimated_tokens, self.max_tokens, self.stream, self.has_tools, self.has_images,
            self.wants_json, self.message_count, "", self.metadata, self.headers,
        )  # fmt: skip

    def key(self) -> KeyFacts:
        return KeyFacts(self.key_name, self.key_group, self.key_tags)

    def as_dict(self) -> dict[str, Any]:
        """One line of an export file (``planned_at`` as ISO text)."""
        data = self._asdict()
        data["planned_at"] = self.planned_at.isoformat()
        data["key_tags"] = list(self.key_tags)
        data["metadata"] = dict(self.metadata)
        data["headers"] = dict(self.headers)
        return {"v": FORMAT_VERSION, **data}


class RecordError(ValueError):
    """A recorded request that cannot be read (wrong shape or a newer format)."""


def _str_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise RecordError(f"'{name}' must be an object of strings")
    return value


def _int(data: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"'{name}' must be an integer, got {value!r}")
    return value


def _bool(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name)
    if not isinstance(value, bool):
        raise RecordError(f"'{name}' must be true or false, got {value!r}")
    return value


def _text(data: Mapping[str, Any], name: str, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RecordError(f"'{name}' must be a string, got {value!r}")
    return value


def from_dict(data: Any) -> RecordedRequest:
    """Parse one recorded request (an export line, or a usage row's routing merged with its columns)."""
    if not isinstance(data, dict):
        raise RecordError("a recorded request must be a JSON object")
    version = data.get("v")
    if version != FORMAT_VERSION:
        raise RecordError(f"unknown recorded-request format {version!r} (this turnout reads {FORMAT_VERSION})")
    try:
        planned_at = datetime.fromisoformat(_text(data, "planned_at"))
    except ValueError:
        raise RecordError(f"'planned_at' is not an ISO datetime: {data.get('planned_at')!r}") from None
    if planned_at.tzinfo is None:
        planned_at = planned_at.replace(tzinfo=UTC)
    tags = data.get("key_tags")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise RecordError("'key_tags' must be a list of strings")
    return RecordedRequest(
        request_id=_text(data, "request_id"),
        planned_at=planned_at,
        model=_text(data, "model"),
        estimated_tokens=_int(data, "estimated_tokens"),
        max_tokens=_int(data, "max_tokens", optional=True),
        stream=_bool(data, "stream"),
        has_tools=_bool(data, "has_tools"),
        has_images=_bool(data, "has_images"),
        wants_json=_bool(data, "wants_json"),
        message_count=_int(data, "message_count"),
        metadata=_str_map(data.get("metadata", {}), "metadata"),
        headers=_str_map(data.get("headers", {}), "headers"),
        key_name=_text(data, "key_name"),
        key_group=_text(data, "key_group"),
        key_tags=tuple(tags),
        keyed=_bool(data, "keyed"),
        first_model=_text(data, "first_model", optional=True),
        first_channel=_text(data, "first_channel", optional=True),
        served_model=_text(data, "served_model", optional=True),
        served_channel=_text(data, "served_channel", optional=True),
        status=_int(data, "status"),
        prompt_tokens=_int(data, "prompt_tokens"),
        completion_tokens=_int(data, "completion_tokens"),
        cached_tokens=_int(data, "cached_tokens"),
        reasoning_tokens=_int(data, "reasoning_tokens"),
        cost_micros=_int(data, "cost_micros"),
    )
