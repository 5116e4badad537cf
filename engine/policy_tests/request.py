"""What the router reads for one case: the request's facts, the calling key, live health
and the time. Pure.

The request is built as an OpenAI chat completion body and decoded by the OpenAI codec,
then measured by ``request_facts``: the same path ``turnout explain`` takes. A case's
``prompt_tokens`` replaces the measured prompt estimate. Health is recorded into a fresh
``Health`` whose clock stands still, through the calls the executor makes (a success per
observed latency, a begin per request in flight, a failure that opens the breaker).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from engine.canonical import ChatRequest
from engine.policy.compiled import BreakerSpec, CompiledPolicy
from engine.policy_tests.schema import CaseRaw
from engine.routing.facts import RequestFacts, request_facts
from engine.routing.health import Health
from engine.routing.plan import KeyFacts
from providers.base import ClientCodec

DEFAULT_NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday, noon UTC: the time of a case that gives none
IMAGE_URL = "https://example.invalid/policy-test.png"  # never fetched: planning reads only that there is one
TOOL = {
    "type": "function",
    "function": {"name": "policy_test_tool", "parameters": {"type": "object", "properties": {}}},
}


def chat_body(case: CaseRaw) -> dict[str, Any]:
    """The OpenAI chat completion body a client would send for this case."""
    content: list[dict[str, Any]] = [{"type": "text", "text": case.prompt}]
    content += [{"type": "image_url", "image_url": {"url": IMAGE_URL}} for _ in range(case.images)]
    body: dict[str, Any] = {"model": case.model, "messages": [{"role": "user", "content": content}]}
    if case.stream:
        body["stream"] = True
    if case.max_tokens is not None:
        body["max_tokens"] = case.max_tokens
    if case.tools:
        body["tools"] = [TOOL]
    if case.wants_json:
        body["response_format"] = {"type": "json_object"}
    return body


def case_facts(case: CaseRaw, codec: ClientCodec, policy: CompiledPolicy) -> RequestFacts:
    request: ChatRequest = codec.decode_request(chat_body(case))
    headers = {name.lower(): value for name, value in case.headers.items()}
    facts = request_facts(request, headers, policy.request_headers)
    if case.prompt_tokens is not None:
        facts = facts._replace(estimated_tokens=case.prompt_tokens)
    if case.kind != "chat":  # an embeddings or images request: planned with its kind
        facts = facts._replace(kind=case.kind, has_images=False, images=1 if case.kind == "image" else 0)
    return facts


def case_key(case: CaseRaw) -> KeyFacts:
    return KeyFacts(case.key.name, case.key.group, tuple(case.key.tags))


def case_now(case: CaseRaw) -> datetime:
    return (case.now or DEFAULT_NOW).astimezone(UTC)


def _still() -> float:
    return 0.0


def case_health(case: CaseRaw, policy: CompiledPolicy) -> Health:
    health = Health(clock=_still)
    for setting in case.health:
        channel = policy.channels[setting.channel]
        models = [setting.model] if setting.model is not None else sorted(channel.models)
        for model in models:
            for latency in setting.latency_ms:
                health.success(setting.channel, model, latency)
            for _ in range(setting.in_flight):
                health.begin(setting.channel, model)
            if setting.breaker == "open":
                cooldown = setting.cooldown_s if setting.cooldown_s is not None else policy.breaker.cooldown
                health.failure(setting.channel, model, BreakerSpec(failures=1, cooldown=cooldown))
    return health
