"""The fault grammar and the deterministic answer text of the fault upstream (pure functions)."""

from __future__ import annotations

import pytest

from tests.support.fault_plan import DEFAULT_WORDS, FaultSyntaxError, parse_model, seconds
from tests.support.fault_text import continuation_start, expected_text, make_answer


def _labels(model: str, requests: int, has_prefill: bool = False, since_first: float = 0.0) -> list[str]:
    plan = parse_model(model)
    return [plan.behaviour(i, since_first, has_prefill).label for i in range(1, requests + 1)]


def test_a_plain_name_is_healthy() -> None:
    plan = parse_model("gpt-4o")
    assert plan.name == "gpt-4o" and plan.faults == () and plan.words == DEFAULT_WORDS
    assert _labels("gpt-4o", 2) == ["ok", "ok"]
    assert _labels("m+ok", 1) == ["ok"]


def test_statuses_with_and_without_retry_after() -> None:
    [fault] = parse_model("m+429").faults
    assert (fault.kind, fault.status, fault.retry_after) == ("status", 429, None)
    [fault] = parse_model("m+429-ra2").faults
    assert (fault.status, fault.retry_after) == (429, "2")
    [fault] = parse_model("m+529-ra0.5").faults
    assert (fault.status, fault.retry_after) == (529, "0.5")


@pytest.mark.parametrize(
    ("model", "labels"),
    [
        ("m+500once", ["500once", "ok", "ok"]),
        ("m+500x2", ["500x2", "500x2", "ok"]),
        ("m+500@2", ["ok", "500@2", "ok"]),
        ("m+503", ["503", "503", "503"]),
        ("m+flap", ["flap", "ok", "flap", "ok"]),
        ("m+503odd", ["503odd", "ok", "503odd", "ok"]),
        ("m+cut3x2", ["cut3x2", "cut3x2", "ok"]),
    ],
)
def test_conditions_count_requests(model: str, labels: list[str]) -> None:
    assert _labels(model, len(labels)) == labels


def test_time_windows_count_from_the_models_first_request() -> None:
    plan = parse_model("m+down2s")
    assert plan.behaviour(1, 0.0, False).label == "down2s"
    assert plan.behaviour(5, 1.99, False).label == "down2s"
    assert plan.behaviour(6, 2.0, False).label == "ok"
    plan = parse_model("m+cut2for500ms")
    assert plan.behaviour(1, 0.4, False).label == "cut2for500ms"
    assert plan.behaviour(2, 0.5, False).label == "ok"


def test_the_first_answer_fault_wins_and_stream_faults_combine() -> None:
    plan = parse_model("m+slow1.5s+cut3+500once+429")
    first = plan.behaviour(1, 0.0, False)
    assert first.answer is not None and first.answer.status == 500 and first.stream == ()
    assert plan.behaviour(2, 0.0, False).label == "429"
    streaming = parse_model("m+slow1.5s+cut3+bad1+noterm").behaviour(1, 0.0, False)
    assert streaming.answer is None
    assert streaming.label == "slow1.5s+cut3+bad1+noterm"
    slow, cut = streaming.find("slow"), streaming.find("cut")
    assert slow is not None and slow.seconds == 1.5
    assert cut is not None and cut.frames == 3
    assert streaming.find("stall") is None


def test_noprefill_applies_only_to_a_request_ending_with_the_assistant() -> None:
    assert _labels("m+noprefill", 1, has_prefill=False) == ["ok"]
    assert _labels("m+noprefill", 1, has_prefill=True) == ["noprefill"]
    assert _labels("m+noprefill+cut2", 1, has_prefill=False) == ["cut2"]


def test_refusal_keeps_the_stream_modifiers() -> None:
    behaviour = parse_model("m+refusal+late1").behaviour(1, 0.0, False)
    assert behaviour.answer is not None and behaviour.answer.kind == "refusal"
    assert behaviour.label == "refusal+late1"


def test_modifiers() -> None:
    plan = parse_model("m+delay5ms+words40+tool")
    assert (plan.delay_s, plan.words, plan.tool, plan.faults) == (0.005, 40, True, ())
    assert plan.tokens == ("delay5ms", "words40", "tool")


@pytest.mark.parametrize(("text", "value"), [("2", 2.0), ("2s", 2.0), ("1.5s", 1.5), ("300ms", 0.3)])
def test_durations(text: str, value: float) -> None:
    assert seconds(text) == pytest.approx(value)


@pytest.mark.parametrize("item", ["cut", "slowly", "429-ra", "delay5msonce", "flapx2", "words5odd", "99", "cut3 "])
def test_unknown_items_are_named(item: str) -> None:
    with pytest.raises(FaultSyntaxError, match="in model"):
        parse_model(f"m+{item}")


def test_numbered_words_and_continuations() -> None:
    assert expected_text(4) == "w1 w2 w3 w4"
    assert expected_text(5, start=4) == "w4 w5"
    assert continuation_start(None) == 1
    assert continuation_start("Hello") == 1
    assert continuation_start("w1 w2 w3") == 4
    fresh = make_answer(4, None, None, prompt_tokens=3)
    assert fresh.pieces == ("w1", " w2", " w3", " w4") and fresh.finish == "stop"
    assert (fresh.prompt_tokens, fresh.completion_tokens) == (3, 4)
    resumed = make_answer(5, "w1 w2 w3", None, prompt_tokens=3)
    assert resumed.pieces == (" w4", " w5") and resumed.completion_tokens == 2
    after_space = make_answer(5, "w1 w2 w3 ", None, prompt_tokens=3)
    assert after_space.text == "w4 w5"
    done = make_answer(3, "w1 w2 w3", None, prompt_tokens=3)
    assert done.pieces == () and done.completion_tokens == 0


def test_max_tokens_cuts_with_a_length_finish() -> None:
    capped = make_answer(10, None, 3, prompt_tokens=1)
    assert capped.text == "w1 w2 w3" and capped.finish == "length"
    assert make_answer(3, None, 3, prompt_tokens=1).finish == "stop"


def test_tool_arguments_are_json_split_one_word_per_frame() -> None:
    tool = make_answer(3, None, None, prompt_tokens=1, tool="lookup")
    assert tool.pieces == ('{"text": "w1', " w2", ' w3"}')
    assert tool.finish == "tool" and tool.completion_tokens == 3
    cut = make_answer(5, None, 2, prompt_tokens=1, tool="lookup")
    assert cut.text == '{"text": "w1 w2' and cut.finish == "length"
