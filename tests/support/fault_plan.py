"""The fault grammar of ``FaultUpstream``: a model name says how the fake misbehaves.

A model name is ``<name>`` or ``<name>+<item>+<item>...``; ``<name>`` alone (or ``+ok``)
answers normally. Items, with durations written ``2``/``2s``/``1.5s``/``300ms`` (seconds
unless ``ms``) and ``N`` a count:

==================  ======================================================================
``429``             HTTP 429 in the vendor's error body, no ``Retry-After`` (any 4xx/5xx
                    status works the same: ``500``, ``503``, ``529``, ``401``...)
``429-ra2``         the same with ``Retry-After: 2``
``reset``           the TCP connection is reset before any response header
``hang``            the request is read and never answered (until the client leaves)
``lateDUR``         nothing for DUR, then a normal answer (slow first byte)
``slowDUR``         headers and the non-token preamble at once (role-only delta /
                    ``message_start`` + ``content_block_start`` + ``ping``), then keep-alives
                    (SSE comments / ``ping`` events), the first token only after DUR
``cutN``            after N content frames the connection is dropped: no finish, no
                    terminator, the chunked body never ends
``stallN``          after N content frames the connection stays open and silent
``badN``            one unparseable SSE event after N content frames; the rest is healthy
``errorN``          an in-band error event after N content frames, then the body ends
``noterm``          finish reason and usage are sent, the terminator (``[DONE]`` /
                    ``message_stop``) is not; the body ends cleanly
``context``         400 context-length error (the vendor's real body)
``filter``          400 content-filter error (Azure OpenAI's / Anthropic's real body)
``refusal``         200 with the vendor's refusal (OpenAI ``refusal`` text; Anthropic
                    ``stop_reason: "refusal"``)
``noprefill``       400 when the last message is from the assistant (the vendor's body for
                    "this model does not support prefill"); otherwise a normal answer
``flap``            503 on the 1st, 3rd, 5th... request, normal on the others (= ``503odd``)
``downDUR``         503 from the model's first request until DUR later (= ``503forDUR``)
``delayDUR``        DUR between frames of a stream (e.g. ``delay5ms``)
``wordsN``          the answer is ``w1 w2 ... wN`` (default 10)
``tool``            the answer is a tool call whose arguments are ``{"text": "w1 ... wN"}``
==================  ======================================================================

A fault may end in a condition on the model's request count (counted per full model
name, 1-based): ``once`` (the first request only), ``xN`` (the first N), ``@N`` (only the
Nth), ``odd`` (1st, 3rd, ...), ``forDUR`` (until DUR after the model's first request).
``500once`` is "500 once, then fine"; ``cut3x2`` cuts the first two streams.

For each request the first matching answer-level fault (a status, ``reset``, ``hang``,
``context``, ``filter``, ``refusal``, ``noprefill``) decides the reply; the stream-level
ones (``late``, ``slow``, ``cut``, ``stall``, ``bad``, ``error``, ``noterm``) that match
all apply to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

DEFAULT_WORDS = 10
WhenKind = Literal["always", "first", "nth", "odd", "for"]

_DUR = r"\d+(?:\.\d+)?(?:ms|s)?"
_ITEM = re.compile(
    rf"""^(?:
        (?P<word>ok|reset|hang|noterm|context|filter|refusal|noprefill|flap|tool)
      | (?P<status>[45]\d\d)(?:-ra(?P<ra>\d+(?:\.\d+)?))?
      | (?P<timed>late|slow|down|delay)(?P<dur>{_DUR})
      | (?P<framed>cut|stall|bad|error)(?P<frames>\d+)
      | words(?P<words>\d+)
    )(?P<when>once|x\d+|@\d+|odd|for{_DUR})?$""",
    re.VERBOSE,
)
ANSWER_KINDS = frozenset({"status", "reset", "hang", "context", "filter", "refusal", "noprefill"})
STREAM_KINDS = frozenset({"late", "slow", "cut", "stall", "bad", "error", "noterm"})
_MODIFIERS = frozenset({"delay", "words", "tool"})
_UNCONDITIONAL = _MODIFIERS | {"ok", "flap", "down"}  # items that take no condition


class FaultSyntaxError(ValueError):
    pass


def seconds(text: str) -> float:
    """``2`` / ``2s`` / ``1.5s`` -> seconds; ``300ms`` -> 0.3."""
    if text.endswith("ms"):
        return float(text[:-2]) / 1000
    return float(text.removesuffix("s"))


@dataclass(frozen=True, slots=True)
class When:
    kind: WhenKind = "always"
    n: int = 0
    seconds: float = 0.0

    def matches(self, index: int, since_first: float) -> bool:
        """``index``: the request's 1-based count for its model; ``since_first``: seconds
        since that model's first request."""
        if self.kind == "first":
            return index <= self.n
        if self.kind == "nth":
            return index == self.n
        if self.kind == "odd":
            return index % 2 == 1
        if self.kind == "for":
            return since_first < self.seconds
        return True


