"""Compiling ``[channels.*]``: formats, base URLs, secrets and the models each one serves.

A channel whose secret variable is unset compiles disabled (``enabled=False`` with a
``skip_reason``) and a warning, so the rest of the policy still loads. ``secret_presence``
records, per referenced variable, whether it was set: it is part of the policy version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

from engine.policy.compiled import ChannelSpec, Timeouts
from engine.policy.document import Problems
from engine.policy.env_refs import (
    CREDENTIAL_HEADERS,
    has_reference,
    is_reference,
    missing_reason,
    resolve,
)
from engine.policy.schema import ChannelRaw
from engine.policy.shape import RawPolicy

FORMATS = ("anthropic", "gemini", "openai", "openai-responses")
DEMO_URL = "demo://local"


@dataclass(slots=True)
class CompiledChannels:
    specs: dict[str, ChannelSpec] = field(default_factory=dict)
    secret_presence: dict[str, bool] = field(default_factory=dict)  # env variable -> set


def compile_channels(raw: RawPolicy, problems: Problems, env: Mapping[str, str]) -> CompiledChannels:
    out = CompiledChannels()
    for name in sorted(raw.channels):
        spec = _channel(name, raw.channels[name], raw, problems, env, out.secret_presence)
        if spec is not None:
            out.specs[name] = spec
    return out


def _channel(
    name: str,
    channel: ChannelRaw,
    raw: RawPolicy,
    problems: Problems,
    env: Mapping[str, str],
    presence: dict[str, bool],
) -> ChannelSpec | None:
    path = ["channels", name]
    errors_before = problems.error_count
    if channel.format not in FORMATS:
        problems.unknown([*path, "format"], "format", channel.format, FORMATS)
    base_url = _base_url(problems, path, channel)
    skip_reasons: list[str] = []
    api_key = _api_key(problems, path, channel, base_url == DEMO_URL, env, presence, skip_reasons)
    headers = _headers(problems, path, channel, env, presence, skip_reasons)
    models = _models(problems, path, channel, raw)
    if "max_tokens_field" in channel.model_fields_set and channel.format != "openai":
        problems.add([*path, "max_tokens_field"], f'only "openai" channels take it (this one is {channel.format!r})')
    if not channel.enabled:
        skip_reasons.append("disabled in the policy")
    if base_url is None or problems.error_count > errors_before:
        return None
    return ChannelSpec(
        name=name,
        format=channel.format,
        base_url=base_url,
        api_key=api_key,
        models=MappingProxyType(models),
        weight=channel.weight,
        priority=channel.priority,
        timeout=Timeouts(**channel.timeout.model_dump()),
        headers=MappingProxyType(headers),
        params=MappingProxyType(dict(channel.params)),
        max_concurrent=channel.max_concurrent,
        max_tokens_field=channel.max_tokens_field,
        byok=channel.byok,
        enabled=not skip_reasons,
        skip_reason="; ".join(skip_reasons) or None,
    )


def _base_url(problems: Problems, path: list[str], channel: ChannelRaw) -> str | None:
    where = [*path, "base_url"]
    url = channel.base_url.strip()
    if url.startswith("demo:"):
        if url.rstrip("/") != DEMO_URL:
            problems.add(where, f"the built-in demo provider is {DEMO_URL}")
            return None
        if channel.format != "openai":
            problems.add([*path, "format"], 'the demo provider speaks format "openai"')
        return DEMO_URL
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        problems.add(where, f"not a valid URL: expected http(s)://host[:port][/path] or {DEMO_URL}")
        return None
    if parts.username or parts.password:
        problems.add(where, 'must not carry credentials: use api_key = "${ENV_VAR}"')
        return None
    if parts.query or parts.fragment:
        problems.add(where, "must not have a query or fragment")
        return None
    return url.rstrip("/")


def _api_key(
    problems: Problems,
    path: list[str],
    channel: ChannelRaw,
    demo: bool,
    env: Mapping[str, str],
    presence: dict[str, bool],
    skip_reasons: list[str],
) -> str | None:
    if channel.api_key is None:
        return None
    where = [*path, "api_key"]
    if demo:
        problems.add(where, "the demo provider takes no api_key")
        return None
    if not is_reference(channel.api_key):
        problems.add(
            where,
            'must be a reference like "${OPENAI_API_KEY}" or "${file:/run/secrets/openai}": '
            "never write a secret in the policy",
        )
        return None
    resolved = resolve(channel.api_key, env)
    _note(problems, where, resolved.variables, resolved.missing, presence, skip_reasons)
    return resolved.value


def _headers(
    problems: Problems,
    path: list[str],
    channel: ChannelRaw,
    env: Mapping[str, str],
    presence: dict[str, bool],
    skip_reasons: list[str],
) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in sorted(channel.headers.items()):
        where = [*path, "headers", name]
        if not has_reference(value):
            if name.lower() in CREDENTIAL_HEADERS:
                problems.add(
                    where, 'carries a credential: use an environment reference like "Bearer ${TOKEN}", never a literal'
                )
            headers[name] = value
            continue
        resolved = resolve(value, env)
        _note(problems, where, resolved.variables, resolved.missing, presence, skip_reasons)
        if resolved.value is not None:
            headers[name] = resolved.value
    return headers


def _note(
    problems: Problems,
    where: list[str],
    variables: tuple[str, ...],
    missing: tuple[str, ...],
    presence: dict[str, bool],
    skip_reasons: list[str],
) -> None:
    for variable in variables:
        presence[variable] = variable not in missing
    for variable in missing:
        reason = missing_reason(variable)
        problems.warn(where, f"{reason}: the channel is disabled")
        if reason not in skip_reasons:
            skip_reasons.append(reason)


def _models(problems: Problems, path: list[str], channel: ChannelRaw, raw: RawPolicy) -> dict[str, str]:
    known = raw.written.get("models", set())
    if isinstance(channel.models, list):
        pairs = [(str(i), public, public) for i, public in enumerate(channel.models)]
    else:
        pairs = [(public, public, upstream) for public, upstream in channel.models.items()]
    models: dict[str, str] = {}
    for key, public, upstream in pairs:
        where = [*path, "models", key]
        if public not in known:
            problems.unknown(where, "model", public, known)
        elif public in models:
            problems.add(where, f"model {public!r} is listed twice")
        elif not upstream.strip():
            problems.add(where, "the upstream model id is empty")
        else:
            models[public] = upstream
    return models
