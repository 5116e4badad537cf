"""The rescue suite's policy: every public model points at a ``FaultUpstream`` model name
that spells its failure (``p+cut3``: cut after three words), so one gateway serves every
scenario and a test picks its failure by picking an alias.

Channels, all on the one fake (its path decides the wire format):

* ``oa`` (OpenAI chat) and ``an`` (Anthropic Messages): short deadlines, so a silent
  upstream costs a fraction of a second: headers within 0.4 s, the first token within
  0.6 s, never more than 0.5 s of silence mid-stream;
* ``patient`` (OpenAI chat): deadlines of seconds, for the hedge's slow primary (the hedge,
  not a deadline, must be what ends it).

``[retry]``: two tries per candidate, backoff 0.1-0.2 s before the second (equal jitter on
a 0.2 s base), a ``Retry-After`` above 1.5 s moves on instead of waiting. The breaker of
the shared gateway never opens (one test's failures must not reroute another's);
``breaker_policy`` is the same policy with a breaker that opens after two failures.

Prices are per model, in USD per million tokens, so a token costs whole micro-dollars.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import tomli_w

FIRST_BYTE = 0.4
FIRST_TOKEN = 0.6
IDLE = 0.5
BACKOFF_BASE = 0.2  # the first retry waits between half of it and all of it
MAX_RETRY_AFTER = 1.5
HEDGE_AFTER = 0.2
WINDOW = 0.3  # the windowed stream buffer
SMALL_WINDOW, LARGE_WINDOW = 8000, 200000


@dataclass(frozen=True, slots=True)
class Model:
    channel: str
    upstream: str  # the fault model name the fake receives
    prefill: bool = False
    window: int = SMALL_WINDOW
    price: tuple[float, float] = (100.0, 200.0)  # input, output: USD per million tokens
    buffer: str | None = None  # the model's own stream_buffer option


MODELS: dict[str, Model] = {
    # healthy fallbacks
    "backup": Model("oa", "b", price=(300.0, 400.0)),
    "backup-an": Model("an", "c", price=(300.0, 400.0)),
    "pf": Model("an", "f", prefill=True, price=(500.0, 600.0)),  # continues a prefill (Anthropic does)
    "pf-oa": Model("oa", "g", prefill=True),  # an OpenAI-compatible server that does too
    "nopf": Model("oa", "n"),  # healthy, but cannot continue a prefill
    "liar": Model("an", "l+noprefill", prefill=True),  # declared with prefill, rejects it anyway
    "large": Model("oa", "big", window=LARGE_WINDOW),
    # failures before the first token
    "p429": Model("oa", "p+429"),
    "p429ra": Model("oa", "p+429-ra1once"),
    "q429": Model("an", "q+429"),
    "x429ra3": Model("oa", "x+429-ra3"),
    "y429ra2": Model("an", "y+429-ra2"),
    "p500once": Model("oa", "p+500once"),
    "q500once": Model("an", "q+500once"),
    "p503": Model("oa", "p+503"),
    "q529": Model("an", "q+529"),
    "preset": Model("oa", "p+reset"),
    "qreset": Model("an", "q+reset"),
    "phang": Model("oa", "p+hang"),
    "qhang": Model("an", "q+hang"),
    "pslow": Model("oa", "p+slow2s"),
    "qslow": Model("an", "q+slow2s"),
    "pcontext": Model("oa", "p+context"),
    "qcontext": Model("an", "q+context"),
    "peer": Model("oa", "s"),  # the same small window as the model that was too small
    "pfilter": Model("oa", "p+filter"),
    "qfilter": Model("an", "q+filter"),
    # failures after the first token
    "pcut": Model("oa", "p+cut3", price=(100.0, 200.0)),
    "qcut": Model("an", "q+cut3"),
    "pstall": Model("oa", "p+stall3"),
    "perror": Model("oa", "p+error3"),
    "qerror": Model("an", "q+error3"),
    "ptoolcut": Model("oa", "p+tool+cut3"),
    "pbad": Model("oa", "p+bad3"),
    "qbad": Model("an", "q+bad3"),
    "pnoterm": Model("oa", "p+noterm"),
    "qnoterm": Model("an", "q+noterm"),
    "plate-cut": Model("oa", "p+delay150ms+cut6"),
    "pcut9": Model("oa", "p+cut9"),
    "pstall9": Model("oa", "p+stall9"),
    "perror9": Model("oa", "p+error9", buffer="full"),  # the model's own option, not the alias's
    # hedging
    "hslow": Model("patient", "h+slow2s"),
    "hquick": Model("patient", "h"),
    # a flapping primary: down (503) for its 1st-2nd and 5th-6th requests, up otherwise;
    # and a model with no fallback, down for its first two requests
    "flap": Model("oa", "p+503x2+503@5+503@6"),
    "lone": Model("oa", "q+503x2"),
}


def _alias(candidates: list[str], fallback: list[str] | None = None, **options: Any) -> dict[str, Any]:
    alias: dict[str, Any] = {"candidates": candidates}
    if fallback:
        alias["fallback"] = fallback
    alias.update(options)
    return alias


ALIASES: dict[str, dict[str, Any]] = {
    # before the first token: (primary) -> backup
    "rate-limited": _alias(["p429"], ["backup"]),
    "rate-limited-an": _alias(["q429"], ["backup-an"]),
    "retry-after": _alias(["p429ra"], ["backup"]),
    "server-once": _alias(["p500once"], ["backup"]),
    "server-once-an": _alias(["q500once"], ["backup-an"]),
    "unavailable": _alias(["p503"], ["backup"]),
    "reset": _alias(["preset"], ["backup"]),
    "reset-an": _alias(["qreset"], ["backup"]),
    "silent": _alias(["phang"], ["backup"]),
    "silent-an": _alias(["qhang"], ["backup-an"]),
    "slow": _alias(["pslow"], ["backup"]),
    "slow-an": _alias(["qslow"], ["backup"]),
    "too-long": _alias(["pcontext", "peer"], ["large"]),
    "too-long-an": _alias(["qcontext", "peer"], ["large"]),
    "filtered": _alias(["pfilter"], ["backup"]),
    "filtered-an": _alias(["qfilter"], ["backup"]),
    # everything failed
    "all-limited": _alias(["x429ra3", "y429ra2"]),
    "all-silent": _alias(["phang", "qhang"]),
    "all-broken": _alias(["p503", "q529"]),
    "mixed-failures": _alias(["p429", "phang"]),
    # after the first token
    "cut": _alias(["pcut"], ["nopf", "pf"]),  # resumes on pf, skipping nopf
    "cut-an": _alias(["qcut"], ["nopf", "pf-oa"]),
    "cut-honest": _alias(["pcut"], ["nopf"]),
    "stall": _alias(["pstall"], ["pf-oa"]),
    "stall-honest": _alias(["pstall"]),
    "in-band": _alias(["perror"], ["pf"]),
    "in-band-an": _alias(["qerror"]),
    "tool-cut": _alias(["ptoolcut"], ["pf"]),
    "liar-first": _alias(["pcut"], ["liar", "pf"]),
    "liar-only": _alias(["pcut"], ["liar"]),
    "malformed": _alias(["pbad"]),
    "malformed-an": _alias(["qbad"]),
    "unterminated": _alias(["pnoterm"]),
    "unterminated-an": _alias(["qnoterm"]),
    # stream buffers
    "buffer-none": _alias(["pcut"], ["backup"], stream_buffer="none"),
    "buffer-window": _alias(["pcut"], ["backup"], stream_buffer=f"{int(WINDOW * 1000)}ms"),
    "buffer-window-late": _alias(["plate-cut"], ["backup"], stream_buffer=f"{int(WINDOW * 1000)}ms"),
    "buffer-full-cut": _alias(["pcut9"], ["backup"], stream_buffer="full"),
    "buffer-full-stall": _alias(["pstall9"], ["backup"], stream_buffer="full"),
    "buffer-full-model": _alias(["perror9"], ["backup"]),
    # hedging
    "hedged": _alias(["hslow", "backup"], hedge={"after": f"{int(HEDGE_AFTER * 1000)}ms"}),
    "hedged-in-time": _alias(["hquick", "backup"], hedge={"after": f"{int(HEDGE_AFTER * 1000)}ms"}),
    # breakers
    "flapping": _alias(["flap"], ["backup"]),
    "lonely": _alias(["lone"]),
}


def _timeouts(short: bool) -> dict[str, float]:
    if short:
        return {"connect": 1.0, "first_byte": FIRST_BYTE, "first_token": FIRST_TOKEN, "total": 15.0, "idle": IDLE}
    return {"connect": 1.0, "first_byte": 5.0, "first_token": 5.0, "total": 15.0, "idle": 5.0}


def policy(base_url: str, *, breaker_failures: int = 1000, cooldown: float = 0.0, panic: bool = True) -> str:
    channels: dict[str, Any] = {}
    for name, fmt, short in (("oa", "openai", True), ("an", "anthropic", True), ("patient", "openai", False)):
        served = {public: m.upstream for public, m in MODELS.items() if m.channel == name}
        channels[name] = {
            "format": fmt,
            "base_url": base_url,
            "api_key": "${FAKE_KEY}",
            "models": served,
            "timeout": _timeouts(short),
        }
    models: dict[str, Any] = {}
    for public, m in MODELS.items():
        spec: dict[str, Any] = {"price": {"input": m.price[0], "output": m.price[1]}, "context_window": m.window}
        if m.prefill:
            spec["capabilities"] = ["prefill"]
        if m.buffer is not None:
            spec["stream_buffer"] = m.buffer
        models[public] = spec
    document = {
        "channels": channels,
        "models": models,
        "aliases": ALIASES,
        "retry": {
            "on": [429, 500, 502, 503, 504, 529, "timeout", "connect"],
            "attempts": 2,
            "backoff": {"base": BACKOFF_BASE, "max": 1.0},
            "max_retry_after": MAX_RETRY_AFTER,
        },
        "breaker": {"failures": breaker_failures, "cooldown": cooldown, "panic": panic},
        "groups": {"default": {"models": ["*"]}},
    }
    return tomli_w.dumps(document)
