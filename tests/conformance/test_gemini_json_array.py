"""Gemini ``:streamGenerateContent`` without ``alt=sse``: the REST default, one JSON array
of ``GenerateContentResponse`` objects written as the upstream produces it (what curl and
clients that do not speak SSE read), from every upstream format: translated from the
others, passed through (and reframed) from a Gemini upstream, which the gateway always
calls with ``alt=sse``. Read with raw httpx: the SDK always asks for SSE.

* the array holds exactly the objects the SSE answer's frames hold, in order, and its
  content type is ``application/json``;
* it arrives in pieces, the first being ``[`` and the first object;
* a failure mid-stream is the array's last element (Gemini's error object), and the
  array is closed: the body is always whole JSON;
* an error before the stream started is ``[{"error": {...}}]`` with the error's status,
  as the Gemini API answers a failed stream;
* with ``alt=sse`` nothing changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.conformance.case import public_model
from tests.conformance.clients.sse_events import read_events
from tests.conformance.matrix import UPSTREAMS
from tests.conformance.vendors import Vendor
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Stream

BODY = {"contents": [{"role": "user", "parts": [{"text": "Invent a new holiday."}]}]}
HEADERS = {"x-goog-api-key": "gemini-array-client"}


@pytest.fixture
def http(gateway: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, headers=HEADERS, timeout=30) as client:
        yield client


def _url(upstream: str, query: str = "") -> str:
    return f"/v1beta/models/{public_model(upstream)}:streamGenerateContent{query}"


def _scripted(vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream], upstream: str, *replies: Any) -> None:
    for fake in fakes.values():
        fake.reset()
    fakes[upstream].script(vendors[upstream].upstream_model, *replies)


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_without_alt_sse_the_stream_is_one_json_array_of_the_sse_answers_objects(
    upstream: str, http: httpx.Client, vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    vendor = vendors[upstream]
    reply = vendor.text(stream=True).reply
    assert isinstance(reply, Stream)
    paced = dataclasses.replace(reply, delay_s=min(0.05, 2.0 / len(reply.frames)))
    _scripted(vendors, fakes, upstream, reply, paced)

    sse = http.post(_url(upstream, "?alt=sse"), json=BODY)
    assert sse.status_code == 200 and sse.headers["content-type"].startswith("text/event-stream")
    frames = [data.encode() for _, data in read_events(sse.content)]
    objects = [orjson.loads(data) for data in frames]
    assert len(objects) >= 2

    pieces: list[bytes] = []
    with http.stream("POST", _url(upstream), json=BODY) as live:
        assert live.status_code == 200
        assert live.headers["content-type"] == "application/json"
        pieces.extend(piece for piece in live.iter_raw() if piece)
    body = b"".join(pieces)
    assert orjson.loads(body) == objects
    assert body == b"[" + b"\n,".join(frames) + b"\n]"  # each frame's object, verbatim
    # written as it grew: the first object came before the rest of the array
    assert len(pieces) >= 2, pieces
    assert pieces[0].startswith(b"[" + frames[0])
    assert objects[-1]["candidates"][0]["finishReason"] == "STOP"
    # both times the gateway asked the upstream for a stream (a Gemini one as alt=sse)
    received = fakes[upstream].requests
    assert len(received) == 2
    if upstream == "gemini":
        assert all(r.path.endswith(":streamGenerateContent") and r.query == {"alt": "sse"} for r in received)
    else:
        assert all(r.json["stream"] is True for r in received)


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_an_upstream_failure_mid_stream_is_the_arrays_last_element(
    upstream: str, http: httpx.Client, vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    failing = vendors[upstream].midstream_error()
    _scripted(vendors, fakes, upstream, failing.reply)
    response = http.post(_url(upstream), json=BODY)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    *chunks, last = orjson.loads(response.content)  # whole JSON, closed
    assert set(last) == {"error"}
    assert last["error"]["message"] and last["error"]["status"] and last["error"]["code"] >= 400, last
    texts = [p.get("text", "") for c in chunks for p in c["candidates"][0]["content"]["parts"] if not p.get("thought")]
    assert "".join(texts) == failing.text_before
    assert not any(c["candidates"][0].get("finishReason") for c in chunks), "a finish before the error"


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_an_error_before_the_stream_is_a_one_element_array_with_its_status(
    upstream: str, http: httpx.Client, vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    error = vendors[upstream].error_400()
    _scripted(vendors, fakes, upstream, error.reply)
    response = http.post(_url(upstream), json=BODY)
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    [only] = orjson.loads(response.content)
    assert (only["error"]["code"], only["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert error.message in only["error"]["message"]
    # the same error with alt=sse is the plain object
    _scripted(vendors, fakes, upstream, error.reply)
    plain = http.post(_url(upstream, "?alt=sse"), json=BODY)
    assert plain.status_code == 400 and orjson.loads(plain.content) == only


def test_a_request_error_is_an_array_too(http: httpx.Client) -> None:
    response = http.post(_url("gemini"), json={"contents": "not a list"})
    assert response.status_code == 400
    [only] = orjson.loads(response.content)
    assert only["error"]["status"] == "INVALID_ARGUMENT" and "contents" in only["error"]["message"]


def test_alt_json_asks_for_the_array_and_other_framings_are_refused(
    http: httpx.Client, vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    _scripted(vendors, fakes, "anthropic", vendors["anthropic"].text(stream=True).reply)
    response = http.post(_url("anthropic", "?alt=json"), json=BODY)
    assert response.status_code == 200 and isinstance(orjson.loads(response.content), list)
    refused = http.post(_url("anthropic", "?alt=proto"), json=BODY)
    assert refused.status_code == 400
    assert "alt" in orjson.loads(refused.content)["error"]["message"]
