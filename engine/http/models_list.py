"""The public catalogue: every model and alias of a policy as neutral entries, rendered in
each client format by ``providers.models_list``. Pure."""

from __future__ import annotations

from typing import Any

from engine.policy.compiled import CompiledPolicy
from providers.models_list import (
    ModelEntry,
    anthropic_list,
    gemini_list,
    openai_entry,
    openai_list,
)


def entries(policy: CompiledPolicy) -> list[ModelEntry]:
    out: list[ModelEntry] = []
    for model_id in sorted(policy.models):
        model = policy.models[model_id]
        price = None
        if model.price is not None:
            price = {"input": model.price.input, "output": model.price.output}
            if model.price.cached_input is not None:
                price["cached_input"] = model.price.cached_input
            if model.price.cache_write is not None:
                price["cache_write"] = model.price.cache_write
        out.append(
            ModelEntry(
                model_id,
                "model",
                None,
                price,
                model.context_window,
                model.max_output_tokens,
                tuple(sorted(model.capabilities)),
                bool(model.channels),
            )
        )
    for name in sorted(policy.aliases):
        alias = policy.aliases[name]
        out.append(ModelEntry(name, "alias", alias.description, None, None, None, (), True))
    return out


def openai_models(policy: CompiledPolicy) -> dict[str, Any]:
    return openai_list(entries(policy))


def openai_model(policy: CompiledPolicy, model_id: str) -> dict[str, Any] | None:
    for entry in entries(policy):
        if entry.id == model_id:
            return openai_entry(entry)
    return None


def anthropic_models(policy: CompiledPolicy) -> dict[str, Any]:
    return anthropic_list(entries(policy))


def gemini_models(policy: CompiledPolicy) -> bytes:
    return gemini_list(entries(policy))
