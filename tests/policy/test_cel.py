"""CEL rules: type errors at compile time with line:col, evaluation on plain dicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.policy.cel import CelCompileError, ResultType, Scope, compile_rule
from engine.policy.compiled import CelEvalError, CelProgram


def variables(**request: Any) -> dict[str, Any]:
    return {
        "request": {
            "model": "smart-code",
            "estimated_tokens": 30_000,
            "max_tokens": 1000,
            "stream": True,
            "has_tools": False,
            "has_images": False,
            "message_count": 3,
            "text": "Please Refactor this",
            "metadata": {"tier": "gold"},
            "headers": {"x-team": "research"},
            **request,
        },
        "candidate": {
            "model": "gpt-5.5",
            "channel": "openai",
            "price": {"input": 1.25, "output": 10.0, "cached_input": 0.125},
            "context_window": 400_000,
            "capabilities": ["tools", "vision"],
            "latency_p50_ms": 800.0,
            "latency_p95_ms": 2400.0,
            "error_rate": 0.01,
            "in_flight": 4,
        },
        "key": {"name": "ci-bot", "group": "team-a", "tags": ["batch"]},
        "now": datetime(2026, 3, 2, 22, 30, tzinfo=UTC),  # a Monday
    }


@pytest.mark.parametrize(
    ("source", "scope", "result", "expected"),
    [
        ("request.estimated_tokens > 20000 || request.has_tools", "request", "bool", True),
        ("request.estimated_tokens > 40000 || request.has_tools", "request", "bool", False),
        ("request.headers[?'x-team'].orValue('') == 'research'", "request", "bool", True),
        ("request.headers[?'x-other'].orValue('none') == 'none'", "request", "bool", True),
        ("request.metadata['tier'] == 'gold' && key.group == 'team-a'", "request", "bool", True),
        ("'batch' in key.tags", "request", "bool", True),
        ("request.text.lowerAscii().contains('refactor')", "request", "bool", True),
        ("now.getHours() >= 22 && now.getDayOfWeek() == 1", "request", "bool", True),
        ("cel.bind(t, request.estimated_tokens, t > 100 && t < 100000)", "request", "bool", True),
        ("candidate.context_window >= request.estimated_tokens + request.max_tokens", "candidate", "bool", True),
        ("'tools' in candidate.capabilities && candidate.error_rate < 0.05", "candidate", "bool", True),
        ("candidate.latency_p50_ms", "candidate", "double", 800.0),
        (
            "(double(request.estimated_tokens) * candidate.price.input"
            " + double(request.max_tokens) * candidate.price.output) / 1000000.0",
            "candidate",
            "double",
            (30_000 * 1.25 + 1000 * 10.0) / 1e6,
        ),
        ("math.greatest(candidate.price.input, candidate.price.output)", "candidate", "double", 10.0),
        ("double(candidate.in_flight) * 2.5", "candidate", "double", 10.0),
    ],
)
def test_evaluates_on_plain_dicts(source: str, scope: Scope, result: ResultType, expected: object) -> None:
    rule = compile_rule(source, scope=scope, result=result)
    value = rule.evaluate(variables())
    assert value == expected
    assert type(value) is type(expected)


def test_a_compiled_rule_is_a_cel_program() -> None:
    rule: CelProgram = compile_rule("true", scope="request", result="bool")
    assert rule.source == "true"


@pytest.mark.parametrize(
    ("source", "scope", "result", "error"),
    [
        (
            "request.estimated_tokenz > 1",
            "request",
            "bool",
            "1:8: request has no field 'estimated_tokenz' (fields: estimated_tokens, has_images, "
            "has_tools, headers, kind, max_tokens, message_count, metadata, model, stream, text)",
        ),
        (
            "request.estimated_tokens > 1.5",
            "request",
            "bool",
            "1:26: found no matching overload for '_>_' applied to '(int, double)'",
        ),
        ("request.model", "request", "bool", "1:1: must be a bool expression, but its type is string"),
        (
            "candidate.in_flight",
            "candidate",
            "double",
            "1:1: must be a double expression, but its type is int (wrap it in double(...))",
        ),
        ("candidate.model", "candidate", "double", "1:1: must be a double expression, but its type is string"),
        (
            "candidate.in_flight > 2",
            "request",
            "bool",
            "1:10: candidate is only available in filter, order and cost rules",
        ),
        ("team == 'a'", "request", "bool", "1:1: unknown name 'team' (variables: key, now, request)"),
        ("key.groups == 'a'", "candidate", "bool", "1:4: key has no field 'groups' (fields: group, name, tags)"),
        (
            "request.has_tools &&\n   request.message_count > 'many'",
            "request",
            "bool",
            "2:26: found no matching overload for '_>_' applied to '(int, string)'",
        ),
    ],
)
def test_type_errors_name_the_line_and_column(source: str, scope: Scope, result: ResultType, error: str) -> None:
    with pytest.raises(CelCompileError) as caught:
        compile_rule(source, scope=scope, result=result)
    assert str(caught.value) == error


def test_syntax_error_position_and_every_error_reported() -> None:
    with pytest.raises(CelCompileError) as caught:
        compile_rule("request.x > 1 ||\n  request.y", scope="request", result="bool")
    errors = [caught.value, *caught.value.others]
    assert [(e.line, e.col) for e in errors] == [(1, 8), (2, 10)]
    with pytest.raises(CelCompileError) as syntax:
        compile_rule("request.has_tools &&", scope="request", result="bool")
    assert (syntax.value.line, syntax.value.col) == (1, 21)
    assert syntax.value.message.startswith("Syntax error: mismatched input '<EOF>'")


@pytest.mark.parametrize(
    ("source", "reads"),
    [
        ("true", set()),
        ("1 + 1 == 2", set()),
        ("request.has_tools", {"request"}),
        ("now.getHours() > 3 && key.name == 'x'", {"key", "now"}),
        ("[1, 2].exists(request, request > 1)", set()),  # a comprehension variable shadows
    ],
)
def test_reads_names_the_variables_used(source: str, reads: set[str]) -> None:
    assert compile_rule(source, scope="request", result="bool").reads == reads


def test_only_the_variables_read_are_needed() -> None:
    rule = compile_rule("key.group == 'team-a'", scope="request", result="bool")
    assert rule.evaluate({"key": {"name": "k", "group": "team-a", "tags": []}}) is True


@pytest.mark.parametrize(
    ("source", "given", "message"),
    [
        (
            "request.headers['x-missing'] == 'a'",
            variables(),
            "rule \"request.headers['x-missing'] == 'a'\": NOT_FOUND: Key not found in map : \"x-missing\"",
        ),
        (
            "request.max_tokens / (request.message_count - 3) > 1",
            variables(),
            "rule 'request.max_tokens / (request.message_count - 3) > 1': INVALID_ARGUMENT: divide by zero",
        ),
        ("request.has_tools", {"key": {}}, "rule 'request.has_tools': variable request not provided"),
        ("request.has_tools", variables(has_tools="yes"), "rule 'request.has_tools': gave str, expected a bool"),
    ],
)
def test_runtime_errors_fail_closed(source: str, given: dict[str, Any], message: str) -> None:
    rule = compile_rule(source, scope="request", result="bool")
    with pytest.raises(CelEvalError) as caught:
        rule.evaluate(given)
    assert str(caught.value) == message


def test_a_double_rule_fed_an_int_fails_closed() -> None:
    rule = compile_rule("candidate.latency_p50_ms", scope="candidate", result="double")
    given = variables()
    given["candidate"] = {**given["candidate"], "latency_p50_ms": 800}
    with pytest.raises(CelEvalError, match="gave int, expected a double"):
        rule.evaluate(given)


def test_the_comprehension_budget_fails_closed() -> None:
    big = "[" + ",".join(str(i) for i in range(120)) + "]"
    source = f"{big}.all(x, {big}.all(y, x + y >= 0))"
    rule = compile_rule(source, scope="request", result="bool")
    with pytest.raises(CelEvalError, match="budget"):
        rule.evaluate({})
