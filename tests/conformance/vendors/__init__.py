"""Vendor fakes, one per upstream format: recorded replies and request readers."""

from __future__ import annotations

from tests.conformance.vendors.anthropic import AnthropicVendor
from tests.conformance.vendors.base import Vendor

__all__ = ["Vendor", "all_vendors"]
from tests.conformance.vendors.gemini import GeminiVendor
from tests.conformance.vendors.openai_chat import OpenAIChatVendor
from tests.conformance.vendors.openai_responses import OpenAIResponsesVendor


def all_vendors() -> dict[str, Vendor]:
    """Upstream format -> its vendor fake."""
    vendors: list[Vendor] = [OpenAIChatVendor(), OpenAIResponsesVendor(), AnthropicVendor(), GeminiVendor()]
    return {v.format: v for v in vendors}
