"""CEL rules: type-check a policy expression at load, evaluate it per request.

The only module that imports the CEL library (``cel-expr-python``).

Two environments per rule. At load the source is checked in a *typed* environment where
every field of the variable contract (``engine.policy.compiled``) is declared as a
qualified variable (``request.estimated_tokens: int``...), so a misspelled field, a wrong
operand type or a non-bool ``when`` is a compile error with its ``line:col``. The same
source is then compiled against ``map(string, dyn)`` variables, which is what runs per
request with the plain dicts the router builds (no per-request conversion to typed values).

Extensions available to rules: strings (``lowerAscii``, ``split``...), math
(``math.greatest``...), optionals (``request.headers[?'x-team'].orValue('')``) and
``cel.bind``. Comprehensions are bounded by the library's iteration budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import cel_expr_python.cel as cel
from cel_expr_python.ext.ext_bindings import ExtBindings
from cel_expr_python.ext.ext_math import ExtMath
from cel_expr_python.ext.ext_optional import ExtOptional
from cel_expr_python.ext.ext_strings import ExtStrings

from engine.policy.compiled import CelEvalError

Scope = Literal["request", "candidate", "rollback"]
ResultType = Literal["bool", "double"]

_T = cel.Type
_STRINGS = _T.Map(_T.STRING, _T.STRING)
# One side's live statistics, for a canary's rollback condition (``engine.canary.stats``).
_SIDE_STATS: Mapping[str, cel.Type] = {
    "requests": _T.INT,
    "errors": _T.INT,
    "error_rate": _T.DOUBLE,
    "fallbacks": _T.INT,
    "fallback_rate": _T.DOUBLE,
    "p50_latency_ms": _T.DOUBLE,
    "p95_latency_ms": _T.DOUBLE,
    "cost_per_request": _T.DOUBLE,
}

# The variable contract of engine.policy.compiled, as CEL types.
FIELDS: Mapping[str, Mapping[str, cel.Type]] = {
    "request": {
        "model": _T.STRING,
        "estimated_tokens": _T.INT,
        "max_tokens": _T.INT,
        "stream": _T.BOOL,
        "has_tools": _T.BOOL,
        "has_images": _T.BOOL,
        "message_count": _T.INT,
        "text": _T.STRING,
        "metadata": _STRINGS,
        "headers": _STRINGS,
        "kind": _T.STRING,
    },
    "candidate": {
        "model": _T.STRING,
        "channel": _T.STRING,
        "price.input": _T.DOUBLE,
        "price.output": _T.DOUBLE,
        "price.cached_input": _T.DOUBLE,
        "context_window": _T.INT,
        "capabilities": _T.List(_T.STRING),
        "latency_p50_ms": _T.DOUBLE,
        "latency_p95_ms": _T.DOUBLE,
        "error_rate": _T.DOUBLE,
        "in_flight": _T.INT,
    },
    "key": {"name": _T.STRING, "group": _T.STRING, "tags": _T.List(_T.STRING)},
    "canary": _SIDE_STATS,
    "stable": _SIDE_STATS,
}
ROOTS: Mapping[Scope, tuple[str, ...]] = {
    "request": ("request", "key", "now"),
    "candidate": ("request", "candidate", "key", "now"),
    "rollback": ("canary", "stable"),
}
_RESULT_TYPES: Mapping[ResultType, cel.Type] = {"bool": _T.BOOL, "double": _T.DOUBLE}
_ERROR_LINE = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_UNDECLARED = re.compile(r"undeclared reference to '([^']*)'")


class CelCompileError(Exception):
    """A rule that does not compile or type-check; ``line``/``col`` are 1-based, inside
    the expression. ``others`` holds further errors the checker found in the same rule."""

    def __init__(self, message: str, line: int, col: int, others: tuple[CelCompileError, ...] = ()) -> None:
        super().__init__(f"{line}:{col}: {message}")
        self.message = message
        self.line = line
        self.col = col
        self.others = others


class RuleEvalError(CelEvalError):
    """A rule failed at runtime; ``detail`` is the failure without the rule's source."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(f"rule {source!r}: {detail}")
        self.source = source
        self.detail = detail


