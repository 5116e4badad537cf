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


_SCALARS: tuple[tuple[str, type, bool], ...] = (  # the plain fields, in RecordedRequest order: name, type, optional
    ("model", str, False),
    ("estimated_tokens", int, False),
    ("max_tokens", int, True),
    ("stream", bool, False),
    ("has_tools", bool, False),
    ("has_images", bool, False),
    ("wants_json", bool, False),
    ("message_count", int, False),
)
_KEY: tuple[tuple[str, type, bool], ...] = (
    ("key_name", str, False),
    ("key_group", str, False),
)
_TAIL: tuple[tuple[str, type, bool], ...] = (
    ("keyed", bool, False),
    ("first_model", str, True),
    ("first_channel", str, True),
    ("served_model", str, True),
    ("served_channel", str, True),
    ("status", int, False),
    ("prompt_tokens", int, False),
    ("completion_tokens", int, False),
    ("cached_tokens", int, False),
    ("reasoning_tokens", int, False),
    ("cost_micros", int, False),
)
_KIND = {str: "a string", int: "an integer", bool: "true or false"}


def _fields(data: Mapping[str, Any], spec: tuple[tuple[str, type, bool], ...]) -> list[Any]:
    values = []
    for name, kind, optional in spec:
        value = data.get(name)
        if type(value) is not kind and not (value is None and optional):  # type(): a bool is not an int here
            raise RecordError(f"'{name}' must be {_KIND[kind]}, got {value!r}")
        values.append(value)
    return values


def _str_map(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(type(k) is str and type(v) is str for k, v in value.items()):
        raise RecordError(f"'{name}' must be an object of strings")
    return value


def from_dict(data: Any) -> RecordedRequest:
    """Parse one recorded request (an export line, or a usage row's routing merged with its columns)."""
    if not isinstance(data, dict):
        raise RecordError("a recorded request must be a JSON object")
    version = data.get("v")
    if version != FORMAT_VERSION:
        raise RecordError(f"unknown recorded-request format {version!r} (this turnout reads {FORMAT_VERSION})")
    planned = data.get("planned_at")
    try:
        planned_at = datetime.fromisoformat(planned)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RecordError(f"'planned_at' is not an ISO datetime: {planned!r}") from None
    request_id = data.get("request_id")
    if type(request_id) is not str:
        raise RecordError(f"'request_id' must be a string, got {request_id!r}")
    if planned_at.tzinfo is None:
        planned_at = planned_at.replace(tzinfo=UTC)
    tags = data.get("key_tags")
    if type(tags) is not list or not all(type(t) is str for t in tags):
        raise RecordError("'key_tags' must be a list of strings")
    return RecordedRequest._make(
        [
            request_id,
            planned_at,
            *_fields(data, _SCALARS),
            _str_map(data.get("metadata", {}), "metadata"),
            _str_map(data.get("headers", {}), "headers"),
            *_fields(data, _KEY),
            tuple(tags),
            *_fields(data, _TAIL),
        ]
    )
