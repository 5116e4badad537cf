"""The fault upstream itself, driven with raw httpx: every fault does what it says, in the
OpenAI chat-completions and the Anthropic Messages wire formats, and the recordings say
what happened. The error bodies are checked against Turnout's own error classifiers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from engine.sse import SSEEvent, SSEParser
from providers.anthropic.error_classifier import classify_error
from providers.openai.error_classifier import classify_http_error
from tests.support.fault_text import expected_text
from tests.support.fault_upstream import FaultRequest, FaultUpstream

WIRES = ("openai", "anthropic")
PATHS = {"openai": "/chat/completions", "anthropic": "/messages"}
TERMINATOR = {"openai": "[DONE]", "anthropic": "message_stop"}


def _body(wire: str, model: str, stream: bool, messages: list[dict[str, Any]] | None, extra: dict[str, Any]) -> Any:
    body: dict[str, Any] = {"model": model, "messages": messages or [{"role": "user", "content": "say the words"}]}
    if wire == "anthropic":
        body["max_tokens"] = 100
    if stream:
        body["stream"] = True
        if wire == "openai":
            body["stream_options"] = {"include_usage": True}
    return {**body, **extra}


@dataclass(frozen=True, slots=True)
class Harness:
    """The fake and one raw HTTP client to it."""

    fake: FaultUpstream
    http: httpx.Client

    def url(self, wire: str) -> str:
        return self.fake.base_url + PATHS[wire]

    def post(
        self,
        wire: str,
        model: str,
        *,
        stream: bool = False,
        messages: list[dict[str, Any]] | None = None,
        timeout: float = 10.0,
        **extra: Any,
    ) -> httpx.Response:
        body = _body(wire, model, stream, messages, extra)
        return self.http.post(self.url(wire), json=body, timeout=timeout)

    def stream(self, wire: str, model: str, **extra: Any) -> tuple[httpx.Response, bytes, Exception | None]:
        """A stream read to its end or its failure: the response, the bytes, the error."""
        got = b""
        body = _body(wire, model, True, extra.pop("messages", None), extra)
        timeout = httpx.Timeout(10.0, read=extra.pop("read_timeout", 10.0))
        with self.http.stream("POST", self.url(wire), json=body, timeout=timeout) as r:
            try:
                for chunk in r.iter_raw():
                    got += chunk
            except (httpx.RemoteProtocolError, httpx.ReadTimeout) as exc:
                return r, got, exc
        return r, got, None


@pytest.fixture
def up() -> Iterator[Harness]:
    with FaultUpstream(keepalive_s=0.1, hang_s=30) as fake, httpx.Client(timeout=10, verify=False) as http:
        yield Harness(fake, http)


def events(raw: bytes) -> list[SSEEvent]:
    return SSEParser().feed(raw)


def payloads(raw: bytes) -> list[Any]:
    """Every SSE event's JSON (``[DONE]`` and unparseable events left out)."""
    out = []
    for event in events(raw):
        try:
            out.append(orjson.loads(event.data))
        except orjson.JSONDecodeError:
            continue
    return out


def streamed_text(wire: str, raw: bytes) -> str:
    parts = []
    for payload in payloads(raw):
        if wire == "openai":
            for choice in payload.get("choices") or []:
                parts.append(choice["delta"].get("content") or "")
                for call in choice["delta"].get("tool_calls") or []:
                    parts.append(call["function"].get("arguments", ""))
        elif payload.get("type") == "content_block_delta":
            delta = payload["delta"]
            parts.append(delta.get("text", delta.get("partial_json", "")))
    return "".join(parts)


def finish_of(wire: str, raw: bytes) -> str | None:
    for payload in payloads(raw):
        if wire == "openai":
            for choice in payload.get("choices") or []:
                if choice.get("finish_reason"):
                    return str(choice["finish_reason"])
        elif payload.get("type") == "message_delta":
            return str(payload["delta"]["stop_reason"])
    return None


