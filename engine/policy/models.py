"""Compiling ``[models.*]``: prices, capabilities, fallbacks and the channels serving each.

A model must be served by at least one channel (an enabled one or not): a model nobody
serves is a typo waiting to happen. ``ModelSpec.channels`` lists the *enabled* channels
serving it, ordered by (priority, name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.policy.compiled import ChannelSpec, ModelSpec, Price
from engine.policy.document import Problems
from engine.policy.durations import parse_stream_buffer
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
        for index, capability in enumerate(model.capabilities):
            if capability not in CAPABILITIES:
                problems.unknown([*path, "capabilities", str(index)], "capability", capability, CAPABILITIES)
        for index, target in enumerate(model.fallback):
            where = [*path, "fallback", str(index)]
            if target == model_id:
                problems.add(where, "a model cannot fall back to itself")
            elif target not in known:
                problems.unknown(where, "model", target, known)
        if served is not None and model_id not in served:
            problems.add(path, "no channel serves this model (list it in a channel's models)")
        serving = sorted(
            (c for c in channels.values() if c.enabled and model_id in c.models),
            key=lambda c: (c.priority, c.name),
        )
        price = None if model.price is None else Price(**model.price.model_dump())
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
        )
    return out


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
