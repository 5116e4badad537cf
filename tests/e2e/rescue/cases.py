"""What the rescue tests share: the client/format matrix, the names the fake receives, and
the checks of an answer that came through whole."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.e2e.rescue.clients import Got, clean_end
from tests.e2e.rescue.policy import ALIASES, MODELS
from tests.support.fault_text import expected_text
from tests.support.fault_upstream import FaultRequest, FaultUpstream

FULL = expected_text()  # "w1 w2 ... w10": the whole answer
STOP = {"openai": "stop", "anthropic": "end_turn"}


@dataclass(frozen=True, slots=True)
class Case:
    client: str  # "openai" (chat completions) | "anthropic" (Messages)
    stream: bool
    alias: str


def matrix(oa_alias: str, an_alias: str, *, streams_only: bool = False) -> list[object]:
    """Both clients over both upstream formats: ``oa_alias`` routes to an OpenAI upstream
    first, ``an_alias`` to an Anthropic one. Each client is seen streamed and not, on its
    own format and translated; with ``streams_only``, all four pairs streamed."""
    combos = [("openai", False, oa_alias), ("openai", True, an_alias)]
    combos += [("anthropic", False, oa_alias), ("anthropic", True, an_alias)]
    if streams_only:
        combos = [(client, True, alias) for client in ("openai", "anthropic") for alias in (oa_alias, an_alias)]
    out: list[object] = []
    for client, stream, alias in combos:
        up = "openai" if MODELS[ALIASES[alias]["candidates"][0]].channel == "oa" else "anthropic"
        name = f"{client}-client-{'stream' if stream else 'whole'}-{up}-upstream"
        out.append(pytest.param(Case(client, stream, alias), id=name))
    return out


def upstream(public: str) -> str:
    """The fault model name the fake receives for a public model."""
    return MODELS[public].upstream


def candidates(alias: str) -> list[str]:
    """An alias's public models in plan order (candidates, then fallbacks)."""
    spec = ALIASES[alias]
    return [*spec["candidates"], *spec.get("fallback", [])]


def attempt(public: str, why: str) -> str:
    """One ``tried=`` entry: ``model@channel:why``."""
    return f"{public}@{MODELS[public].channel}:{why}"


def failures(got: Got) -> list[str]:
    """The ``tried=`` entries of the attempts that did not serve (a non-streamed answer's
    list also names the attempt that served, as ``...:ok``)."""
    return [entry for entry in got.tried() if not entry.endswith(":ok")]


def assert_whole(got: Got, case: Case, served: str, text: str = FULL) -> None:
    """The client got ``text`` whole from ``served`` and the answer ended as its format ends
    a complete one (a stream: no error event, a clean terminator)."""
    assert got.error is None, got.error
    assert got.text == text
    assert got.finish == STOP[case.client]
    assert got.model == served
    if case.stream:
        assert clean_end(got, case.client), got.raw[-300:]


# The fake stamps ``ended_at`` after its reply left and ``received_at`` once a request arrived,
# in its own thread; the gateway starts a wait or a deadline a few ms before those stamps on a
# busy machine (seen: 3-11 ms at load 7-10). A wait or deadline is asserted up to this slack
# (a retry without any wait, or a deadline not honoured, is off by far more).
SCHEDULING_SLACK = 0.05


def pause(before: FaultRequest, after: FaultRequest) -> float:
    """Seconds from the end of ``before``'s reply to the arrival of ``after`` at the fake
    (a backoff or a ``Retry-After`` the gateway waited)."""
    assert before.ended_at is not None, before
    return after.received_at - before.ended_at


def seen(fault: FaultUpstream, public: str) -> list[FaultRequest]:
    """The requests the fake got for a public model, in order, once all of them are over."""
    return [r for r in fault.wait_idle() if r.model == upstream(public)]