def stream_usage(wire: str, raw: bytes) -> tuple[int, int] | None:
    for payload in payloads(raw):
        usage = payload.get("usage")
        if wire == "openai" and usage:
            return usage["prompt_tokens"], usage["completion_tokens"]
        if wire == "anthropic" and payload.get("type") == "message_delta":
            return usage["input_tokens"], usage["output_tokens"]
    return None


def terminated(wire: str, raw: bytes) -> bool:
    last = events(raw)[-1]
    return (last.data if wire == "openai" else last.event) == TERMINATOR[wire]


def answer_text(wire: str, response: httpx.Response) -> str:
    body = response.json()
    if wire == "openai":
        return str(body["choices"][0]["message"]["content"])
    return "".join(block["text"] for block in body["content"] if block["type"] == "text")


def kind_of(wire: str, response: httpx.Response) -> str:
    """The failure kind Turnout's own classifier reads from this error response."""
    if wire == "openai":
        return classify_http_error(response.status_code, response.headers, response.content).failure
    return classify_error(response.status_code, response.headers, response.content).failure


def only(fake: FaultUpstream) -> FaultRequest:
    [entry] = fake.wait_idle()
    return entry


# -- healthy answers --------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
def test_a_plain_model_answers_numbered_words_streamed(up: Harness, wire: str) -> None:
    response, raw, error = up.stream(wire, "m")
    assert error is None and response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert streamed_text(wire, raw) == expected_text(10)
    assert finish_of(wire, raw) == ("stop" if wire == "openai" else "end_turn")
    assert stream_usage(wire, raw) == (3, 10)
    assert terminated(wire, raw)
    entry = only(up.fake)
    assert (entry.index, entry.model, entry.wire, entry.stream, entry.played) == (1, "m", wire, True, "ok")
    assert (entry.status, entry.content_frames, entry.text_sent) == (200, 10, expected_text(10))
    assert entry.frames_sent == len(events(raw))
    assert entry.prefill is None and entry.finished_at is not None and not entry.disconnected
    assert entry.path == "/v1" + PATHS[wire] and entry.json["model"] == "m"


def test_openai_streams_carry_usage_only_when_asked(up: Harness) -> None:
    response, raw, _ = up.stream("openai", "m", stream_options={"include_usage": False})
    assert streamed_text("openai", raw) == expected_text(10)
    assert stream_usage("openai", raw) is None
    assert all("usage" not in p for p in payloads(raw))


@pytest.mark.parametrize("wire", WIRES)
def test_a_plain_model_answers_numbered_words_as_json(up: Harness, wire: str) -> None:
    response = up.post(wire, "m+words4")
    assert response.status_code == 200 and answer_text(wire, response) == "w1 w2 w3 w4"
    usage = response.json()["usage"]
    assert usage == (
        {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
        if wire == "openai"
        else {"input_tokens": 3, "output_tokens": 4}
    )
    assert only(up.fake).text_sent == "w1 w2 w3 w4"


@pytest.mark.parametrize("wire", WIRES)
def test_max_tokens_ends_with_the_length_finish(up: Harness, wire: str) -> None:
    _, raw, _ = up.stream(wire, "m", max_tokens=3)
    assert streamed_text(wire, raw) == "w1 w2 w3"
    assert finish_of(wire, raw) == ("length" if wire == "openai" else "max_tokens")


# -- prefill ----------------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("stream", [True, False])
def test_a_prefill_is_continued_and_only_the_continuation_counted(up: Harness, wire: str, stream: bool) -> None:
    messages = [{"role": "user", "content": "say the words"}, {"role": "assistant", "content": "w1 w2 w3"}]
    if stream:
        _, raw, _ = up.stream(wire, "m", messages=messages)
        text, usage = streamed_text(wire, raw), stream_usage(wire, raw)
    else:
        response = up.post(wire, "m", messages=messages)
        text, usage = answer_text(wire, response), response.json()["usage"]
        usage = (usage["prompt_tokens"], usage["completion_tokens"]) if wire == "openai" else tuple(usage.values())
    assert text == " w4 w5 w6 w7 w8 w9 w10"
    assert "w1 w2 w3" + text == expected_text(10)
    assert usage == (6, 7)
    entry = only(up.fake)
    assert entry.prefill == "w1 w2 w3" and entry.text_sent == text


def test_anthropic_prefill_as_text_blocks(up: Harness) -> None:
    prefill = {"role": "assistant", "content": [{"type": "text", "text": "w1 w2"}, {"type": "text", "text": " w3"}]}
    response = up.post("anthropic", "m+words5", messages=[{"role": "user", "content": "go"}, prefill])
    assert answer_text("anthropic", response) == " w4 w5"
    assert only(up.fake).prefill == "w1 w2 w3"


def test_openai_prefill_ending_in_a_space_continues_without_one(up: Harness) -> None:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": "w1 w2 ", "prefix": True},
    ]
    response = up.post("openai", "m+words4", messages=messages)
    assert answer_text("openai", response) == "w3 w4"


