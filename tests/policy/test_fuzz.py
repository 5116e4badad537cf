"""Bad input is a test case: generated TOML for the locator, garbage for the loader."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.policy.load import load_policy
from engine.policy.locate import KeyPath, locate

keys = st.text(alphabet="abz-_.\" é'", min_size=1, max_size=6)
scalars = st.one_of(
    st.integers(-5, 5),
    st.booleans(),
    st.text(alphabet="a\"'\\\n]#{}=,", max_size=6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(keys, inner, max_size=3),
    ),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, min_size=1, max_size=4)


def paths(value: Any, prefix: KeyPath = ()) -> list[KeyPath]:
    found: list[KeyPath] = []
    if isinstance(value, dict):
        items: list[tuple[str, Any]] = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        return found
    for key, child in items:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


@settings(max_examples=60, deadline=None, database=None)
@given(documents, st.booleans())
def test_locate_finds_every_key_path_of_generated_toml(doc: dict[str, Any], multiline: bool) -> None:
    text = tomli_w.dumps(doc, multiline_strings=multiline)
    line_count = text.count("\n") + 1
    lines = locate(text).lines
    for path in paths(doc):
        assert path in lines, (path, text)
        assert 1 <= lines[path] <= line_count


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="[]{}=\"'.,#\n abc123-_${}", max_size=120))
def test_the_loader_turns_any_text_into_diagnostics(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "policy.toml").write_text(text)
        result = load_policy(Path(directory), {})
    if result.policy is None:
        assert any(d.severity == "error" for d in result.diagnostics)
    for diagnostic in result.diagnostics:
        assert diagnostic.file in ("policy.toml", ".")
        assert diagnostic.line >= 0


names = st.sampled_from(["demo", "m", "auto", "gpt-4.1", "x y", "*"])
field_names = st.sampled_from(
    [
        "format",
        "base_url",
        "api_key",
        "models",
        "price",
        "input",
        "output",
        "rules",
        "when",
        "use",
        "candidates",
        "fallback",
        "strategy",
        "filter",
        "order",
        "cost",
        "capabilities",
        "timeout",
        "headers",
        "on",
        "attempts",
        "budget",
        "day",
        "ip_allow",
        "request_headers",
        "context_window",
        "enabled",
        "weight",
    ]
)
field_values = st.recursive(
    st.one_of(
        st.integers(-2, 3),
        st.booleans(),
        st.floats(-1, 2),
        names,
        st.sampled_from(
            [
                "openai",
                "demo://local",
                "${K}",
                "true",
                "request.has_tools",
                "1.0",
                "candidate.in_flight",
                "request.headers['h'] == 'a'",
                "http://h/v1",
            ]
        ),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(field_names, inner, max_size=4)),
    max_leaves=10,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        section: st.dictionaries(names, st.dictionaries(field_names, field_values, max_size=5), max_size=3)
        for section in ("channels", "models", "aliases", "groups")
    }
    | {section: st.dictionaries(field_names, field_values, max_size=4) for section in ("retry", "breaker", "router")},
)


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(sections)
def test_the_loader_survives_policy_shaped_nonsense(doc: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "policy.toml").write_text(tomli_w.dumps(doc))
        result = load_policy(Path(directory), {"K": "v"})
    assert (result.policy is None) == any(d.severity == "error" for d in result.diagnostics)
