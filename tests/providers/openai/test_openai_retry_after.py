"""Retry hints from OpenAI(-compatible) response headers."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from providers.openai.retry_after import parse_retry_after

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": formatdate(NOW + 12, usegmt=True)}, 12.0),
        ({"retry-after": formatdate(NOW - 12, usegmt=True)}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "20ms"}, 0.02),
        ({"x-ratelimit-reset-requests": "1h2m3.5s"}, 3723.5),
        (
            {
                "x-ratelimit-reset-requests": "2s",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-tokens": "1m",
                "x-ratelimit-remaining-tokens": "5000",
            },
            2.0,
        ),
        ({"x-ratelimit-reset-requests": "garbage"}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == seconds
