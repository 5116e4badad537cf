"""The executor in-process: a small TOML policy, real plans and exchanges, a scripted
transport and a fake clock, so a request's retries and fallbacks run in milliseconds.

``FakeClock`` is the executor's ``sleep`` hook (it records each delay and moves time on
instead of waiting), the breakers' clock (``Health(clock=...)``) and the transport's
request timestamps. ``Rig.run`` plans a client request exactly as the pipeline does
(``request_facts`` -> ``plan``), makes each attempt's exchange with
``Pipeline._exchange`` (passthrough for the same format, translation otherwise) and runs
``Executor.run``; ``Rig.records`` keeps the attempt records of the last run.

The policy's channels (public model = upstream model id, which the transport is scripted by):

* ``alpha``  openai:    small = alpha-small (8k window), big = alpha-big (200k); first_byte and first_token 0.05 s, idle 1 s
* ``beta``   openai:    small = beta-small (8k); first_byte 0.05 s, idle 1 s
* ``claude`` anthropic: haiku = claude-haiku (8k), sonnet = claude-sonnet (200k); first_byte 0.05 s, idle 1 s
* ``quiet``  openai:    tiny = quiet-tiny (8k); first_byte 1 s, idle 0.02 s

Routes: ``smart`` = small@alpha, small@beta, then big@alpha (alias fallback); ``pair`` =
small@alpha, small@beta; ``poly`` = haiku@claude, sonnet@claude; ``hushed`` = tiny@quiet,
then small@alpha and small@beta; a concrete model is its own route (``big`` = big@alpha).
``racing`` is steady@slowpoke (deadlines 1 s) then small@alpha and small@beta, hedged
after 50 ms; ``held`` and ``windowed`` are ``smart`` with a
``full`` and a 200 ms stream buffer. ``big`` and ``sonnet`` declare ``prefill``: a cut stream
resumes on them when ``Rig.run(..., resume=True)``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from engine.exchange import Exchange
from engine.pipeline import Pipeline
from engine.policy.compiled import CompiledPolicy
from engine.policy.load import load_policy
from engine.resume import Continuation, Transcript
from engine.routing.execute import AttemptRecord, Completed, Executor, ResumeFactory, Streaming
from engine.routing.facts import request_facts
from engine.routing.health import Health
from engine.routing.plan import Attempt, KeyFacts, Plan, plan
from providers.registry import Registry, build_registry
from tests.support import anthropic_wire, openai_wire
from tests.support.scripted_transport import Json, Reply, ScriptedTransport, Sse

CHANNELS = """\
[channels.alpha]
format = "openai"
base_url = "https://alpha.example/v1"
api_key = "${ALPHA_KEY}"
models = { "small" = "alpha-small", "big" = "alpha-big" }
timeout = { first_byte = 0.05, first_token = 0.05, idle = 1 }

[channels.beta]
format = "openai"
base_url = "https://beta.example/v1"
api_key = "${BETA_KEY}"
models = { "small" = "beta-small" }
timeout = { first_byte = 0.05, first_token = 0.05, idle = 1 }

[channels.claude]
format = "anthropic"
base_url = "https://claude.example/v1"
api_key = "${CLAUDE_KEY}"
models = { "haiku" = "claude-haiku", "sonnet" = "claude-sonnet" }
timeout = { first_byte = 0.05, first_token = 0.05, idle = 1 }

[channels.slowpoke]
format = "openai"
base_url = "https://slowpoke.example/v1"
api_key = "${ALPHA_KEY}"
models = { "steady" = "slow-steady" }
timeout = { first_byte = 1, first_token = 1, idle = 1 }

[channels.quiet]
format = "openai"
base_url = "https://quiet.example/v1"
api_key = "${QUIET_KEY}"
models = { "tiny" = "quiet-tiny" }
timeout = { first_byte = 1, first_token = 1, idle = 0.02 }

[models.small]
context_window = 8000

[models.big]
context_window = 200000
capabilities = ["prefill"]

[models.haiku]
context_window = 8000

[models.sonnet]
context_window = 200000
capabilities = ["prefill"]

[models.tiny]
context_window = 8000

[models.steady]
context_window = 8000

[aliases.smart]
candidates = ["small"]
fallback = ["big"]

[aliases.pair]
candidates = ["small"]

[aliases.poly]
candidates = ["haiku", "sonnet"]

[aliases.hushed]
candidates = ["tiny"]
fallback = ["small"]

[aliases.racing]
candidates = ["steady", "small"]
hedge = { after = "50ms" }

[aliases.held]
candidates = ["small"]
fallback = ["big"]
stream_buffer = "full"