@dataclass(slots=True, eq=False)
class CelRule:
    """A compiled rule (implements ``engine.policy.compiled.CelProgram``); treat as
    immutable (not frozen only because the protocol declares ``source`` settable).

    ``reads`` names the variables the expression uses; empty means a constant."""

    source: str
    scope: Scope
    result: ResultType
    reads: frozenset[str]
    _env: cel.Env
    _expression: cel.Expression
    _fields: dict[str, tuple[str, ...]]  # per map variable, the only fields the rule reads

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        try:
            data = {name: variables[name] for name in self.reads}
        except KeyError as exc:
            raise RuleEvalError(self.source, f"variable {exc.args[0]} not provided") from None
        for name, fields in self._fields.items():
            whole = data[name]
            # converting only what is read keeps e.g. an 8 KB request.text out of rules
            # that never look at it (about half the cost of an evaluation)
            data[name] = {f: whole[f] for f in fields if f in whole}
        activation = self._env.Activation(data)
        try:
            value = self._expression.eval(activation)
        except RuntimeError as exc:  # e.g. the comprehension iteration budget
            raise RuleEvalError(self.source, _first_line(str(exc))) from None
        plain = value.value()
        if self.result == "bool" and type(plain) is bool:
            return plain
        if self.result == "double" and type(plain) is float:
            return plain
        if value.type() == _T.ERROR:
            raise RuleEvalError(self.source, str(plain))
        raise RuleEvalError(self.source, f"gave {_kind(plain)}, expected a {self.result}")


def compile_rule(source: str, *, scope: Scope, result: ResultType) -> CelRule:
    """Type-check ``source`` for ``scope`` and ``result``; raise ``CelCompileError``."""
    try:
        typed = _typed_environment(scope).compile(source)
    except RuntimeError as exc:
        raise _compile_error(str(exc), scope) from None
    returned = typed.return_type()
    if returned != _RESULT_TYPES[result]:
        raise CelCompileError(_result_message(result, returned), 1, 1)
    runtime = _new_env({root: _root_type(root) for root in ROOTS[scope]})
    return CelRule(
        source=source,
        scope=scope,
        result=result,
        reads=(reads := _roots_read(source, scope)),
        _env=runtime,
        _expression=runtime.compile(source),
        _fields=_fields_read(source, reads),
    )


def _fields_read(source: str, roots: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """For each root reached only through ``root.field`` selections, those fields. A root
    used any other way (``root['x']``, ``has(root.x)`` is fine, ``root`` alone) keeps all."""
    out: dict[str, tuple[str, ...]] = {}
    for root in roots:
        if root == "now":
            continue
        uses = re.findall(rf"\b{root}\b(\.\w+)?", source)
        if uses and all(uses):
            out[root] = tuple(sorted({u[1:] for u in uses}))
    return out


def field_names(root: str) -> list[str]:
    """The fields of ``request``/``candidate``/``key`` (or a canary side) a rule may read, sorted."""
    return sorted(FIELDS.get(root, {}))


def _typed_environment(scope: Scope) -> cel.Env:
    variables: dict[str, cel.Type] = {"now": _T.TIMESTAMP} if "now" in ROOTS[scope] else {}
    for root in ROOTS[scope]:
        for name, kind in FIELDS.get(root, {}).items():
            variables[f"{root}.{name}"] = kind
    return _new_env(variables)


def _new_env(variables: Mapping[str, cel.Type]) -> cel.Env:
    extensions = [ExtStrings(), ExtMath(), ExtOptional(), ExtBindings()]
    return cel.NewEnv(variables=dict(variables), extensions=extensions)


def _root_type(root: str) -> cel.Type:
    return _T.TIMESTAMP if root == "now" else _T.Map(_T.STRING, _T.DYN)


def _roots_read(source: str, scope: Scope) -> frozenset[str]:
    """Which variables ``source`` reads: compiled with none declared, each is undeclared."""
    try:
        _new_env({}).compile(source)
    except RuntimeError as exc:
        names = {m.group(1).split(".")[0] for m in _UNDECLARED.finditer(str(exc))}
        return frozenset(names & set(ROOTS[scope]))
    return frozenset()


def _compile_error(raw: str, scope: Scope) -> CelCompileError:
    found = [(int(m.group(1)), int(m.group(2)), _explain(m.group(3), scope)) for m in _ERROR_LINE.finditer(raw)]
    if not found:
        return CelCompileError(_first_line(raw), 1, 1)
    errors = [CelCompileError(message, line, col) for line, col, message in found]
    first = errors[0]
    return CelCompileError(first.message, first.line, first.col, tuple(errors[1:]))


def _explain(message: str, scope: Scope) -> str:
    message = message.replace(" (in container '')", "").rstrip()
    match = _UNDECLARED.fullmatch(message)
    if match is None:
        return message
    name = match.group(1)
    root, _, _ = name.partition(".")
    if root in ROOTS[scope] and root != "now":
        fields = ", ".join(field_names(root))
        return f"{root} has no field {name[len(root) + 1 :]!r} (fields: {fields})"
    if root == "candidate":
        return "candidate is only available in filter, order and cost rules"
    variables = ", ".join(sorted(ROOTS[scope]))
    return f"unknown name {name!r} (variables: {variables})"


def _result_message(result: ResultType, returned: cel.Type) -> str:
    got = returned.name().lower()
    if result == "double" and returned == _T.INT:
        return "must be a double expression, but its type is int (wrap it in double(...))"
    return f"must be a {result} expression, but its type is {got}"


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "error"
