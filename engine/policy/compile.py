"""Compile a merged policy document into one ``CompiledPolicy`` (or the reasons it can't).

Runs every check and collects every problem: shape, then channels, models, aliases and
groups, each reading what the earlier steps produced. Any error-severity diagnostic
means no policy; warnings ride along in ``CompiledPolicy.warnings``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import orjson

from engine.policy.aliases import compile_aliases
from engine.policy.canary import compile_canary
from engine.policy.channels import compile_channels
from engine.policy.compiled import BreakerSpec, ChannelSpec, CompiledPolicy, Diagnostic, RetrySpec
from engine.policy.document import PolicyDocument, Problems
from engine.policy.env_refs import CREDENTIAL_HEADERS, FILE_PREFIX, HEADER_NAME, secret_path
from engine.policy.groups import compile_groups
from engine.policy.models import compile_models
from engine.policy.shape import RawPolicy, check_shape
from engine.policy.sources import SourceFile
from engine.policy.version import policy_version

_RETRY_KINDS = ("connect", "timeout")


def compile_policy(
    doc: PolicyDocument, env: Mapping[str, str], source_dir: str, candidate: Sequence[SourceFile] = ()
) -> tuple[CompiledPolicy | None, list[Diagnostic]]:
    """``candidate``: the files under ``canary/``, for ``[canary]`` (``engine.policy.canary``)."""
    problems = Problems(doc)
    raw = check_shape(problems)
    headers = _request_headers(raw, problems)
    retry = _retry(raw, problems)
    channels = compile_channels(raw, problems, env)
    models = compile_models(raw, problems, channels.specs)
    aliases = compile_aliases(raw, problems, models, headers)
    groups = compile_groups(raw, problems)
    canary = None
    if not problems.has_errors:
        canary = compile_canary(raw, problems, candidate, lambda d: compile_policy(d, env, source_dir))
    diagnostics = sort_diagnostics(problems.items)
    if problems.has_errors:
        return None, diagnostics
    policy = CompiledPolicy(
        version=policy_version(doc.data, channels.secret_presence),
        loaded_at=datetime.now(UTC),
        source_dir=source_dir,
        channels=MappingProxyType(channels.specs),
        models=MappingProxyType(models),
        aliases=MappingProxyType(aliases),
        retry=retry,
        breaker=BreakerSpec(failures=raw.breaker.failures, cooldown=raw.breaker.cooldown, panic=raw.breaker.panic),
        request_headers=headers,
        default_max_tokens=raw.router.default_max_tokens,
        groups=MappingProxyType(groups),
        warnings=tuple(diagnostics),
        secrets_digest=_secrets_digest(channels.specs),
        secret_files=tuple(
            str(secret_path(ref, Path(source_dir)))
            for ref in sorted(channels.secret_presence)
            if ref.startswith(FILE_PREFIX)
        ),
        canary=canary,
    )
    return policy, diagnostics


def _secrets_digest(specs: Mapping[str, ChannelSpec]) -> str:
    material = {name: [spec.api_key, dict(spec.headers)] for name, spec in specs.items()}
    return hashlib.sha256(orjson.dumps(material, option=orjson.OPT_SORT_KEYS)).hexdigest()


def sort_diagnostics(items: list[Diagnostic]) -> list[Diagnostic]:
    return sorted(items, key=lambda d: (d.file, d.line, d.path, d.message))


def _request_headers(raw: RawPolicy, problems: Problems) -> frozenset[str]:
    names: set[str] = set()
    for index, name in enumerate(raw.router.request_headers):
        if HEADER_NAME.fullmatch(name) is None:
            problems.add(["router", "request_headers", str(index)], "not a valid header name")
        elif name.lower() in CREDENTIAL_HEADERS or name.lower() == "cookie":
            problems.add(
                ["router", "request_headers", str(index)],
                f"'{name}' carries the caller's credentials; rules may not read it",
            )
        else:
            names.add(name.lower())
    return frozenset(names)


def _retry(raw: RawPolicy, problems: Problems) -> RetrySpec:
    spec = raw.retry
    statuses: set[int] = set()
    kinds: set[str] = set()
    for index, condition in enumerate(spec.on):
        if isinstance(condition, int) and not isinstance(condition, bool) and 400 <= condition <= 599:
            statuses.add(condition)
        elif isinstance(condition, str) and condition in _RETRY_KINDS:
            kinds.add(condition)
        else:
            problems.add(
                ["retry", "on", str(index)],
                'expected an HTTP status 400-599, "timeout" or "connect"',
            )
    if spec.backoff.base > spec.backoff.max:
        problems.add(["retry", "backoff", "base"], "must not be larger than backoff.max")
    return RetrySpec(
        on_status=frozenset(statuses),
        on_timeout="timeout" in kinds,
        on_connect="connect" in kinds,
        attempts=spec.attempts,
        backoff_base=spec.backoff.base,
        backoff_max=spec.backoff.max,
        max_retry_after=spec.max_retry_after,
    )
