"""Reading submissions into batch lines: the seed API's requests and OpenAI's JSONL."""

from __future__ import annotations

import orjson
import pytest

from engine.access import Principal
from engine.batch.model import (
    BatchLine,
    checked_endpoint,
    openai_lines,
    owner_of,
    principal_from,
    principal_record,
    seed_lines,
)
from engine.errors import BadRequest

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def _jsonl(*items: object) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def test_seed_requests_keep_everything_but_the_custom_id() -> None:
    lines = seed_lines([{"custom_id": "a", **CHAT, "temperature": 0}, CHAT])
    assert lines == [BatchLine("a", {**CHAT, "temperature": 0}), BatchLine("1", CHAT)]


def test_openai_lines() -> None:
    content = _jsonl(
        {"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": CHAT},
        {"custom_id": "y", "body": CHAT},
    )
    assert openai_lines(content + b"\n\n", "/v1/chat/completions") == [BatchLine("x", CHAT), BatchLine("y", CHAT)]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"{nope\n", "line 1 of the input file is not JSON"),
        (_jsonl({"custom_id": "x", "method": "GET", "body": CHAT}), "method must be POST"),
        (_jsonl({"custom_id": "x", "url": "/v1/embeddings", "body": CHAT}), "is not the batch's endpoint"),
        (_jsonl({"body": CHAT}), "custom_id must be a non-empty string"),
        (_jsonl({"custom_id": "x", "body": {"messages": []}}), "'model' is required"),
        (_jsonl({"custom_id": "x", "body": {**CHAT, "stream": True}}), "cannot stream"),
        (_jsonl({"custom_id": "x", "body": CHAT}, {"custom_id": "x", "body": CHAT}), "used twice"),
        (b"", "at least one request"),
        (_jsonl(*({"custom_id": str(i), "body": CHAT} for i in range(1001))), "at most 1000"),
    ],
)
def test_openai_lines_refuse_with_the_line(content: bytes, problem: str) -> None:
    with pytest.raises(BadRequest, match=problem):
        openai_lines(content, "/v1/chat/completions")


def test_endpoints() -> None:
    assert checked_endpoint("/v1/responses") == "/v1/responses"
    with pytest.raises(BadRequest, match="cannot be batched"):
        checked_endpoint("/v1/embeddings")


def test_principals_round_trip_and_own_their_jobs() -> None:
    keyed = Principal("key-1", "ci", "acct", "team", ("a",), ("gpt-*",))
    assert principal_from(orjson.loads(orjson.dumps(principal_record(keyed)))) == keyed
    assert owner_of(keyed) == "key-1"
    assert owner_of(Principal(None, "static", None, "default")) == "static:static"
