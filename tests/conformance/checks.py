"""Assertions shared by the matrix tests: an SDK answer against what the recording says,
the upstream request the gateway sent, and the clear 400 of an unsupported cell."""

from __future__ import annotations

from tests.conformance.case import Case
from tests.conformance.clients.base import Answer, Turn
from tests.conformance.matrix import unsupported_feature
from tests.conformance.vendors.base import Expected, SeenRequest


def assert_answer(case: Case, answer: Answer, expected: Expected) -> None:
    """Text, tool names and arguments (in order), stop reason and usage as the client
    format must show what the upstream recording says."""
    client = case.client
    assert answer.text == expected.text
    assert [(c.name, c.arguments) for c in answer.calls] == [(c.name, c.arguments) for c in expected.calls]
    assert answer.stop == client.stop_name(expected.stop)
    assert answer.usage == client.usage_view(expected.usage)
    assert answer.model == case.model, "the response must name the public model that served"


def assert_indices(answer: Answer) -> None:
    """Tool calls carry distinct, increasing positions and distinct ids."""
    indices = [c.index for c in answer.calls]
    assert indices == sorted(set(indices)), indices
    ids = [c.id for c in answer.calls if c.id is not None]
    assert len(ids) == len(set(ids)), ids


def sent_upstream(case: Case) -> SeenRequest:
    """The one request the gateway sent the pair's upstream, read in neutral terms."""
    received = case.fake.requests
    assert len(received) == 1, [r.path for r in received]
    assert received[0].model == case.vendor.upstream_model
    return case.vendor.read_request(received[0])


def ask_or_refuse(case: Case, capability: str, turn: Turn, *, stream: bool) -> Answer | None:
    """Ask; for a cell declared unsupported, assert the clear 400 naming the feature (and
    that nothing reached the upstream) and return None."""
    feature = unsupported_feature(case.client.format, case.vendor.format, capability)
    if feature is None:
        return case.client.ask(case.model, turn, stream=stream)
    failure = case.client.fail(case.model, turn, stream=stream)
    assert issubclass(failure.exception, case.client.error_classes(400)), failure
    case.client.check_error_shape(failure, 400)
    assert f"not supported by the routed upstream ({case.vendor.format} format): {feature}" in failure.message
    assert case.fake.requests == [], "an unsupported feature must be refused before any upstream call"
    return None
