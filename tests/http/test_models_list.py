"""The catalogue tells what can be served now: a model without an enabled channel, or whose
every channel has its breaker open, is unavailable; an alias is available while one of its
targets is; OpenAI's list marks, the Anthropic and Gemini lists leave the others out."""

from __future__ import annotations

from pathlib import Path

import orjson

from engine.http.models_list import anthropic_models, entries, gemini_models, openai_models
from engine.policy.compiled import BreakerSpec, CompiledPolicy
from engine.policy.load import load_policy
from engine.routing.health import Health

POLICY = """
[channels.a]
format = "openai"
base_url = "https://a.example/v1"
api_key = "${A_KEY}"
models = ["alpha", "shared"]

[channels.b]
format = "openai"
base_url = "https://b.example/v1"
api_key = "${B_KEY}"
models = ["beta", "shared"]

[models.alpha]
price = { input = 1.0, output = 1.0 }
[models.beta]
price = { input = 1.0, output = 1.0 }
[models.shared]
price = { input = 1.0, output = 1.0 }

[aliases.only-beta]
candidates = ["beta"]

[aliases.nested]
rules = [{ when = "request.stream", use = ["only-beta"] }]
candidates = ["only-beta"]

[aliases.mixed]
candidates = ["beta", "alpha"]
"""


def _policy(tmp_path: Path) -> CompiledPolicy:
    (tmp_path / "policy.toml").write_text(POLICY)
    result = load_policy(tmp_path, {"A_KEY": "sk-a"})  # B_KEY unset: channel b is disabled
    assert result.policy is not None, result.diagnostics
    return result.policy


def test_models_without_an_enabled_channel_and_aliases_over_them_are_unavailable(tmp_path: Path) -> None:
    available = {e.id: e.available for e in entries(_policy(tmp_path))}
    assert available == {
        "alpha": True,
        "beta": False,
        "shared": True,
        "mixed": True,
        "nested": False,
        "only-beta": False,
    }


def test_an_open_breaker_makes_a_model_unavailable_until_it_closes(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    health = Health()
    for _ in range(5):
        health.failure("a", "alpha", BreakerSpec(failures=3, cooldown=30.0))
    down = health.open_pairs()
    assert down == frozenset({("a", "alpha")})
    available = {e.id: e.available for e in entries(policy, down)}
    assert available["alpha"] is False and available["mixed"] is False and available["shared"] is True


def test_each_format_shows_availability_its_own_way(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    openai = {m["id"]: m["available"] for m in openai_models(policy)["data"]}
    assert openai["beta"] is False and openai["alpha"] is True
    assert {m["id"] for m in anthropic_models(policy)["data"]} == {"alpha", "shared", "mixed"}
    gemini = orjson.loads(gemini_models(policy))
    assert {m["name"] for m in gemini["models"]} == {"models/alpha", "models/shared", "models/mixed"}
