"""One (client format, upstream format) pair of the matrix, ready to drive."""

from __future__ import annotations

from dataclasses import dataclass

from tests.conformance.clients import ClosableDriver
from tests.conformance.vendors import Vendor
from tests.support.fake_upstream import FakeUpstream


def public_model(upstream: str) -> str:
    """The public model id the conformance policy routes to the ``upstream`` format."""
    return f"via-{upstream}"


@dataclass(frozen=True, slots=True)
class Case:
    client: ClosableDriver
    vendor: Vendor
    fake: FakeUpstream  # the upstream's fake, reset for this test
    model: str  # the public model routed to this upstream

    @property
    def pair(self) -> tuple[str, str]:
        return self.client.format, self.vendor.format
