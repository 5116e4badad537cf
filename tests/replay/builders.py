"""Hand-built recorded requests and policies for the replay tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.policy.compiled import CompiledPolicy
from engine.replay.load import load
from engine.replay.recorded import RecordedRequest, RoutingRecord
from engine.routing.facts import RequestFacts
from engine.routing.plan import KeyFacts, Target
from tests.support.policy_files import write_policy

AT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# The baseline the tests replay against: "auto" sends research keys and images to big,
# everything else to cheap (big as fallback); "fast" is cheap only; groups narrow models.
BASE_POLICY = """
[router]
request_headers = ["x-team"]

[channels.main]
format = "openai"
base_url = "https://api.example.test/v1"
api_key = "${REPLAY_TEST_KEY}"
models = ["cheap", "big", "solo"]

[channels.spare]
format = "openai"
base_url = "https://spare.example.test/v1"
api_key = "${REPLAY_TEST_KEY}"
models = ["cheap"]

[models.cheap]
price = { input = 0.1, output = 0.2 }
context_window = 8000
capabilities = ["tools"]

[models.big]
price = { input = 1.0, output = 2.0, cached_input = 0.5 }
context_window = 200000
capabilities = ["tools", "vision"]

[models.solo]
context_window = 8000

[aliases.auto]
rules = [
  { when = "key.group == 'research'", use = ["big"] },
  { when = "request.has_images", use = ["big"] },
  { when = "request.headers[?'x-team'].orValue('') == 'search'", use = ["big"] },
]
candidates = ["cheap"]
fallback = ["big"]

[aliases.fast]
candidates = ["cheap"]

[groups.default]
models = ["*"]

[groups.research]
models = ["auto", "big"]
price_multiplier = 2.0
"""


def policy(tmp_path: Path, toml_text: str, name: str = "policy") -> CompiledPolicy:
    directory = tmp_path / name
    write_policy(directory, toml_text)
    return load(directory, False, name)


def recorded(request_id: str = "r1", **changes: Any) -> RecordedRequest:
    fields: dict[str, Any] = dict(
        request_id=request_id, planned_at=AT, model="auto", estimated_tokens=1000, max_tokens=256, stream=False,
        has_tools=False, has_images=False, wants_json=False, message_count=2, metadata={}, headers={},
        key_name="ci", key_group="default", key_tags=(), keyed=True, first_model="cheap", first_channel="main",
        served_model="cheap", served_channel="main", status=200, prompt_tokens=1000, completion_tokens=200,
        cached_tokens=0, reasoning_tokens=0, cost_micros=140,
    )  # fmt: skip
    fields.update(changes)
    return RecordedRequest(**fields)


def routing_record(**changes: Any) -> RoutingRecord:
    facts = RequestFacts(
        model="auto", estimated_tokens=1000, max_tokens=256, stream=True, has_tools=True, has_images=False,
        wants_json=False, message_count=3, text="never stored", metadata={"ticket": "ÜX-1"},
        headers={"x-team": "search", "x-team-token": "tok-secret"},
    )  # fmt: skip
    fields: dict[str, Any] = dict(
        facts=facts, key=KeyFacts("ci", "research", ("batch",)), keyed=True, planned_at=AT,
        first=Target("big", "main", "big-v1"),
    )  # fmt: skip
    fields.update(changes)
    return RoutingRecord(**fields)
