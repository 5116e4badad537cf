"""Anthropic -> Anthropic forwarding: only ``model`` rewritten, every field and event kept."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from engine.canonical import Usage
from engine.errors import UpstreamError
from providers.anthropic.passthrough import (
    AnthropicPassthrough,
    AnthropicPassthroughStream,
)
from providers.base import Endpoint, Passthrough, PassthroughStream
from tests.providers.anthropic._anthropic_fixtures import (
    FIXTURES,
    MESSAGES,
    STREAMS,
    sse_payloads,
    stream_bytes,
)

ENDPOINT = Endpoint(
    "anthropic-main", "anthropic", "https://api.anthropic.com/v1", "sk-ant-secret", "claude-sonnet-4-5-20250929"
)
PASS = AnthropicPassthrough()

# Fields our canonical model cannot carry: a document block with citations, a server tool,
# a container, MCP servers, context management and a field no SDK knows yet.
BODY: dict[str, Any] = {
    "model": "my-claude",
    "max_tokens": 2048,
    "messages": [
        {
            "role": "user",
            "content": [
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "The grass is green."},
                    "title": "Facts",
                    "citations": {"enabled": True},
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
                {"type": "text", "text": "What colour is the grass? Search the web too."},
            ],
        }
    ],
    "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
    "container": "container_011CRvGmyZwpAwbzz7fr7XWn",
    "mcp_servers": [{"type": "url", "url": "https://mcp.example/sse", "name": "ex"}],
    "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
    "future_field_2027": {"nested": [1, None, "x"]},
}


def relay(raw: bytes, step: int | None = None, seed: int | None = None) -> tuple[bytes, AnthropicPassthroughStream]:
    """Feeds ``raw`` in ``step``-byte pieces, or random 1..13-byte pieces for ``seed``."""
    stream = PASS.stream("my-claude", client_wants_usage=False)
    rng = random.Random(seed)
    out, start = [], 0
    while start < len(raw):
        size = step or (rng.randint(1, 13) if seed is not None else len(raw))
        out.append(stream.feed(raw[start : start + size]))
        assert stream.usage is None or isinstance(stream.usage, Usage)
        start += size
    stream.close()
    return b"".join(out), stream


def whole(name: str) -> bytes:
    """The fixture with its final blank line (some SDK fixture files lack it)."""
    raw = stream_bytes(name)
    return raw if raw.endswith(b"\n\n") else raw.rstrip(b"\n") + b"\n\n"


def test_it_satisfies_the_passthrough_protocols() -> None:
    passthrough: Passthrough = PASS
    stream: PassthroughStream = passthrough.stream("m", True)
    assert passthrough.format == "anthropic" and stream.usage is None


def test_build_forwards_every_field_with_only_the_model_rewritten() -> None:
    upstream = PASS.build(BODY, ENDPOINT, False, {})
    assert orjson.loads(upstream.body) == {**BODY, "model": "claude-sonnet-4-5-20250929"}
    assert BODY["model"] == "my-claude"  # the client's body is not mutated
    assert (upstream.method, upstream.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert upstream.headers == {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "sk-ant-secret",
    }


def test_build_merges_channel_params_over_the_body() -> None:
    ep = ENDPOINT._replace(params={"temperature": 0.2, "max_tokens": 999, "service_tier": "auto"})
    sent = orjson.loads(PASS.build({**BODY, "temperature": 1.0}, ep, False, {}).body)
    assert (sent["temperature"], sent["max_tokens"], sent["service_tier"]) == (0.2, 999, "auto")
    assert sent["container"] == BODY["container"]


@pytest.mark.parametrize(
    ("body_max", "params", "expected"),
    [(None, {}, 4096), (None, {"max_tokens": 1500}, 1500), (64, {}, 64)],
)
def test_max_tokens_default_only_when_the_client_sent_none(
    body_max: int | None, params: dict[str, Any], expected: int
) -> None:
    body = {k: v for k, v in BODY.items() if k != "max_tokens"}
    if body_max is not None:
        body["max_tokens"] = body_max
    sent = orjson.loads(PASS.build(body, ENDPOINT._replace(params=params), False, {}).body)
    assert sent["max_tokens"] == expected
    assert {k: v for k, v in sent.items() if k not in ("max_tokens", "model")} == {
        k: v for k, v in body.items() if k not in ("max_tokens", "model")
    }


def test_build_stream_flag_follows_the_clients_choice() -> None:
    assert orjson.loads(PASS.build({**BODY, "stream": True}, ENDPOINT, True, {}).body)["stream"] is True
    assert "stream" not in orjson.loads(PASS.build(BODY, ENDPOINT, False, {}).body)


def test_client_version_and_beta_headers_are_forwarded() -> None:
    client = {
        "anthropic-version": "2024-01-01",
        "anthropic-beta": "files-api-2025-04-14",
        "authorization": "Bearer user",
    }
    headers = PASS.build(BODY, ENDPOINT, False, client).headers
    assert headers["anthropic-version"] == "2024-01-01"
    assert headers["anthropic-beta"] == "files-api-2025-04-14"
    assert "authorization" not in headers and headers["x-api-key"] == "sk-ant-secret"  # never the client's auth


@pytest.mark.parametrize(
    ("channel", "client", "expected"),
    [
        ({"anthropic-beta": "mcp-client-2025-04-04"}, None, "mcp-client-2025-04-04"),
        ({"anthropic-beta": "a,b"}, "b, c", "a,b,c"),
        ({"Anthropic-Beta": "a"}, "a", "a"),
        ({}, "c,,c", "c"),
    ],
)
def test_beta_headers_merge_channel_first_without_duplicates(
    channel: dict[str, str], client: str | None, expected: str
) -> None:
    client_headers = {} if client is None else {"anthropic-beta": client}
    headers = PASS.build(BODY, ENDPOINT._replace(headers=channel), False, client_headers).headers
    betas = {k: v for k, v in headers.items() if k.lower() == "anthropic-beta"}
    assert list(betas.values()) == [expected]


def test_channel_version_header_wins_over_the_clients() -> None:
    ep = ENDPOINT._replace(headers={"anthropic-version": "2023-01-01"})
    headers = PASS.build(BODY, ep, False, {"anthropic-version": "2024-01-01"}).headers
    assert headers["anthropic-version"] == "2023-01-01"


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_rewrite_response_keeps_everything_but_the_model(name: str) -> None:
    raw = MESSAGES[name].read_bytes()
    out, usage = PASS.rewrite_response(raw, "my-claude")
    assert orjson.loads(out) == {**orjson.loads(raw), "model": "my-claude"}
    wire = orjson.loads(raw)["usage"]
    assert usage.output_tokens == wire["output_tokens"]
    assert (
        usage.input_tokens
        == wire["input_tokens"] + wire["cache_read_input_tokens"] + wire["cache_creation_input_tokens"]
    )


def test_rewrite_response_usage_of_a_server_tool_answer() -> None:
    _, usage = PASS.rewrite_response(MESSAGES["anthropic-web-search-tool.1.json"].read_bytes(), "m")
    assert usage == Usage(input_tokens=27118, output_tokens=600)


def test_rewrite_response_counts_cache_tokens() -> None:
    data = orjson.loads(MESSAGES["anthropic-text.json"].read_bytes())
    data["usage"].update(cache_read_input_tokens=3000, cache_creation_input_tokens=500)
    _, usage = PASS.rewrite_response(orjson.dumps(data), "m")
    assert usage == Usage(input_tokens=3512, output_tokens=29, cached_input_tokens=3000, cache_write_tokens=500)


@pytest.mark.parametrize(
    ("raw", "failure"),
    [
        (b"<html>bad gateway</html>", "server"),
        (b"[1, 2]", "server"),
        (b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "server"),
        (b'{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}', "rate_limit"),
        (
            b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 1 > 0"}}',
            "context_length",
        ),
    ],
)
def test_rewrite_response_errors(raw: bytes, failure: str) -> None:
    with pytest.raises(UpstreamError) as info:
        PASS.rewrite_response(raw, "m")
    assert info.value.failure == failure


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_every_stream_is_relayed_event_for_event_with_only_the_model_changed(name: str) -> None:
    raw = whole(name)
    out, stream = relay(raw, seed=len(name))
    theirs, ours = sse_payloads(raw), sse_payloads(out)
    assert [event for event, _ in ours] == [event for event, _ in theirs]
    start_theirs, start_ours = theirs[0][1], ours[0][1]
    assert start_ours["message"]["model"] == "my-claude" != start_theirs["message"]["model"]
    start_theirs["message"]["model"] = "my-claude"
    assert ours == theirs
    assert stream.finished


def test_recorded_server_tool_stream_in_7_byte_pieces_keeps_citations_and_usage() -> None:
    raw = whole("recorded-2026/anthropic-web-search-tool.1.chunks.txt")
    out, stream = relay(raw, step=7)
    events = sse_payloads(out)
    assert len(events) == 120
    kinds = {payload.get("content_block", {}).get("type") for _, payload in events}
    deltas = {payload.get("delta", {}).get("type") for _, payload in events}
    assert {"server_tool_use", "web_search_tool_result"} <= kinds and "citations_delta" in deltas
    # message_delta's cumulative input_tokens (15665) replaces message_start's (2037)
    assert stream.usage == Usage(input_tokens=15665, output_tokens=795)


def test_usage_follows_message_start_then_message_delta() -> None:
    raw = whole("recorded-2026/anthropic-text.chunks.txt")
    stream = PASS.stream("my-claude", True)
    events = raw.split(b"\n\n")
    stream.feed(events[0] + b"\n\n")
    assert stream.usage == Usage(input_tokens=12, output_tokens=1)
    stream.feed(b"\n\n".join(events[1:]))
    stream.close()
    assert stream.usage == Usage(input_tokens=12, output_tokens=30)


def test_cache_tokens_from_message_start_survive_a_message_delta_without_them() -> None:
    lines = [
        orjson.loads(line)
        for line in (FIXTURES / "recorded-2026/anthropic-text.chunks.txt").read_bytes().splitlines()
        if line.strip()
    ]
    lines[0]["message"]["usage"].update(cache_read_input_tokens=4000, cache_creation_input_tokens=250)
    delta = next(line for line in lines if line["type"] == "message_delta")
    delta["usage"] = {"output_tokens": 30, "cache_creation_input_tokens": 300}
    raw = b"".join(b"event: " + line["type"].encode() + b"\ndata: " + orjson.dumps(line) + b"\n\n" for line in lines)
    _, stream = relay(raw, seed=7)
    assert stream.usage == Usage(input_tokens=4312, output_tokens=30, cached_input_tokens=4000, cache_write_tokens=300)


def test_ping_and_unknown_events_pass_through_and_nameless_events_are_named_by_type() -> None:
    stream = PASS.stream("my-claude", False)
    start = b'{"type":"message_start","message":{"model":"claude-up","usage":{"input_tokens":5,"output_tokens":1}}}'
    upstream = (
        b"event: message_start\ndata: " + start + b"\n\n"
        b": keep-alive comment\n\n"
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: thought_summary\ndata: {"type":"thought_summary","text":"hm","extra":[1]}\n\n'
        b'data: {"type":"message_stop"}\n\n'
    )
    out = stream.feed(upstream)
    assert out == (
        b'event: message_start\ndata: {"type":"message_start","message":{"model":"my-claude","usage":{"input_tokens":5,"output_tokens":1}}}\n\n'
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: thought_summary\ndata: {"type":"thought_summary","text":"hm","extra":[1]}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    stream.close()


def test_events_after_message_stop_are_ignored() -> None:
    stream = PASS.stream("m", False)
    assert stream.feed(b'data: {"type":"message_stop"}\n\ndata: {"type":"ping"}\n\ndata: not json\n\n') == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    stream.close()


@pytest.mark.parametrize(
    ("error_type", "failure", "status"),
    [
        ("overloaded_error", "server", 529),
        ("rate_limit_error", "rate_limit", 429),
        ("invalid_request_error", "bad_request", 400),
    ],
)
def test_error_event_raises_the_classified_failure(error_type: str, failure: str, status: int) -> None:
    raw = whole("recorded-2026/anthropic-text.chunks.txt")
    stream = PASS.stream("m", False)
    first_two = b"\n\n".join(raw.split(b"\n\n")[:2]) + b"\n\n"
    assert stream.feed(first_two)
    error = (
        b'event: error\ndata: {"type":"error","error":{"details":null,"type":"'
        + error_type.encode()
        + b'","message":"boom"},"request_id":"req_1"}\n\n'
    )
    with pytest.raises(UpstreamError) as info:
        stream.feed(error)
    assert (info.value.failure, info.value.upstream_status) == (failure, status)
    assert "boom" in info.value.message


def test_stream_cut_before_message_stop() -> None:
    raw = whole("recorded-2026/anthropic-json-tool.1.chunks.txt")
    cut = raw[: raw.index(b"event: message_delta")]
    stream = PASS.stream("m", False)
    out = stream.feed(cut)
    assert out and not stream.finished
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.failure == "stream_cut"


def test_stream_cut_inside_the_last_event() -> None:
    raw = whole("recorded-2026/anthropic-text.chunks.txt")
    stream = PASS.stream("m", False)
    stream.feed(raw[: raw.index(b"event: message_delta") + 40])  # before the stop reason
    with pytest.raises(UpstreamError) as info:
        stream.close()
    assert info.value.failure == "stream_cut"


def test_a_final_message_stop_without_its_blank_line_still_completes() -> None:
    raw = stream_bytes("sdk-fixtures/basic_response.sse")
    assert not raw.endswith(b"\n\n")
    stream = PASS.stream("m", False)
    out = stream.feed(raw)
    assert [event for event, _ in sse_payloads(out)][-1] == "message_delta"  # message_stop still buffered
    tail = stream.close()  # no stream_cut: the whole message_stop arrived, and is relayed now
    assert stream.finished and stream.usage == Usage(input_tokens=11, output_tokens=6)
    assert [event for event, _ in sse_payloads(tail)] == ["message_stop"]


def test_non_json_event_is_skipped_and_counted() -> None:
    stream = PASS.stream("m", False)
    assert stream.feed(b"event: content_block_delta\ndata: {nope\n\n") == b""
    assert stream.malformed_events == 1


def test_partial_frames_are_held_back() -> None:
    stream = PASS.stream("m", False)
    data = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}\n\n'
    assert stream.feed(data[:30]) == b""
    assert stream.feed(data[30:]) == data
