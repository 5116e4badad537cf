"""Compiling ``[models.*]``: prices, capabilities, fallbacks and the channels serving each.

A model must be served by at least one channel (an enabled one or not): a model nobody
serves is a typo waiting to happen. ``ModelSpec.channels`` lists the *enabled* channels
serving it, ordered by (priority, name).

A model's ``kind`` (chat, embedding, image) decides which endpoints may ask it and what
its price is in: a chat model needs ``input`` and ``output`` (USD per 1M tokens), an
embedding model ``input`` only, an image model ``images`` (USD per image by size and
quality). Capabilities and ``max_output_tokens`` are for chat models; a model falls back
only to models of its own kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.policy.compiled import KINDS, ChannelSpec, Kind, ModelSpec, Price
from engine.policy.document import Problems
from engine.policy.durations import parse_stream_buffer
from engine.policy.schema import ModelRaw
from engine.policy.shape import RawPolicy

# ``prefill``: the model continues a trailing assistant message (a cut stream may resume on it);
# ``system_messages``: an Anthropic model that takes ``role: "system"`` mid-conversation
CAPABILITIES = ("json", "prefill", "reasoning", "stream", "system_messages", "tools", "vision")


def compile_models(raw: RawPolicy, problems: Problems, channels: Mapping[str, ChannelSpec]) -> dict[str, ModelSpec]:
    served = served_models(problems.doc.data)  # None when a channel's list is unreadable
    known = raw.written.get("models", set())
    out: dict[str, ModelSpec] = {}
    for model_id in sorted(raw.models):
        model = raw.models[model_id]
        path = ["models", model_id]
        kind = _kind(problems, path, model)
        for index, capability in enumerate(model.capabilities):
            if capability not in CAPABILITIES:
                problems.unknown([*path, "capabilities", str(index)], "capability", capability, CAPABILITIES)
        for index, target in enumerate(model.fallback):
            where = [*path, "fallback", str(index)]
            if target == model_id:
                problems.add(where, "a model cannot fall back to itself")
            elif target not in known:
                problems.unknown(where, "model", target, known)
            elif target in raw.models and raw.models[target].kind != model.kind and raw.models[target].kind in KINDS:
                problems.add(
                    where,
                    f"'{target}' is {_article(raw.models[target].kind)} model; "
                    f"{_article(model.kind)} model falls back only to {model.kind} models",
                )
        if served is not None and model_id not in served:
            problems.add(path, "no channel serves this model (list it in a channel's models)")
        serving = sorted(
            (c for c in channels.values() if c.enabled and model_id in c.models),
            key=lambda c: (c.priority, c.name),
        )
        price = _price(problems, path, model, kind)
        buffer = None
        if model.stream_buffer is not None:
            buffer = parse_stream_buffer(model.stream_buffer)
            if buffer is None:
                problems.add([*path, "stream_buffer"], STREAM_BUFFER_HELP)
        out[model_id] = ModelSpec(
            id=model_id,
            price=price,
            context_window=model.context_window,
            capabilities=frozenset(model.capabilities),
            fallback=tuple(dict.fromkeys(model.fallback)),
            max_output_tokens=model.max_output_tokens,
            channels=tuple(c.name for c in serving),
            stream_buffer=buffer,
            kind=kind,
        )
    return out


def _article(kind: str) -> str:
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def _kind(problems: Problems, path: list[str], model: ModelRaw) -> Kind:
    for kind in KINDS:
        if model.kind == kind:
            if kind != "chat":
                if model.capabilities:
                    problems.add([*path, "capabilities"], "capabilities are for chat models; remove them")
                if model.max_output_tokens is not None:
                    problems.add([*path, "max_output_tokens"], "max_output_tokens is for chat models; remove it")
            return kind
    problems.unknown([*path, "kind"], "kind", model.kind, KINDS)
    return "chat"


def _price(problems: Problems, path: list[str], model: ModelRaw, kind: Kind) -> Price | None:
    """The compiled price, its keys checked against what the model's kind is billed in."""
    raw = model.price
    if raw is None:
        return None
    where = [*path, "price"]
    if kind == "chat" and (raw.input is None or raw.output is None):
        problems.add(where, "a chat model's price needs input and output (USD per 1M tokens)")
    if kind == "embedding":
        if raw.input is None:
            problems.add(where, "an embedding model's price needs input (USD per 1M input tokens)")
        if raw.output is not None:
            problems.add([*where, "output"], "an embedding model is billed by input tokens only; remove output")
    if kind == "image" and not raw.images:
        problems.add(where, 'an image model\'s price needs images (USD per image, e.g. { "1024x1024" = 0.04 })')
    if kind != "image" and raw.images:
        problems.add([*where, "images"], 'images prices are for image models (kind = "image")')
    images = {
        size: dict(value) if isinstance(value, dict) else {"*": value} for size, value in sorted(raw.images.items())
    }
    return Price(
        input=raw.input or 0.0,
        output=raw.output or 0.0,
        cached_input=raw.cached_input,
        cache_write=raw.cache_write,
        per_image=raw.per_image,
        batch_discount=raw.batch_discount,
        images=images,
    )


STREAM_BUFFER_HELP = 'expected "none", "full" or a duration such as "2s" or "500ms"'


def served_models(data: Mapping[str, Any]) -> set[str] | None:
    """Every model id some channel lists, read leniently from the merged document (a
    channel with an unrelated mistake still serves its models); None when some channel's
    ``models`` cannot be read at all (its own error is reported)."""
    served: set[str] = set()
    channels = data.get("channels")
    if not isinstance(channels, dict):
        return served
    for channel in channels.values():
        models = channel.get("models") if isinstance(channel, dict) else None
        if isinstance(models, (list, dict)):
            served.update(m for m in models if isinstance(m, str))
        else:
            return None
    return served
