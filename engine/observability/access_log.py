"""The access log: one line per client request, on the ``turnout.access`` logger at INFO.

A line carries who asked (the key's *name*), how it was routed and how it ended: request
id, key name, client format, endpoint, alias, rule, channel, model, status, error type,
attempts, time to first token, duration, tokens in and out, cost (USD) and whether the
tokens were estimated. Never a prompt, an output, a key or a header: the entry is built from
routing names and numbers only (``AccessEntry``).

Text (the default) is ``key=value`` pairs after the usual log prefix, a value quoted only
when it has a space, a quote or an ``=``; JSON (``TURNOUT_LOG_FORMAT=json``) is one object
per line with the same fields (``engine.observability.log_setup`` makes every line JSON
then). Formatting is pure.
"""

from __future__ import annotations

import logging
import time
from typing import Any, NamedTuple

import orjson

LOGGER = "turnout.access"


class AccessEntry(NamedTuple):
    request_id: str
    key: str  # the key's name ("-" before authentication), never the key itself
    format: str  # the client's wire format
    endpoint: str
    alias: str | None
    rule: str | None
    channel: str | None  # who served (the last attempt)
    model: str | None
    status: int
    error: str | None  # the error type when status is not 200
    attempts: int
    ttft_ms: float | None
    duration_ms: float
    tokens_in: int
    tokens_out: int
    cost_usd: float
    estimated: bool  # tokens counted by Turnout (the upstream reported none, or a stream was cut)


def _text(value: str | None) -> str:
    """A string field: ``-`` when absent, quoted when it has a space, a quote or an ``=``."""
    if value is None:
        return "-"
    if not value:
        return '""'
    if " " in value or '"' in value or "=" in value or "\n" in value:
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return value


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_cost(cost_usd: float) -> str:
    """USD as a decimal string with micro-dollar precision (charges are whole micro-dollars)."""
    return f"{cost_usd:.6f}"


def as_dict(entry: AccessEntry) -> dict[str, Any]:
    """The entry's fields for JSON: numbers as numbers, the cost as its decimal string."""
    fields = entry._asdict()
    fields["cost_usd"] = format_cost(entry.cost_usd)
    for name in ("ttft_ms", "duration_ms"):
        if fields[name] is not None:
            fields[name] = round(fields[name], 1)
    return fields


def format_text(entry: AccessEntry) -> str:
    """``request_id=... key=... format=... ...`` in the order of ``AccessEntry``."""
    e = entry
    return (
        f"request_id={_text(e.request_id)} key={_text(e.key)} format={_text(e.format)} "
        f"endpoint={_text(e.endpoint)} alias={_text(e.alias)} rule={_text(e.rule)} channel={_text(e.channel)} "
        f"model={_text(e.model)} status={e.status} error={_text(e.error)} attempts={e.attempts} "
        f"ttft_ms={_ms(e.ttft_ms)} duration_ms={_ms(e.duration_ms)} tokens_in={e.tokens_in} "
        f"tokens_out={e.tokens_out} cost_usd={e.cost_usd:.6f} estimated={'true' if e.estimated else 'false'}"
    )


def format_json(entry: AccessEntry) -> str:
    return orjson.dumps(as_dict(entry)).decode()


class JsonFormatter(logging.Formatter):
    """Every log line as one JSON object: time, level, logger, message; an access line's
    fields (``extra={"access": entry}``) at the top level instead of its message. UTC."""

    converter = staticmethod(time.gmtime)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        entry = getattr(record, "access", None)
        if isinstance(entry, AccessEntry):
            line.update(as_dict(entry))
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line).decode()


class AccessLog:
    """Writes entries in the configured format (no work at all when the logger is off)."""

    def __init__(self, json: bool, logger: logging.Logger | None = None) -> None:
        self.json = json
        self.logger = logger or logging.getLogger(LOGGER)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def write(self, entry: AccessEntry) -> None:
        if self.json:
            self.logger.info("request", extra={"access": entry})
        else:
            self.logger.info(format_text(entry))