def test_anthropic_rejects_a_prefill_ending_in_whitespace_as_the_real_api_does(up: Harness) -> None:
    messages = [{"role": "user", "content": "go"}, {"role": "assistant", "content": "w1 w2 "}]
    response = up.post("anthropic", "m", messages=messages)
    assert response.status_code == 400
    assert "final assistant content cannot end with trailing whitespace" in response.json()["error"]["message"]
    assert only(up.fake).played == "trailing_whitespace"


@pytest.mark.parametrize("wire", WIRES)
def test_noprefill_rejects_only_a_trailing_assistant_message(up: Harness, wire: str) -> None:
    assert up.post(wire, "m+noprefill").status_code == 200
    messages = [{"role": "user", "content": "go"}, {"role": "assistant", "content": "w1"}]
    rejected = up.post(wire, "m+noprefill", messages=messages)
    assert rejected.status_code == 400
    assert kind_of(wire, rejected) == "bad_request"
    message = rejected.json()["message"] if wire == "openai" else rejected.json()["error"]["message"]
    assert (
        "Expected last role User or Tool" if wire == "openai" else "does not support assistant message prefill"
    ) in message
    first, second = up.fake.wait_idle()
    assert (first.played, first.prefill, second.played, second.prefill) == ("ok", None, "noprefill", "w1")


# -- statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
def test_429_with_and_without_retry_after(up: Harness, wire: str) -> None:
    plain = up.post(wire, "m+429")
    timed = up.post(wire, "m+429-ra2")
    assert plain.status_code == timed.status_code == 429
    assert "retry-after" not in plain.headers and timed.headers["retry-after"] == "2"
    assert kind_of(wire, plain) == kind_of(wire, timed) == "rate_limit"
    if wire == "anthropic":
        assert timed.json()["error"]["type"] == "rate_limit_error"
    else:
        assert timed.json()["error"]["code"] == "rate_limit_exceeded"
    assert [r.played for r in up.fake.wait_idle()] == ["429", "429-ra2"]


@pytest.mark.parametrize("wire", WIRES)
def test_500_once_then_ok_counted_per_model_name(up: Harness, wire: str) -> None:
    statuses = [up.post(wire, model).status_code for model in ("a+500once", "b+500once", "a+500once", "a+500once")]
    assert statuses == [500, 500, 200, 200]
    assert [(r.model, r.index) for r in up.fake.wait_idle()] == [
        ("a+500once", 1),
        ("b+500once", 1),
        ("a+500once", 2),
        ("a+500once", 3),
    ]
    assert up.fake.count("a+500once") == 3 and up.fake.count("b+500once") == 1


@pytest.mark.parametrize("wire", WIRES)
def test_503_persists_and_streams_get_it_before_any_frame(up: Harness, wire: str) -> None:
    assert [up.post(wire, "m+503").status_code for _ in range(3)] == [503, 503, 503]
    response, raw, _ = up.stream(wire, "m+503")
    assert response.status_code == 503
    assert kind_of(wire, httpx.Response(503, headers=response.headers, content=raw)) == "server"
    assert up.fake.count("m+503") == 4 and all(r.frames_sent == 0 for r in up.fake.wait_idle())


