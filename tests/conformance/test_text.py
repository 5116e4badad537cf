"""Matrix rows: text, streamed text, usage, stop reasons."""

from __future__ import annotations

import pytest

from tests.conformance.case import Case
from tests.conformance.checks import ask_or_refuse, assert_answer, sent_upstream
from tests.conformance.clients.base import Turn
from tests.conformance.matrix import cell_test

HOLIDAY = Turn("Invent a new holiday and describe its traditions.")


@cell_test("text")
def test_text(case: Case) -> None:
    scripted = case.vendor.text(stream=False)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = case.client.ask(case.model, HOLIDAY, stream=False)
    assert_answer(case, answer, scripted.expected)
    seen = sent_upstream(case)
    assert not seen.stream
    assert seen.user_texts == [HOLIDAY.prompt]


@cell_test("streamed-text")
def test_streamed_text(case: Case) -> None:
    scripted = case.vendor.text(stream=True)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = case.client.ask(case.model, HOLIDAY, stream=True)
    assert_answer(case, answer, scripted.expected)
    assert sent_upstream(case).stream
    assert answer.pieces >= 2, "the text must arrive in pieces, as the upstream streamed it"


@cell_test("usage")
def test_usage_is_the_upstreams_and_the_same_streamed_or_not(case: Case) -> None:
    plain = case.vendor.usage(stream=False)
    streamed = case.vendor.usage(stream=True)
    assert plain.expected.usage == streamed.expected.usage, "fixture pair must report the same usage"
    case.fake.script(case.vendor.upstream_model, plain.reply, streamed.reply)
    whole = case.client.ask(case.model, HOLIDAY, stream=False)
    live = case.client.ask(case.model, HOLIDAY, stream=True)
    expected = case.client.usage_view(plain.expected.usage)
    assert whole.usage == expected
    assert live.usage == expected
    assert plain.expected.usage.input_tokens > 0 and plain.expected.usage.output_tokens > 0


@cell_test("stop-reasons")
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_stop_reasons(case: Case, stream: bool) -> None:
    vendor, client = case.vendor, case.client
    length = vendor.length(stream=stream)
    text = vendor.text(stream=stream)
    tool = vendor.tool_call() if not stream else vendor.streamed_tool_args()
    case.fake.script(vendor.upstream_model, length.reply, text.reply, tool.reply)
    short = Turn("Describe the weather.", max_tokens=5)
    cut = client.ask(case.model, short, stream=stream)
    assert cut.stop == client.stop_name("length")
    assert_answer(case, cut, length.expected)
    first = vendor.read_request(case.fake.requests[0])
    assert first.max_tokens == 5
    assert first.stream is stream
    ended = client.ask(case.model, HOLIDAY, stream=stream)
    assert ended.stop == client.stop_name("end")
    called = client.ask(case.model, Turn("Weather?", tools=vendor.tools), stream=stream)
    assert called.stop == client.stop_name("tool_use")
    assert called.calls


@cell_test("stop-sequences")
def test_stop_sequences_reach_the_upstreams_own_field(case: Case) -> None:
    scripted = case.vendor.text(stream=False)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    turn = Turn("Count to ten.", stop=("7", "\n\n"))
    answer = ask_or_refuse(case, "stop-sequences", turn, stream=False)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    assert sent_upstream(case).stop == ["7", "\n\n"]
