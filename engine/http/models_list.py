"""The public catalogue: every model and alias of a policy as neutral entries, rendered in
each client format by ``providers.models_list``. Pure.

A model is *available* when an enabled channel serves it whose circuit breaker for it is
not open (``down``: the open (channel, model) pairs of this worker); an alias when one of
the models or aliases it can route to is. OpenAI's list shows every entry with its
``available`` flag; the Anthropic and Gemini lists, which have no such field, list only the
available ones, and only what their clients can ask (Anthropic: chat models; Gemini: chat
and embedding models, the latter with ``embedContent`` methods). Every entry carries its
``model_kind`` (an alias: its models' kind)."""

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

Down = frozenset[tuple[str, str]]  # (channel, model) pairs whose breaker is open


def entries(policy: CompiledPolicy, down: Down = frozenset()) -> list[ModelEntry]:
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
            if model.kind != "chat":  # billed by input tokens (embedding) or per image
                del price["output"]
            if model.kind == "image":
                del price["input"]
                price.update({f"image:{s}:{q}": usd for s, by in model.price.images.items() for q, usd in by.items()})
        out.append(
            ModelEntry(
                model_id,
                "model",
                None,
                price,
                model.context_window,
                model.max_output_tokens,
                tuple(sorted(model.capabilities)),
                _model_up(policy, model_id, down),
                model.kind,
            )
        )
    for name in sorted(policy.aliases):
        alias = policy.aliases[name]
        up = _alias_up(policy, name, down, set())
        out.append(ModelEntry(name, "alias", alias.description, None, None, None, (), up, alias.kind))
    return out


def _model_up(policy: CompiledPolicy, model_id: str, down: Down) -> bool:
    return any((channel, model_id) not in down for channel in policy.models[model_id].channels)


def _alias_up(policy: CompiledPolicy, name: str, down: Down, seen: set[str]) -> bool:
    seen.add(name)
    alias = policy.aliases[name]
    targets = [*alias.candidates, *alias.fallback, *(t for rule in alias.rules for t in rule.use)]
    for target in targets:
        if target in policy.models and _model_up(policy, target, down):
            return True
        if target in policy.aliases and target not in seen and _alias_up(policy, target, down, seen):
            return True
    return False


def openai_models(policy: CompiledPolicy, down: Down = frozenset()) -> dict[str, Any]:
    return openai_list(entries(policy, down))


def openai_model(policy: CompiledPolicy, model_id: str, down: Down = frozenset()) -> dict[str, Any] | None:
    for entry in entries(policy, down):
        if entry.id == model_id:
            return openai_entry(entry)
    return None


def anthropic_models(policy: CompiledPolicy, down: Down = frozenset()) -> dict[str, Any]:
    return anthropic_list([e for e in entries(policy, down) if e.available])


def gemini_models(policy: CompiledPolicy, down: Down = frozenset()) -> bytes:
    return gemini_list([e for e in entries(policy, down) if e.available])