@dataclass(frozen=True, slots=True)
class Fault:
    kind: str  # an ANSWER_KINDS or STREAM_KINDS member
    token: str  # as written in the model name
    when: When = When()
    status: int = 0
    retry_after: str | None = None
    frames: int = 0  # cut / stall / bad / error: after this many content frames
    seconds: float = 0.0  # late / slow


@dataclass(frozen=True, slots=True)
class Behaviour:
    """What one request gets: an answer-level fault (None: a normal answer) and the
    stream-level faults that apply to it."""

    answer: Fault | None = None
    stream: tuple[Fault, ...] = ()

    @property
    def label(self) -> str:
        tokens = ([self.answer.token] if self.answer else []) + [f.token for f in self.stream]
        return "+".join(tokens) or "ok"

    def find(self, kind: str) -> Fault | None:
        return next((f for f in self.stream if f.kind == kind), None)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    name: str
    faults: tuple[Fault, ...] = ()
    delay_s: float = 0.0
    words: int = DEFAULT_WORDS
    tool: bool = False
    tokens: tuple[str, ...] = field(default=())

    def behaviour(self, index: int, since_first: float, has_prefill: bool) -> Behaviour:
        answer: Fault | None = None
        stream: list[Fault] = []
        for fault in self.faults:
            if not fault.when.matches(index, since_first):
                continue
            if fault.kind in ANSWER_KINDS:
                if answer is None and (fault.kind != "noprefill" or has_prefill):
                    answer = fault
            elif all(f.kind != fault.kind for f in stream):
                stream.append(fault)
        if answer is not None and answer.kind != "refusal":
            return Behaviour(answer)
        return Behaviour(answer, tuple(stream))


def parse_model(model: str) -> FaultPlan:
    """The plan a model name spells; ``FaultSyntaxError`` names any item it cannot read."""
    name, *items = model.split("+")
    faults: list[Fault] = []
    delay_s, words, tool = 0.0, DEFAULT_WORDS, False
    for item in items:
        match = _ITEM.match(item)
        if match is None:
            raise FaultSyntaxError(f"unknown fault {item!r} in model {model!r} (see tests/support/fault_plan.py)")
        kind = _kind(match)
        when = _when(match["when"])
        if kind in _UNCONDITIONAL and when.kind != "always":
            raise FaultSyntaxError(f"{item!r} in model {model!r} takes no condition")
        if kind == "delay":
            delay_s = seconds(match["dur"])
        elif kind == "words":
            words = int(match["words"])
        elif kind == "tool":
            tool = True
        elif kind != "ok":
            faults.append(_fault(kind, item, match, when))
    return FaultPlan(name, tuple(faults), delay_s, words, tool, tuple(items))


def _kind(match: re.Match[str]) -> str:
    if match["word"]:
        return str(match["word"])
    if match["status"]:
        return "status"
    if match["timed"]:
        return str(match["timed"])
    if match["framed"]:
        return str(match["framed"])
    return "words"


def _when(text: str | None) -> When:
    if not text:
        return When()
    if text == "once":
        return When("first", 1)
    if text == "odd":
        return When("odd")
    if text.startswith("x"):
        return When("first", int(text[1:]))
    if text.startswith("@"):
        return When("nth", int(text[1:]))
    return When("for", seconds=seconds(text[3:]))


def _fault(kind: str, item: str, match: re.Match[str], when: When) -> Fault:
    if kind == "flap":
        return Fault("status", item, When("odd"), status=503)
    if kind == "down":
        return Fault("status", item, When("for", seconds=seconds(match["dur"])), status=503)
    if kind == "status":
        return Fault("status", item, when, status=int(match["status"]), retry_after=match["ra"])
    if kind in ("late", "slow"):
        return Fault(kind, item, when, seconds=seconds(match["dur"]))
    if kind in ("cut", "stall", "bad", "error"):
        return Fault(kind, item, when, frames=int(match["frames"]))
    return Fault(kind, item, when)
