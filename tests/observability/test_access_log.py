"""The access-log formatter: text ``key=value`` pairs, JSON objects, and the JSON log
formatter every line goes through with ``TURNOUT_LOG_FORMAT=json``."""

from __future__ import annotations

import logging
import shlex
import sys

import orjson

from engine.observability.access_log import AccessEntry, AccessLog, JsonFormatter, format_json, format_text

ENTRY = AccessEntry(
    request_id="req_1",
    key="team a",
    format="anthropic",
    endpoint="/v1/messages",
    alias="smart",
    rule="2",
    channel="backup",
    model="small-model",
    status=200,
    error=None,
    attempts=3,
    ttft_ms=12.345,
    duration_ms=40.06,
    tokens_in=10,
    tokens_out=20,
    cost_usd=0.0000015,
    estimated=False,
)


def test_text_is_key_value_pairs_in_field_order() -> None:
    line = format_text(ENTRY)
    assert line.startswith('request_id=req_1 key="team a" format=anthropic ')
    fields = dict(part.split("=", 1) for part in shlex.split(line))
    assert list(fields) == list(AccessEntry._fields)
    assert fields["key"] == "team a"  # quoted because of the space
    assert (fields["error"], fields["estimated"], fields["ttft_ms"], fields["duration_ms"]) == (
        "-",
        "false",
        "12.3",
        "40.1",
    )
    assert fields["cost_usd"] == "0.000002"  # micro-dollars, half-even as charged


def test_text_quotes_what_would_break_the_pairs() -> None:
    tricky = ENTRY._replace(key='a "b"=c', endpoint="/v1beta/models/x:generateContent", alias="", rule=None)
    fields = dict(part.split("=", 1) for part in shlex.split(format_text(tricky)))
    assert fields["key"] == 'a "b"=c'
    assert (fields["alias"], fields["rule"]) == ("", "-")
    assert fields["endpoint"] == "/v1beta/models/x:generateContent"


def test_json_keeps_numbers_and_nulls() -> None:
    data = orjson.loads(format_json(ENTRY))
    assert data["status"] == 200 and data["attempts"] == 3 and data["tokens_out"] == 20
    assert data["error"] is None and data["estimated"] is False
    assert data["ttft_ms"] == 12.3 and data["cost_usd"] == "0.000002"
    assert set(data) == set(AccessEntry._fields)


def test_json_formatter_puts_access_fields_at_the_top_level() -> None:
    formatter = JsonFormatter()
    access = logging.LogRecord("turnout.access", logging.INFO, __file__, 1, "request", None, None)
    access.access = ENTRY
    line = orjson.loads(formatter.format(access))
    assert (line["logger"], line["level"], line["request_id"], line["alias"]) == (
        "turnout.access",
        "info",
        "req_1",
        "smart",
    )
    assert "message" not in line and line["time"].endswith("Z")
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("turnout", logging.ERROR, __file__, 1, "failed %s", ("x",), sys.exc_info())
    other = orjson.loads(formatter.format(failed))
    assert other["message"] == "failed x" and "ValueError: boom" in other["exception"]


def test_access_log_writes_one_line_per_entry_in_its_format() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("tests.observability.access")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(Keep())
    AccessLog(json=False, logger=logger).write(ENTRY)
    AccessLog(json=True, logger=logger).write(ENTRY)
    assert records[0].getMessage() == format_text(ENTRY)
    assert records[1].access == ENTRY  # type: ignore[attr-defined]
    logger.setLevel(logging.WARNING)
    assert not AccessLog(json=False, logger=logger).enabled
