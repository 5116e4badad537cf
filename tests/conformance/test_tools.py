"""Matrix rows: tool call, parallel tool calls, streamed tool arguments, tool results.
The translated upstream request of the tool and tool-result cells is pinned by snapshot."""

from __future__ import annotations

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from tests.conformance.case import Case
from tests.conformance.checks import (
    ask_or_refuse,
    assert_answer,
    assert_indices,
    sent_upstream,
)
from tests.conformance.clients.base import PriorCall, Turn
from tests.conformance.matrix import cell_test
from tests.conformance.vendors.anthropic import GET_WEATHER

ASK = "What is the weather like?"

# An assistant turn that called two tools, and their results (a Claude-Code-like pair).
PRIOR = (
    PriorCall("call_weather_paris", "get_weather", {"location": "Paris"}, "18°C, light rain"),
    PriorCall("call_weather_london", "get_weather", {"location": "London"}, "12°C, overcast"),
)


@cell_test("tools")
def test_tool_call(case: Case, snapshot: SnapshotAssertion) -> None:
    scripted = case.vendor.tool_call()
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = ask_or_refuse(case, "tools", Turn(ASK, tools=case.vendor.tools), stream=False)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    assert len(answer.calls) == 1
    assert_indices(answer)
    seen = sent_upstream(case)
    assert seen.tool_names == [t.name for t in case.vendor.tools]
    assert case.fake.requests[0].json == snapshot


# Responses makes a function tool strict when `strict` is left out (its schema is then
# normalised: every property required, no others allowed), while Chat Completions,
# Anthropic and Gemini tools are non-strict unless asked. A tool whose client left
# strictness unsaid must reach a Responses upstream as `strict: false`.


@cell_test("tools")
def test_tools_keep_their_strictness(case: Case) -> None:
    scripted = case.vendor.tool_call()
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    case.client.ask(case.model, Turn(ASK, tools=case.vendor.tools), stream=False)
    seen = sent_upstream(case)
    assert seen.tool_names == [t.name for t in case.vendor.tools]
    assert seen.tool_strict == [False] * len(case.vendor.tools), "no client asked for strict tools"


@cell_test("parallel-tools")
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_parallel_tool_calls(case: Case, stream: bool) -> None:
    scripted = case.vendor.parallel_tool_calls(stream=stream)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = ask_or_refuse(case, "parallel-tools", Turn(ASK, tools=case.vendor.tools), stream=stream)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    assert len(answer.calls) == 2
    assert_indices(answer)
    if case.client.format == "openai":  # chat's tool_calls[].index counts the calls
        assert [c.index for c in answer.calls] == [0, 1]


@cell_test("streamed-tool-args")
def test_streamed_tool_arguments(case: Case) -> None:
    scripted = case.vendor.streamed_tool_args()
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    answer = ask_or_refuse(case, "streamed-tool-args", Turn(ASK, tools=case.vendor.tools), stream=True)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    assert_indices(answer)
    assert sent_upstream(case).stream
    # Gemini clients get each call whole (the format has no argument deltas), and Gemini's
    # own piecewise arguments are path/value pieces the gateway assembles per call.
    if "gemini" not in case.pair:
        assert all(c.fragments >= 2 for c in answer.calls), [(c.name, c.fragments) for c in answer.calls]


@cell_test("tool-results")
def test_tool_results(case: Case, snapshot: SnapshotAssertion) -> None:
    scripted = case.vendor.text(stream=False)
    case.fake.script(case.vendor.upstream_model, scripted.reply)
    turn = Turn("What is the weather in Paris and London?", tools=(GET_WEATHER,), prior_calls=PRIOR)
    answer = ask_or_refuse(case, "tool-results", turn, stream=False)
    if answer is None:
        return
    assert_answer(case, answer, scripted.expected)
    seen = sent_upstream(case)
    assert [(c.name, c.arguments) for c in seen.calls] == [(c.name, c.arguments) for c in PRIOR]
    if case.client.format == "gemini" and case.vendor.format != "gemini":
        # a Gemini functionResponse.response is an object: it travels as its JSON text
        assert [orjson.loads(r.text) for r in seen.results] == [{"result": c.result} for c in PRIOR]
    else:
        assert [r.text for r in seen.results] == [c.result for c in PRIOR]
    if case.vendor.format == "gemini":  # matched by name and order
        assert [r.name for r in seen.results] == [c.name for c in PRIOR]
    else:  # every result names the call it answers
        assert [r.call_id for r in seen.results] == [c.id for c in seen.calls]
        assert len({c.id for c in seen.calls}) == 2
        if case.client.format != "gemini":  # ids the client chose travel unchanged
            assert [c.id for c in seen.calls] == [c.id for c in PRIOR]
    assert case.fake.requests[0].json == snapshot
