"""The TOML position scanner: key paths to the line they are written on."""

from __future__ import annotations

import tomllib

import pytest

from engine.policy.locate import format_path, locate

DOCUMENT = '''\
# a comment with [brackets] and = signs
[channels.openai]   # trailing comment
format = "openai"
models = ["gpt-5.5",
  "gpt-4.1-mini", # a comment ] inside the array
  "o3"]
timeout = { connect = 5, first_byte = { soft = 1, hard = 2 } }
"quoted.key".inner = 1
'literal key' = 'x'

[aliases.smart-code]
rules = [
  { when = "request.estimated_tokens > 20000 || request.has_tools", use = ["gpt-5.5"] },
  { when = """true
  && \\""" ] } { still inside""", use = ["deepseek-v3",
                                         "gpt-4.1-mini"] },
  { when = 'x', use = [] },
]
description = \'\'\'
multi
line [not a header]
\'\'\'
fallback = ["a"]

[models."gpt-4.1-mini"]
price.input = 0.4
price.output = 1.6

[[nested.list]]
a = 1
[[nested.list]]
a = 2
[nested.list.sub]
b = 3
[nested.other]
c = [[1, 2], [3,
  4]]
'''


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("channels",), 2),
        (("channels", "openai"), 2),
        (("channels", "openai", "format"), 3),
        (("channels", "openai", "models"), 4),
        (("channels", "openai", "models", "0"), 4),
        (("channels", "openai", "models", "1"), 5),
        (("channels", "openai", "models", "2"), 6),
        (("channels", "openai", "timeout", "connect"), 7),
        (("channels", "openai", "timeout", "first_byte", "hard"), 7),
        (("channels", "openai", "quoted.key", "inner"), 8),
        (("channels", "openai", "literal key"), 9),
        (("aliases", "smart-code"), 11),
        (("aliases", "smart-code", "rules"), 12),
        (("aliases", "smart-code", "rules", "0", "when"), 13),
        (("aliases", "smart-code", "rules", "0", "use", "0"), 13),
        (("aliases", "smart-code", "rules", "1"), 14),
        (("aliases", "smart-code", "rules", "1", "when"), 14),
        (("aliases", "smart-code", "rules", "1", "use"), 15),
        (("aliases", "smart-code", "rules", "1", "use", "1"), 16),
        (("aliases", "smart-code", "rules", "2", "when"), 17),
        (("aliases", "smart-code", "description"), 19),
        (("aliases", "smart-code", "fallback"), 23),
        (("models", "gpt-4.1-mini", "price", "input"), 26),
        (("models", "gpt-4.1-mini", "price", "output"), 27),
        (("nested", "list", "0", "a"), 30),
        (("nested", "list", "1"), 31),
        (("nested", "list", "1", "a"), 32),
        (("nested", "list", "1", "sub", "b"), 34),
        (("nested", "other", "c", "1", "1"), 37),
    ],
)
def test_every_key_path_maps_to_its_line(path: tuple[str, ...], line: int) -> None:
    assert locate(DOCUMENT).lines[path] == line


def test_the_sample_document_is_valid_toml_with_the_paths_it_claims() -> None:
    data = tomllib.loads(DOCUMENT)
    rules = data["aliases"]["smart-code"]["rules"]
    assert rules[1]["when"] == 'true\n  && """ ] } { still inside'
    assert data["nested"]["list"][1]["sub"] == {"b": 3}
    assert data["channels"]["openai"]["quoted.key"] == {"inner": 1}


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("channels", "openai", "weight"), 2),  # not written: its table's line
        (("channels", "openai", "models", "7"), 4),  # past the end: the array's line
        (("aliases", "smart-code", "rules", "0", "use", "0", "x"), 13),
        (("nowhere",), 1),
    ],
)
def test_unwritten_paths_fall_back_to_the_nearest_written_ancestor(path: tuple[str, ...], line: int) -> None:
    assert locate(DOCUMENT).line_of(path) == line


def test_escaped_quotes_in_keys_and_values() -> None:
    text = 'a = "x \\" = y"\n"k\\"ey" = 1\n"\\u00e9t\\u00e9" = 2\nb = 3\n'
    assert tomllib.loads(text)['k"ey'] == 1
    lines = locate(text).lines
    assert lines[('k"ey',)] == 2
    assert lines[("été",)] == 3
    assert lines[("b",)] == 4


def test_crlf_line_endings() -> None:
    text = "[a]\r\nx = 1\r\n\r\n[b]\r\ny = [\r\n 1,\r\n 2]\r\n"
    lines = locate(text).lines
    assert (lines[("a", "x")], lines[("b",)], lines[("b", "y", "1")]) == (2, 4, 7)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("aliases", "smart-code", "rules", "1", "when"), "aliases.smart-code.rules.1.when"),
        (("models", "gpt-4.1-mini", "price"), 'models."gpt-4.1-mini".price'),
        (("channels", "my channel"), 'channels."my channel"'),
        (("a", 'quo"te'), 'a."quo\\"te"'),
        (("groups", "team_a", "budget", "day"), "groups.team_a.budget.day"),
    ],
)
def test_format_path(path: tuple[str, ...], text: str) -> None:
    assert format_path(path) == text
