"""The pipeline addresses each attempt with its channel's settings (headers, params, the
output-cap field), for translated and passthrough exchanges alike, and sends reasoning
controls only to a model declaring the ``reasoning`` capability."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from engine.pipeline import Pipeline
from engine.policy.load import load_policy
from engine.routing.plan import Attempt, Target
from providers.registry import build_registry

POLICY = """\
[channels.compatible]
format = "openai"
base_url = "https://llm.internal.example/v1"
api_key = "${LLM_KEY}"
models = { "local-a" = "upstream-a" }
max_tokens_field = "max_tokens"
params = { top_k = 20 }

[models.local-a]
price = { input = 0.1, output = 0.2 }
"""


def _exchange_body(tmp_path: Path, fmt: str, body: dict[str, Any], capabilities: str = "") -> dict[str, Any]:
    (tmp_path / "policy.toml").write_text(POLICY + capabilities)
    policy = load_policy(tmp_path, {"LLM_KEY": "k"}).policy
    assert policy is not None
    registry = build_registry()
    codec = registry.codec(fmt)
    request = codec.decode_request(body)
    attempt = Attempt(Target("local-a", "compatible", "upstream-a"), "primary", None, 128_000)
    call = SimpleNamespace(policy=policy, codec=codec, body=body, ingress=SimpleNamespace(headers={}), byok=None)
    exchange = Pipeline._exchange(SimpleNamespace(registry=registry), call, attempt, request)  # type: ignore[arg-type]
    parsed: dict[str, Any] = orjson.loads(exchange.request.body)
    return parsed


def test_a_translated_request_caps_output_with_the_channels_field(tmp_path: Path) -> None:
    body = {"model": "local-a", "max_tokens": 77, "messages": [{"role": "user", "content": "hi"}]}
    sent = _exchange_body(tmp_path, "anthropic", body)
    assert sent["max_tokens"] == 77 and "max_completion_tokens" not in sent
    assert sent["model"] == "upstream-a" and sent["top_k"] == 20


def test_a_passthrough_request_keeps_the_clients_own_field(tmp_path: Path) -> None:
    body = {"model": "local-a", "max_completion_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    sent = _exchange_body(tmp_path, "openai", body)
    assert sent["max_completion_tokens"] == 5 and sent["model"] == "upstream-a"


CLAUDE_CODE_THINKING = {
    "model": "local-a",
    "max_tokens": 32000,
    "messages": [{"role": "user", "content": "hi"}],
    "thinking": {"type": "adaptive", "display": "omitted"},
    "output_config": {"effort": "high"},
}


def test_a_model_without_the_reasoning_capability_gets_no_reasoning_controls(tmp_path: Path) -> None:
    sent = _exchange_body(tmp_path, "anthropic", CLAUDE_CODE_THINKING)
    assert "reasoning_effort" not in sent


def test_a_reasoning_model_gets_the_effort(tmp_path: Path) -> None:
    sent = _exchange_body(tmp_path, "anthropic", CLAUDE_CODE_THINKING, 'capabilities = ["reasoning"]\n')
    assert sent["reasoning_effort"] == "high"