def test_anthropic_statuses_use_its_error_types(up: Harness) -> None:
    overloaded = up.post("anthropic", "m+529")
    assert overloaded.json() == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_01RCc7MbLyQNtGKzBTv8VCep",
    }
    assert up.post("anthropic", "m+500").json()["error"]["type"] == "api_error"
    assert up.post("anthropic", "m+401").json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize("wire", WIRES)
def test_the_nth_request_only(up: Harness, wire: str) -> None:
    assert [up.post(wire, "m+500@2").status_code for _ in range(3)] == [200, 500, 200]


@pytest.mark.parametrize("wire", WIRES)
def test_flap_fails_every_other_request(up: Harness, wire: str) -> None:
    assert [up.post(wire, "m+flap").status_code for _ in range(4)] == [503, 200, 503, 200]


@pytest.mark.parametrize("wire", WIRES)
def test_down_fails_until_its_window_since_the_first_request_closes(up: Harness, wire: str) -> None:
    assert up.post(wire, "m+down200ms").status_code == 503
    assert up.post(wire, "m+down200ms").status_code == 503
    time.sleep(0.25)
    assert up.post(wire, "m+down200ms").status_code == 200


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize(("fault", "kind"), [("context", "context_length"), ("filter", "content_filter")])
def test_context_length_and_content_filter_in_the_vendors_bodies(up: Harness, wire: str, fault: str, kind: str) -> None:
    response = up.post(wire, f"m+{fault}")
    assert response.status_code == 400
    assert kind_of(wire, response) == kind
    if wire == "openai" and fault == "context":
        assert response.json()["error"]["code"] == "context_length_exceeded"
    if wire == "anthropic" and fault == "context":
        assert response.json()["error"]["message"].startswith("prompt is too long")


def test_unknown_faults_are_a_400_naming_them(up: Harness) -> None:
    response = up.post("openai", "m+explode")
    assert response.status_code == 400 and "unknown fault 'explode'" in response.json()["error"]["message"]


# -- connection faults ------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
def test_reset_before_headers(up: Harness, wire: str) -> None:
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        up.post(wire, "m+reset")
    entry = only(up.fake)
    assert entry.status is None and entry.played == "reset" and entry.frames_sent == 0


