"""Model kinds in the policy: what ``turnout check`` says about them (exact messages), what
the compiled policy holds, and the router's 400 for an endpoint asking the wrong kind."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.errors import BadRequest
from engine.policy.check import run_check
from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.routing.facts import RequestFacts
from engine.routing.health import Health
from engine.routing.plan import KeyFacts, plan
from tests.support.policy_files import write_policy

CHANNEL = """
[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["chatty", "emb", "emb-b", "img"]
"""

GOOD = (
    CHANNEL
    + """
[models.chatty]
price = { input = 1.0, output = 2.0 }

[models.emb]
kind = "embedding"
price = { input = 0.02, batch_discount = 0.5 }
context_window = 8191
fallback = ["emb-b"]

[models.emb-b]
kind = "embedding"
price = { input = 0.01 }

[models.img]
kind = "image"
price = { images = { "1024x1024" = { low = 0.011, high = 0.167 }, "512x512" = 0.02 } }

[aliases.embed]
candidates = ["emb"]
fallback = ["emb-b"]
strategy = "cheapest"
"""
)


def _check(tmp_path: Path, text: str) -> tuple[int, list[str]]:
    write_policy(tmp_path, text)
    return run_check(tmp_path, {})


def _compiled(tmp_path: Path, text: str) -> CompiledPolicy:
    write_policy(tmp_path, text)
    policy = load_policy(tmp_path, {}).policy
    assert policy is not None
    return policy


def test_a_policy_with_every_kind_passes(tmp_path: Path) -> None:
    code, lines = _check(tmp_path, GOOD)
    assert code == 0, lines
    policy = _compiled(tmp_path, GOOD)
    assert {m.id: m.kind for m in policy.models.values()} == {
        "chatty": "chat",
        "emb": "embedding",
        "emb-b": "embedding",
        "img": "image",
    }
    assert policy.aliases["embed"].kind == "embedding"
    price = policy.models["img"].price
    assert price is not None
    assert price.image_usd("1024x1024", "high") == 0.167
    assert price.image_usd("512x512", "hd") == 0.02  # a plain number prices every quality
    assert price.image_usd("1024x1024", "auto") == 0.167  # not listed: the dearest that could apply
    assert price.image_usd("2048x2048", "low") == 0.167
    emb = policy.models["emb"].price
    assert emb is not None and (emb.input, emb.output, emb.batch_discount) == (0.02, 0.0, 0.5)


BROKEN = (
    CHANNEL
    + """
[models.chatty]
price = { input = 1.0 }
fallback = ["emb"]

[models.emb]
kind = "embedding"
price = { input = 0.02, output = 1.0, images = { "1024x1024" = 0.1 } }
capabilities = ["tools"]
max_output_tokens = 10

[models.emb-b]
kind = "embeddings"

[models.img]
kind = "image"
price = { input = 1.0, batch_discount = 1.5 }

[aliases.mixed]
candidates = ["chatty", "emb"]
fallback = ["img"]
"""
)


def test_check_reports_kind_mistakes_exactly(tmp_path: Path) -> None:
    code, lines = _check(tmp_path, BROKEN)
    assert code == 1
    assert lines == [
        "policy.toml:8: models.chatty.price: a chat model's price needs input and output (USD per 1M tokens)",
        "policy.toml:9: models.chatty.fallback.0: 'emb' is an embedding model; "
        "a chat model falls back only to chat models",
        'policy.toml:13: models.emb.price.images: images prices are for image models (kind = "image")',
        "policy.toml:13: models.emb.price.output: an embedding model is billed by input tokens only; remove output",
        "policy.toml:14: models.emb.capabilities: capabilities are for chat models; remove them",
        "policy.toml:15: models.emb.max_output_tokens: max_output_tokens is for chat models; remove it",
        "policy.toml:18: models.emb-b.kind: unknown kind 'embeddings' (known: chat, embedding, image)",
        "policy.toml:22: models.img.price.batch_discount: must be at most 1",
        "policy.toml:24: aliases.mixed: mixes model kinds: chat (chatty), embedding (emb) and image (img); "
        "an alias picks models of one kind",
        "error: 9 problems",
    ]


def test_an_image_model_needs_image_prices(tmp_path: Path) -> None:
    text = CHANNEL + '[models.img]\nkind = "image"\nprice = { input = 1.0 }\n'
    text = text.replace('"chatty", "emb", "emb-b", "img"', '"img"')
    code, lines = _check(tmp_path, text)
    assert code == 1
    assert lines[0] == (
        "policy.toml:8: models.img.price: an image model's price needs images "
        '(USD per image, e.g. { "1024x1024" = 0.04 })'
    )


def _facts(model: str, kind: str) -> RequestFacts:
    return RequestFacts(model, 10, None, False, False, False, False, 1, "x", kind=kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("model", "kind", "message"),
    [
        ("emb", "chat", "'emb' is an embedding model: ask it on /v1/embeddings; this endpoint serves chat models"),
        (
            "chatty",
            "embedding",
            "'chatty' is a chat model: ask it on a chat endpoint; this endpoint serves embedding models",
        ),
        (
            "embed",
            "image",
            "'embed' is an alias for embedding models: ask it on /v1/embeddings; this endpoint serves image models",
        ),
        ("img", "embedding", "'img' is an image model: ask it on /v1/images; this endpoint serves embedding models"),
    ],
)
def test_plan_refuses_a_model_of_the_wrong_kind(tmp_path: Path, model: str, kind: str, message: str) -> None:
    policy = _compiled(tmp_path, GOOD)
    with pytest.raises(BadRequest) as caught:
        plan(_facts(model, kind), policy, Health(), KeyFacts(), datetime.now(UTC), random.Random(0))
    assert caught.value.message == message
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "wrong_model_kind", "model")


def test_plan_routes_every_kind_with_the_same_rules(tmp_path: Path) -> None:
    policy = _compiled(tmp_path, GOOD)
    route = plan(_facts("embed", "embedding"), policy, Health(), KeyFacts(), datetime.now(UTC), random.Random(0))
    assert [(a.target.model, a.role) for a in route.attempts] == [("emb", "primary"), ("emb-b", "fallback")]
    assert route.attempts[0].estimated_cost_usd == pytest.approx(10 * 0.02 / 1e6)
    facts = _facts("img", "image")._replace(images=3, image_size="1024x1024", image_quality="low")
    image_route = plan(facts, policy, Health(), KeyFacts(), datetime.now(UTC), random.Random(0))
    assert image_route.attempts[0].estimated_cost_usd == pytest.approx(3 * 0.011)
