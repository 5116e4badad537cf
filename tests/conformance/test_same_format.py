"""Same format on both sides: a feature with no canonical form still works, passed through.

Each client sends, with its official SDK, content the gateway cannot translate (an OpenAI
``input_audio`` part, a Responses ``input_file`` item, an Anthropic ``document`` block, a
Gemini PDF ``fileData`` part). Routed to an upstream of its own format, the body reaches it
as the SDK sent it, model aside, and the answer comes back. Routed to another format, it is
a 400 naming the feature, in the client's own error shape: never a silently dropped part.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors
from google.genai import types

from tests.conformance.case import public_model
from tests.conformance.clients import ClosableDriver
from tests.conformance.vendors import Vendor
from tests.support.fake_upstream import FakeUpstream

AUDIO = {"data": "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=", "format": "wav"}
PDF_URI = "gs://turnout-tests/report.pdf"
DOCUMENT = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Q3 revenue: 12M."}}
FILE_ITEM = {"type": "input_file", "file_id": "file-abc123"}


def _openai(driver: ClosableDriver, model: str) -> str:
    sdk: openai.OpenAI = driver.sdk  # type: ignore[attr-defined]
    content: Any = [{"type": "text", "text": "Transcribe this."}, {"type": "input_audio", "input_audio": AUDIO}]
    completion = sdk.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    return completion.choices[0].message.content or ""


def _responses(driver: ClosableDriver, model: str) -> str:
    sdk: openai.OpenAI = driver.sdk  # type: ignore[attr-defined]
    content: Any = [{"type": "input_text", "text": "Summarise this file."}, FILE_ITEM]
    response = sdk.responses.create(model=model, input=[{"role": "user", "content": content}])
    return response.output_text


def _anthropic(driver: ClosableDriver, model: str) -> str:
    sdk: anthropic.Anthropic = driver.sdk  # type: ignore[attr-defined]
    content: Any = [DOCUMENT, {"type": "text", "text": "What was Q3 revenue?"}]
    message = sdk.messages.create(model=model, max_tokens=200, messages=[{"role": "user", "content": content}])
    return "".join(block.text for block in message.content if block.type == "text")


def _gemini(driver: ClosableDriver, model: str) -> str:
    sdk = driver.sdk  # type: ignore[attr-defined]
    pdf = types.Part.from_uri(file_uri=PDF_URI, mime_type="application/pdf")
    parts = [pdf, types.Part.from_text(text="Summarise.")]
    response = sdk.models.generate_content(model=model, contents=[types.Content(role="user", parts=parts)])
    return str(response.text or "")


def _received_opaque_part(fmt: str, body: dict[str, Any]) -> bool:
    if fmt == "openai":
        return {"type": "input_audio", "input_audio": AUDIO} in body["messages"][0]["content"]
    if fmt == "openai-responses":
        return FILE_ITEM in body["input"][0]["content"]
    if fmt == "anthropic":
        return DOCUMENT in body["messages"][0]["content"]
    parts = body["contents"][0]["parts"]
    files = [p.get("file_data", p.get("fileData")) for p in parts if "file_data" in p or "fileData" in p]
    return any(f.get("file_uri", f.get("fileUri")) == PDF_URI for f in files)


SEND: dict[str, Callable[[ClosableDriver, str], str]] = {
    "openai": _openai,
    "openai-responses": _responses,
    "anthropic": _anthropic,
    "gemini": _gemini,
}
CLIENT_ERRORS: dict[str, type[BaseException]] = {
    "openai": openai.BadRequestError,
    "openai-responses": openai.BadRequestError,
    "anthropic": anthropic.BadRequestError,
    "gemini": genai_errors.ClientError,
}
FEATURE = {
    "openai": "input_audio",
    "openai-responses": "input_file",
    "anthropic": "document",
    "gemini": "application/pdf",
}


@pytest.mark.parametrize("fmt", list(SEND))
def test_a_feature_without_canonical_form_passes_through_to_its_own_format(
    fmt: str, drivers: dict[str, ClosableDriver], vendors: dict[str, Vendor], fakes: dict[str, FakeUpstream]
) -> None:
    fake, vendor = fakes[fmt], vendors[fmt]
    fake.reset()
    scripted = vendor.text(stream=False)
    fake.script(vendor.upstream_model, scripted.reply)
    answer = SEND[fmt](drivers[fmt], public_model(fmt))
    assert answer == scripted.expected.text
    [received] = fake.requests
    assert _received_opaque_part(fmt, received.json), received.json


@pytest.mark.parametrize("fmt", list(SEND))
def test_the_same_feature_routed_to_another_format_is_refused_by_name(
    fmt: str, drivers: dict[str, ClosableDriver], fakes: dict[str, FakeUpstream]
) -> None:
    other = "anthropic" if fmt != "anthropic" else "openai"
    fakes[other].reset()
    with pytest.raises(CLIENT_ERRORS[fmt]) as info:
        SEND[fmt](drivers[fmt], public_model(other))
    assert FEATURE[fmt] in str(info.value)
    assert getattr(info.value, "status_code", getattr(info.value, "code", None)) == 400
    assert fakes[other].requests == []  # nothing was sent with the part dropped
