"""Compiling one policy rule with diagnostics: type-check it, then try it on a sample.

``check_rule`` reports CEL syntax and type errors with the ``line:col`` inside the
expression, and evaluates the compiled rule once against a sample activation so that a
rule which can only fail is a load error rather than a runtime surprise. A rule that fails
only because the sample request lacks a header or metadata key is a warning telling how to
guard the lookup; a header that is not whitelisted in ``router.request_headers`` can never
be present, so reading it is an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from engine.policy.cel import (
    CelCompileError,
    CelRule,
    ResultType,
    RuleEvalError,
    Scope,
    compile_rule,
)
from engine.policy.compiled import CelEvalError
from engine.policy.document import Problems

_MISSING_KEY = re.compile(r'Key not found in map : "(.*)"')
_MAX_PROBES = 8
_HEADER_INDEX = re.compile(r"""request\s*\.\s*headers\s*\[\s*\??\s*(['"])([^'"]*)\1\s*\]""")
_HEADER_IN = re.compile(r"""(['"])([^'"]*)\1\s+in\s+request\s*\.\s*headers\b""")


def sample_variables(headers: dict[str, str], metadata: dict[str, str]) -> dict[str, Any]:
    """A plausible activation following the variable contract of ``engine.policy.compiled``."""
    return {
        "request": {
            "model": "sample",
            "estimated_tokens": 1000,
            "max_tokens": 4096,
            "stream": False,
            "has_tools": False,
            "has_images": False,
            "message_count": 1,
            "text": "Hello",
            "metadata": metadata,
            "headers": headers,
            "kind": "chat",
        },
        "candidate": {
            "model": "sample",
            "channel": "sample",
            "price": {"input": 1.0, "output": 2.0, "cached_input": 0.5},
            "context_window": 128000,
            "capabilities": ["tools", "vision", "json"],
            "latency_p50_ms": 500.0,
            "latency_p95_ms": 1500.0,
            "error_rate": 0.0,
            "in_flight": 0,
        },
        "key": {"name": "sample", "group": "default", "tags": []},
        "now": datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
    }


def check_rule(
    problems: Problems,
    path: Sequence[str],
    source: str,
    *,
    scope: Scope,
    result: ResultType,
    whitelisted_headers: frozenset[str],
) -> CelRule | None:
    """The compiled rule, or None after reporting why it cannot be used."""
    try:
        rule = compile_rule(source, scope=scope, result=result)
    except CelCompileError as exc:
        for error in (exc, *exc.others):
            problems.add(path, f"CEL {error.line}:{error.col}: {error.message}")
        return None
    if not _headers_whitelisted(problems, path, source, whitelisted_headers):
        return None
    headers: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for _ in range(_MAX_PROBES):
        try:
            rule.evaluate(sample_variables(headers, metadata))
            return rule
        except CelEvalError as exc:
            detail = _detail(exc)
            missing = _MISSING_KEY.search(detail)
            if missing is None:
                problems.add(path, f"fails on a sample request: {detail}")
                return None
            name = missing.group(1)
            if _reads_header(rule, headers, metadata, name):
                if name not in whitelisted_headers:
                    problems.add(path, _not_listed(name, whitelisted_headers))
                    return None
                headers[name] = ""
                problems.warn(path, _guard_advice("request.headers", name))
            else:
                metadata[name] = ""
                problems.warn(path, _guard_advice("request.metadata", name))
    return rule


def _headers_whitelisted(problems: Problems, path: Sequence[str], source: str, whitelisted: frozenset[str]) -> bool:
    """Header names written literally in the rule must be listed (and lower-case)."""
    names = [m.group(2) for m in _HEADER_INDEX.finditer(source)]
    names += [m.group(2) for m in _HEADER_IN.finditer(source)]
    ok = True
    for name in dict.fromkeys(names):
        if name != name.lower():
            problems.add(path, f"header names are lower-case: write {name.lower()!r}")
            ok = False
        elif name not in whitelisted:
            problems.add(path, _not_listed(name, whitelisted))
            ok = False
    return ok


def _not_listed(name: str, whitelisted: frozenset[str]) -> str:
    listed = ", ".join(sorted(whitelisted)) or "none"
    return f"reads header {name!r}, which is not in router.request_headers (listed: {listed})"


def _reads_header(rule: CelRule, headers: dict[str, str], metadata: dict[str, str], name: str) -> bool:
    """Does the missing key come from request.headers (else request.metadata)?"""
    try:
        rule.evaluate(sample_variables({**headers, name: ""}, metadata))
    except CelEvalError as exc:
        return f'"{name}"' not in _detail(exc)
    return True


def _detail(exc: CelEvalError) -> str:
    return exc.detail if isinstance(exc, RuleEvalError) else str(exc)


def _guard_advice(field: str, name: str) -> str:
    return (
        f"fails when {field} has no {name!r}; guard it: '{name}' in {field} && ..., or {field}[?'{name}'].orValue('')"
    )
