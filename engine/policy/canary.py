"""``[canary]`` compiled: the candidate policy composed from ``canary/`` and compiled. Pure.

The candidate is the stable policy with the files under ``canary/`` put in place of the
stable files of the same name (``canary/routing.toml`` replaces ``routing.toml``; a name the
stable policy lacks adds a file), compiled like any policy but without the stable's
``[canary]`` table: a candidate has no canary of its own. Its problems keep their file and
line and read ``canary candidate: ...``; any error fails the whole load, as a broken stable
file would. Promotion is a git change: move the candidate's files over the stable ones and
drop ``[canary]``.

The table itself: ``percent`` of conversations (or keys) by a stable hash, key ``groups``
always on the canary, a ``header`` that picks a side, and ``rollback``, a CEL condition over
the ``canary`` and ``stable`` statistics of the last ``window`` (``engine.canary``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial

from engine.policy.cel import CelCompileError, compile_rule
from engine.policy.compiled import CanarySpec, CelEvalError, CompiledPolicy, Diagnostic
from engine.policy.document import PolicyDocument, Problems, merge
from engine.policy.durations import parse_duration
from engine.policy.env_refs import CREDENTIAL_HEADERS, HEADER_NAME
from engine.policy.groups import DEFAULT_GROUP
from engine.policy.schema import CanaryRaw
from engine.policy.shape import RawPolicy
from engine.policy.sources import CANARY_DIR, SourceFile

# statistics a rollback condition must evaluate on at load (``engine.canary.stats``)
_SAMPLE = {
    "requests": 100, "errors": 2, "error_rate": 0.02, "fallbacks": 5, "fallback_rate": 0.05,
    "p50_latency_ms": 800.0, "p95_latency_ms": 2400.0, "cost_per_request": 0.004,
}  # fmt: skip
_MIN_CHECK_EVERY = 0.1  # seconds: the statistics are read from the shared store
CANDIDATE = "canary candidate: "

Compile = Callable[[PolicyDocument], tuple[CompiledPolicy | None, list[Diagnostic]]]


def compose(doc: PolicyDocument, candidate: Sequence[SourceFile]) -> tuple[PolicyDocument, list[Diagnostic]]:
    """The candidate's document: the stable files, each replaced by ``canary/<its name>``
    when there is one, plus the candidate's new files; without the ``[canary]`` table."""
    files = {name: _without_canary(source) for name, source in doc.files.items()}
    problems: list[Diagnostic] = []
    for source in candidate:
        if "canary" in source.data:
            line = source.positions.line_of(("canary",))
            problems.append(Diagnostic(source.name, line, "canary", "cannot declare a canary of its own"))
        files[source.name.removeprefix(CANARY_DIR + "/")] = _without_canary(source)
    composed, duplicates = merge([files[name] for name in sorted(files)])
    return composed, [*problems, *duplicates]


def _without_canary(source: SourceFile) -> SourceFile:
    if "canary" not in source.data:
        return source
    return replace(source, data={k: v for k, v in source.data.items() if k != "canary"})


def compile_canary(
    raw: RawPolicy,
    problems: Problems,
    candidate: Sequence[SourceFile],
    compile_candidate: Compile,
) -> CanarySpec | None:
    """The canary spec, or None (after reporting why) when the table or the candidate is broken.
    ``compile_candidate`` compiles a document as a policy (``engine.policy.compile``)."""
    table = raw.canary
    if table is None:
        for source in candidate:
            problems.items.append(
                Diagnostic(source.name, 1, "canary", "not served: the policy has no [canary] table", "warning")
            )
        return None
    settings = _settings(table, raw, problems)
    if not candidate:
        problems.add(
            ["canary"],
            f"no candidate: put the files that change under {CANARY_DIR}/ (each replaces the stable file "
            "of the same name)",
        )
        return None
    composed, composing = compose(problems.doc, candidate)
    policy, diagnostics = compile_candidate(composed) if not composing else (None, [])
    stable = {(d.file, d.line, d.path, d.message) for d in problems.items}
    for d in [*composing, *diagnostics]:
        if (d.file, d.line, d.path, d.message) not in stable:  # a warning both sides share, once
            problems.items.append(replace(d, message=CANDIDATE + d.message))
    if policy is None or settings is None:
        return None
    return settings(policy)


def _settings(table: CanaryRaw, raw: RawPolicy, problems: Problems) -> Callable[[CompiledPolicy], CanarySpec] | None:
    """The table's values checked: the spec, once given its candidate; None when broken."""
    ok = True
    known_groups = {DEFAULT_GROUP, *raw.written.get("groups", set())}
    for index, group in enumerate(table.groups):
        if group not in known_groups:
            problems.unknown(["canary", "groups", str(index)], "group", group, known_groups)
            ok = False
    header = table.header.lower() if table.header is not None else None
    if header is not None and (HEADER_NAME.fullmatch(header) is None or header in CREDENTIAL_HEADERS):
        problems.add(["canary", "header"], "not a header name a request can choose its side with")
        ok = False
    durations: dict[str, float] = {}
    for key, value in (("window", table.window), ("check_every", table.check_every)):
        seconds = parse_duration(value)
        if seconds is None or seconds <= 0:
            problems.add(["canary", key], 'expected a duration like "30s", "10m" or "1h"')
            ok = False
        else:
            durations[key] = seconds
    if durations.get("check_every", 1.0) < _MIN_CHECK_EVERY:
        problems.add(["canary", "check_every"], f"at least {_MIN_CHECK_EVERY:g}s")
        ok = False
    try:
        rollback = compile_rule(table.rollback, scope="rollback", result="bool")
    except CelCompileError as exc:
        for error in (exc, *exc.others):
            problems.add(["canary", "rollback"], f"CEL {error.line}:{error.col}: {error.message}")
        return None
    probe = {"canary": _SAMPLE, "stable": _SAMPLE}
    try:
        rollback.evaluate(probe)
    except CelEvalError as exc:
        problems.add(["canary", "rollback"], f"fails on sample statistics: {exc}")
        return None
    if not ok:
        return None
    return partial(
        CanarySpec,
        percent=table.percent,
        groups=frozenset(table.groups),
        header=header,
        sticky=table.sticky,
        rollback=rollback,
        window=durations["window"],
        check_every=durations["check_every"],
        rescue=table.rescue,
    )