@pytest.mark.parametrize("wire", WIRES)
def test_hang_accepts_and_never_answers_until_the_client_leaves(up: Harness, wire: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        up.post(wire, "m+hang", stream=True, timeout=0.2)
    entry = only(up.fake)
    assert entry.status is None and entry.disconnected and entry.finished_at is None


@pytest.mark.parametrize("wire", WIRES)
def test_late_sends_nothing_then_a_normal_answer(up: Harness, wire: str) -> None:
    response = up.post(wire, "m+late200ms")
    assert response.status_code == 200 and answer_text(wire, response) == expected_text(10)
    entry = only(up.fake)
    assert entry.finished_at is not None and entry.finished_at - entry.received_at >= 0.2


@pytest.mark.parametrize("wire", WIRES)
def test_slow_sends_the_preamble_and_keep_alives_long_before_the_first_token(up: Harness, wire: str) -> None:
    response, raw, error = up.stream(wire, "m+slow300ms")
    assert error is None and streamed_text(wire, raw) == expected_text(10)
    before_token = raw[: raw.index(b"w1")]
    if wire == "openai":
        assert b'"role":"assistant"' in before_token and before_token.count(b": keep-alive") >= 1
    else:
        names = [e.event for e in events(before_token + b"\n\n")]
        assert names[:3] == ["message_start", "content_block_start", "ping"] and names.count("ping") >= 2
    entry = only(up.fake)
    assert entry.first_token_at is not None and entry.first_token_at - entry.received_at >= 0.3


def test_slow_non_streamed_sends_headers_then_the_body_later(up: Harness) -> None:
    body = _body("openai", "m+slow250ms", False, None, {})
    with up.http.stream("POST", up.url("openai"), json=body) as r:
        headers_at = time.monotonic()
        content = r.read()
        body_at = time.monotonic()
    assert r.status_code == 200 and orjson.loads(content)["choices"][0]["message"]["content"] == expected_text(10)
    assert body_at - headers_at >= 0.2


# -- stream faults ----------------------------------------------------------------------


@pytest.mark.parametrize("wire", WIRES)
def test_cut_drops_the_connection_after_n_content_frames(up: Harness, wire: str) -> None:
    response, raw, error = up.stream(wire, "m+cut3")
    assert isinstance(error, httpx.RemoteProtocolError)  # the chunked body never ended
    assert streamed_text(wire, raw) == "w1 w2 w3"
    assert finish_of(wire, raw) is None and not terminated(wire, raw)
    entry = only(up.fake)
    assert (entry.played, entry.content_frames, entry.text_sent) == ("cut3", 3, "w1 w2 w3")


def test_cut_past_the_end_cuts_before_the_finish(up: Harness) -> None:
    _, raw, error = up.stream("anthropic", "m+words3+cut99")
    assert error is not None and streamed_text("anthropic", raw) == "w1 w2 w3" and finish_of("anthropic", raw) is None


def test_cut_non_streamed_breaks_the_body(up: Harness) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        up.post("openai", "m+cut2")


@pytest.mark.parametrize("wire", WIRES)
def test_stall_goes_silent_after_n_content_frames(up: Harness, wire: str) -> None:
    _, raw, error = up.stream(wire, "m+stall2", read_timeout=0.25)
    assert isinstance(error, httpx.ReadTimeout)
    assert streamed_text(wire, raw) == "w1 w2"
    entry = only(up.fake)
    assert entry.content_frames == 2 and entry.disconnected and entry.finished_at is None


@pytest.mark.parametrize("wire", WIRES)
def test_bad_inserts_one_unparseable_event_in_a_healthy_stream(up: Harness, wire: str) -> None:
    _, raw, error = up.stream(wire, "m+bad4")
    assert error is None and terminated(wire, raw)
    all_events = events(raw)
    unparseable = [i for i, e in enumerate(all_events) if e.data != "[DONE]" and not _parses(e.data)]
    assert len(unparseable) == 1
    assert streamed_text(wire, raw) == expected_text(10)
    bad = unparseable[0]
    assert '"w4' in all_events[bad - 1].data or '" w4' in all_events[bad - 1].data
    assert '" w5"' in all_events[bad + 1].data


def _parses(data: str) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


@pytest.mark.parametrize("wire", WIRES)
def test_noterm_sends_finish_and_usage_but_no_terminator(up: Harness, wire: str) -> None:
    _, raw, error = up.stream(wire, "m+noterm")
    assert error is None  # a clean end of the body
    assert streamed_text(wire, raw) == expected_text(10)
    assert finish_of(wire, raw) is not None and stream_usage(wire, raw) == (3, 10)
    assert not terminated(wire, raw)
    assert TERMINATOR[wire].encode() not in raw


@pytest.mark.parametrize("wire", WIRES)
def test_error_sends_an_in_band_error_after_n_content_frames(up: Harness, wire: str) -> None:
    _, raw, error = up.stream(wire, "m+error2")
    assert error is None and streamed_text(wire, raw) == "w1 w2"
    last = events(raw)[-1]
    if wire == "openai":
        assert orjson.loads(last.data)["error"]["type"] == "server_error"
    else:
        assert last.event == "error" and orjson.loads(last.data)["error"]["type"] == "overloaded_error"
    assert only(up.fake).played == "error2"


def test_error_non_streamed_is_an_error_object_in_a_200(up: Harness) -> None:
    response = up.post("openai", "m+error0")
    assert response.status_code == 200 and response.json()["error"]["type"] == "server_error"


@pytest.mark.parametrize("wire", WIRES)
def test_delay_spaces_the_frames(up: Harness, wire: str) -> None:
    _, raw, _ = up.stream(wire, "m+delay20ms+words6")
    assert streamed_text(wire, raw) == expected_text(6)
    entry = only(up.fake)
    assert entry.first_token_at is not None and entry.finished_at is not None
    assert entry.finished_at - entry.first_token_at >= 6 * 0.02  # 5 gaps between words, 1 before the finish


@pytest.mark.parametrize("wire", WIRES)
def test_refusal(up: Harness, wire: str) -> None:
    response = up.post(wire, "m+refusal")
    _, raw, _ = up.stream(wire, "m+refusal")
    if wire == "openai":
        message = response.json()["choices"][0]["message"]
        assert message["content"] is None and message["refusal"].startswith("I'm sorry")
        refusal = "".join(p["choices"][0]["delta"].get("refusal") or "" for p in payloads(raw) if p["choices"])
        assert refusal == message["refusal"]
    else:
        assert response.json()["stop_reason"] == "refusal" and response.json()["content"] == []
        assert finish_of(wire, raw) == "refusal" and streamed_text(wire, raw) == ""
    assert terminated(wire, raw)


@pytest.mark.parametrize("wire", WIRES)
def test_tool_streams_a_tool_call_one_word_per_frame(up: Harness, wire: str) -> None:
    tools = (
        [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
        if wire == "openai"
        else [{"name": "lookup", "input_schema": {"type": "object"}}]
    )
    _, raw, _ = up.stream(wire, "m+tool+words3", tools=tools)
    assert orjson.loads(streamed_text(wire, raw)) == {"text": "w1 w2 w3"}
    assert finish_of(wire, raw) == ("tool_calls" if wire == "openai" else "tool_use")
    response = up.post(wire, "m+tool+words3", tools=tools)
    if wire == "openai":
        call = response.json()["choices"][0]["message"]["tool_calls"][0]
        assert call["function"] == {"name": "lookup", "arguments": '{"text": "w1 w2 w3"}'}
    else:
        assert response.json()["content"][0]["input"] == {"text": "w1 w2 w3"}


# -- recordings -------------------------------------------------------------------------


def test_gaps_between_requests_per_model(up: Harness) -> None:
    up.post("openai", "a")
    time.sleep(0.2)
    up.post("openai", "b")
    up.post("openai", "a")
    [gap] = up.fake.gaps("a")
    assert gap >= 0.2 and up.fake.gaps("b") == []


def test_records_headers_and_the_client_leaving_mid_stream(up: Harness) -> None:
    body = _body("openai", "m+delay50ms+words40", True, None, {})
    headers = {"authorization": "Bearer sk-test", "x-trace": "abc"}
    with (
        up.http.stream("POST", up.url("openai"), json=body, headers=headers) as r,
    ):
        next(r.iter_raw())
    entry = only(up.fake)
    assert entry.headers["authorization"] == "Bearer sk-test" and entry.headers["x-trace"] == "abc"
    assert entry.disconnected and entry.finished_at is None and entry.content_frames < 40


def test_wait_for_a_model_and_reset(up: Harness) -> None:
    with pytest.raises(AssertionError, match="got 0 requests, expected 1"):
        up.fake.wait_for(1, model="m", timeout=0.05)
    up.post("openai", "x")
    up.post("openai", "m+500once")
    assert [r.model for r in up.fake.wait_for(1, model="m+500once")] == ["m+500once"]
    up.fake.reset()
    assert up.fake.requests == [] and up.fake.count("m+500once") == 0
    assert up.post("openai", "m+500once").status_code == 500  # counts start over


def test_other_paths_are_404(up: Harness) -> None:
    assert up.http.get(up.fake.base_url + "/models").json() == {"object": "list", "data": []}
    assert up.http.post(up.fake.base_url + "/embeddings", json={"model": "m"}).status_code == 404
