"""Code snippets of the models page: every client format in curl, Python and JavaScript, with
the server's base URL; the Python ones compile. (The browser test runs one against the server.)"""

from __future__ import annotations

import ast

from engine.console.snippets import snippets


def test_every_format_and_language_with_the_base_url() -> None:
    found = snippets("http://gw.example:8080/", "gpt-x")
    assert {(s.client_format, s.language) for s in found} == {
        (fmt, lang)
        for fmt in ("openai", "openai-responses", "anthropic", "gemini")
        for lang in ("curl", "python", "javascript")
    }
    for snippet in found:
        assert "http://gw.example:8080" in snippet.code and "gw.example:8080//" not in snippet.code
        assert "TURNOUT_API_KEY" in snippet.code and "gpt-x" in snippet.code
    by = {(s.client_format, s.language): s.code for s in found}
    assert 'base_url="http://gw.example:8080/v1"' in by[("openai", "python")]
    assert "/v1beta/models/gpt-x:generateContent" in by[("gemini", "curl")]
    assert "x-api-key: $TURNOUT_API_KEY" in by[("anthropic", "curl")]


def test_python_snippets_are_valid_python_even_for_odd_model_names() -> None:
    for snippet in snippets("http://127.0.0.1:1", 'we"ird\\model'):
        if snippet.language == "python":
            ast.parse(snippet.code)