[aliases.windowed]
candidates = ["small"]
fallback = ["big"]
stream_buffer = "200ms"
"""

RETRY = """\
[retry]
on = [429, 500, 502, 503, 504, "timeout", "connect"]
attempts = 2
backoff = { base = 0.25, max = 8.0 }
max_retry_after = 30
"""

BREAKER = """\
[breaker]
failures = 3
cooldown = 30
panic = false
"""

ENV = {"ALPHA_KEY": "sk-alpha", "BETA_KEY": "sk-beta", "CLAUDE_KEY": "sk-ant-claude", "QUIET_KEY": "sk-quiet"}

Result = Completed | Streaming


def load(directory: Path, retry: str = RETRY, breaker: str = BREAKER) -> CompiledPolicy:
    """The rig's policy with these ``[retry]`` and ``[breaker]`` sections, compiled."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policy.toml").write_text(CHANNELS + retry + breaker)
    result = load_policy(directory, ENV)
    assert result.policy is not None, [str(d) for d in result.diagnostics]
    return result.policy


class FakeClock:
    """Monotonic seconds that move only when slept on or advanced; ``slept`` lists every
    delay the executor asked for, in order."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client_body(client: str, model: str, stream: bool, text: str = "ping") -> dict[str, Any]:
    """A minimal request body in the client's wire format."""
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    if client == "anthropic":
        body["max_tokens"] = 64
    return body


def answer(upstream_model: str, stream: bool, text: str = "pong") -> Reply:
    """A successful answer of the upstream (Anthropic for ``claude-*``, else OpenAI chat)."""
    if upstream_model.startswith("claude-"):
        if stream:
            return Sse(anthropic_wire.stream_frames([text], upstream_model))
        return Json(anthropic_wire.message(text, upstream_model))
    if stream:
        return Sse(openai_wire.stream_frames([text], upstream_model, include_usage=True))
    return Json(openai_wire.completion(text, upstream_model))


async def drain(result: Result) -> bytes:
    """Every byte the client gets: the whole body, or the first bytes and the rest."""
    if isinstance(result, Completed):
        return result.body
    return result.first + b"".join([chunk async for chunk in result.rest])


@dataclass
class Rig:
    policy: CompiledPolicy
    seed: int = 0
    clock: FakeClock = field(default_factory=FakeClock)
    registry: Registry = field(default_factory=build_registry)
    records: list[AttemptRecord] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.transport = ScriptedTransport(clock=self.clock)
        self.health = Health(clock=self.clock)
        self.executor = Executor(self.transport, self.health, sleep=self.clock.sleep, rng=random.Random(self.seed))

    def route(self, model: str, client: str = "openai", stream: bool = False) -> Plan:
        """The plan the pipeline would make for this request right now."""
        codec = self.registry.codec(client)
        request = codec.decode_request(client_body(client, model, stream))
        facts = request_facts(request, {}, self.policy.request_headers)
        return plan(facts, self.policy, self.health, KeyFacts(), datetime.now(UTC), random.Random(self.seed))

    def exchanges(self, model: str, client: str = "openai", stream: bool = False) -> Callable[[Attempt], Exchange]:
        """The exchange factory the pipeline would give the executor for this request."""
        codec = self.registry.codec(client)
        body = client_body(client, model, stream)
        request = codec.decode_request(body)
        call = SimpleNamespace(
            policy=self.policy, codec=codec, body=body, ingress=SimpleNamespace(headers={}), byok=None
        )
        pipeline = SimpleNamespace(registry=self.registry)

        def make(attempt: Attempt) -> Exchange:
            return Pipeline._exchange(pipeline, call, attempt, request)  # type: ignore[arg-type]

        return make

    def resumes(self, model: str, client: str = "openai") -> ResumeFactory:
        """The resume factory the pipeline would give the executor (``Pipeline._continuation``)."""
        codec = self.registry.codec(client)
        request = codec.decode_request(client_body(client, model, True))
        facts = request_facts(request, {}, self.policy.request_headers)
        call = SimpleNamespace(policy=self.policy, codec=codec, facts=facts, byok=None)
        pipeline = SimpleNamespace(registry=self.registry)

        def resume(
            attempt: Attempt, transcript: Transcript, delivered: list[AttemptRecord]
        ) -> tuple[Exchange, Continuation]:
            return Pipeline._continuation(pipeline, call, request, attempt, transcript, delivered)  # type: ignore[arg-type]

        return resume

    async def run(
        self,
        model: str = "smart",
        client: str = "openai",
        stream: bool = False,
        route: Plan | None = None,
        resume: bool = False,
    ) -> Result:
        """Plan (unless ``route`` is given) and execute one request; ``records`` holds its attempts."""
        self.records = []
        route = route or self.route(model, client, stream)
        make = self.exchanges(model, client, stream)
        resumes = self.resumes(model, client) if resume else None
        return await self.executor.run(route, self.policy, make, stream, self.records, resume=resumes)

    def tried(self) -> list[str]:
        """``failure`` (or ``ok``) of every attempt record of the last run, in order."""
        return [r.failure or "ok" for r in self.records]
