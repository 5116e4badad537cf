"""Claude Code 2.1.332's real first request (tests/fixtures/agents/, captured from the CLI)
translated onto every upstream format: nothing refused, the reasoning settings on the
target's reasoning controls, the session as the prompt-cache key, the Anthropic-only hints
left out of other formats and kept for Anthropic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from syrupy.assertion import SnapshotAssertion

from providers.anthropic.request_decoder import decode_request
from providers.base import Endpoint
from providers.registry import build_registry

CAPTURE = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "claude-code-2.1.332-first-request.json"
SENT: dict[str, Any] = orjson.loads(CAPTURE.read_bytes())["body"]
SESSION = "eee581ee-1e8a-43f8-8346-014a701033b2"
DEVICE = "38c82c836fe9540b9c7f12b5ff2e8e103698a938f0831658c0a3175c05bb0b17"
BULKY = ("messages", "input", "contents", "tools", "system", "systemInstruction", "instructions")


def translated(fmt: str, upstream_model: str = "m") -> dict[str, Any]:
    endpoint = Endpoint("c", fmt, "http://upstream/v1", "k", upstream_model)
    built = build_registry().adapter(fmt).build_request(decode_request(SENT), endpoint)
    body: dict[str, Any] = orjson.loads(built.body)
    return body


@pytest.mark.parametrize("fmt", ["openai", "openai-responses", "anthropic", "gemini"])
def test_every_format_takes_it(fmt: str, snapshot: SnapshotAssertion) -> None:
    body = translated(fmt)
    assert {key: value for key, value in body.items() if key not in BULKY} == snapshot


def test_openai_chat() -> None:
    body = translated("openai")
    assert (body["reasoning_effort"], body["prompt_cache_key"], body["user"]) == ("high", SESSION, DEVICE)
    assert body["max_completion_tokens"] == 32000
    names = [tool["function"]["name"] for tool in body["tools"]]
    assert "Bash" in names and "Read" in names and "DeferredToolPlaceholder" not in names
    assert len(names) == len(SENT["tools"]) - 1
    assert [m["role"] for m in body["messages"]] == ["system", "user", "system"]


def test_responses() -> None:
    body = translated("openai-responses")
    assert (body["reasoning"], body["prompt_cache_key"], body["user"]) == ({"effort": "high"}, SESSION, DEVICE)
    assert "summary" not in body["reasoning"]  # display: omitted
    assert [(i["type"], i["role"]) for i in body["input"]] == [("message", "user"), ("message", "system")]


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        ("gemini-3.1-pro", {"thinkingLevel": "HIGH", "includeThoughts": False}),
        ("gemini-2.5-flash", {"thinkingBudget": 24576, "includeThoughts": False}),
    ],
)
def test_gemini(model: str, thinking: dict[str, Any]) -> None:
    body = translated("gemini", model)
    assert body["generationConfig"]["thinkingConfig"] == thinking
    assert body["generationConfig"]["maxOutputTokens"] == 32000
    names = [d["name"] for d in body["tools"][0]["functionDeclarations"]]
    assert "Bash" in names and "DeferredToolPlaceholder" not in names
    assert "context_management" not in body and "metadata" not in body
    bash = next(d for d in body["tools"][0]["functionDeclarations"] if d["name"] == "Bash")
    assert "$schema" not in bash["parametersJsonSchema"]
    assert bash["parametersJsonSchema"]["required"] == ["command"]


def test_anthropic_keeps_the_hints() -> None:
    body = translated("anthropic")
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert body["output_config"] == {"effort": "high"}
    assert body["context_management"] == SENT["context_management"]
    assert body["metadata"] == SENT["metadata"]
