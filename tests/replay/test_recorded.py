"""What a usage row keeps of a request's routing, and reading it back (exports included)."""

from __future__ import annotations

import io

import orjson
import pytest

from engine.replay.export import ExportError, read_export, write_export
from engine.replay.recorded import RecordError, from_dict, recordable_headers, routing_fields, routing_json
from engine.routing.facts import RequestFacts
from tests.replay.builders import AT, recorded, routing_record


def test_the_routing_json_keeps_the_facts_and_never_the_text_or_a_credential_header() -> None:
    stored = orjson.loads(routing_json(routing_record()))
    assert stored == {
        "v": 1, "planned_at": "2026-06-01T12:00:00+00:00", "model": "auto", "estimated_tokens": 1000,
        "max_tokens": 256, "stream": True, "has_tools": True, "has_images": False, "wants_json": False,
        "message_count": 3, "metadata": {"ticket": "ÜX-1"}, "headers": {"x-team": "search"}, "key_name": "ci",
        "key_group": "research", "key_tags": ["batch"], "keyed": True, "first_model": "big", "first_channel": "main",
    }  # fmt: skip
    assert "never stored" not in routing_json(routing_record())


@pytest.mark.parametrize(
    "name", ["authorization", "X-Api-Key", "x-internal-token", "cookie", "x-session-id", "x-client-secret"]
)
def test_credential_like_headers_are_never_recorded(name: str) -> None:
    assert recordable_headers({name: "v", "x-team": "a"}) == {"x-team": "a"}


def test_metadata_is_bounded() -> None:
    facts = routing_record().facts._replace(metadata={f"k{i}": "x" * 600 for i in range(20)})
    kept = routing_fields(routing_record(facts=facts))["metadata"]
    assert len(kept) == 16 and {len(v) for v in kept.values()} == {512}


def test_a_stored_row_reads_back_as_the_recorded_request() -> None:
    data = orjson.loads(routing_json(routing_record()))
    data.update(request_id="r9", served_model="big", served_channel="main", status=200, prompt_tokens=10,
                completion_tokens=5, cached_tokens=2, reasoning_tokens=1, cost_micros=42)  # fmt: skip
    back = from_dict(data)
    assert back.planned_at == AT and back.key_tags == ("batch",) and back.headers == {"x-team": "search"}
    assert back.facts().text == "" and back.facts().has_tools and back.key().group == "research"


def test_an_export_round_trips() -> None:
    requests = [recorded("a"), recorded("b", max_tokens=None, headers={"x-team": "x"}, key_tags=("t",))]
    out = io.BytesIO()
    assert write_export(requests, out) == 2
    lines = out.getvalue().splitlines(keepends=True)
    assert list(read_export([lines[0], b"\n", lines[1]], "f")) == requests


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", "f:2: not JSON"),
        (b"[]", "f:2: a recorded request must be a JSON object"),
        (b'{"v": 2}', "f:2: unknown recorded-request format 2"),
        (b'{"v": 1, "planned_at": "yesterday"}', "f:2: 'planned_at' is not an ISO datetime"),
    ],
)
def test_a_bad_export_line_names_its_line(line: bytes, message: str) -> None:
    good = orjson.dumps(recorded().as_dict())
    with pytest.raises(ExportError, match=message):
        list(read_export([good, line], "f"))


def test_a_field_of_the_wrong_type_is_an_error() -> None:
    data = recorded().as_dict()
    data["stream"] = "yes"
    with pytest.raises(RecordError, match="'stream' must be true or false"):
        from_dict(data)
    data = recorded().as_dict()
    data["estimated_tokens"] = True
    with pytest.raises(RecordError, match="'estimated_tokens' must be an integer"):
        from_dict(data)


def test_facts_with_the_default_empty_maps_and_microseconds_store_and_read_back() -> None:
    facts = RequestFacts("m", 12, None, False, False, False, False, 1, "hello")  # read-only empty defaults
    planned = AT.replace(microsecond=123456)
    data = orjson.loads(routing_json(routing_record(facts=facts, planned_at=planned, first=None)))
    assert (data["metadata"], data["headers"], data["planned_at"]) == ({}, {}, "2026-06-01T12:00:00.123456+00:00")
    data.update(request_id="r", served_model=None, served_channel=None, status=503, prompt_tokens=0,
                completion_tokens=0, cached_tokens=0, reasoning_tokens=0, cost_micros=0)  # fmt: skip
    back = from_dict(data)
    assert (back.planned_at, back.first_model, back.max_tokens) == (planned, None, None)
