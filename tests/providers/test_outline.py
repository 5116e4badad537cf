"""The routing outline of a body the canonical model cannot carry: what routing reads."""

from __future__ import annotations

import pytest

from engine.errors import BadRequest, NoCanonicalForm
from engine.routing.facts import request_facts
from providers.outline import outline_request

REFUSAL = NoCanonicalForm("messages[0].content[0]: content block type 'document' is not supported")
PDF = {"type": "base64", "media_type": "application/pdf", "data": "QUJD" * 500}


def test_an_anthropic_body_with_a_document_outlines_its_routing_facts() -> None:
    body = {
        "model": "smart-code",
        "max_tokens": 300,
        "stream": True,
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "document", "source": PDF},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
                    {"type": "text", "text": "Summarise the attached report."},
                ],
            }
        ],
    }
    request = outline_request("anthropic", body, None, None, REFUSAL)
    facts = request_facts(request, {}, frozenset())
    assert request.opaque is REFUSAL
    assert (facts.model, facts.stream, facts.max_tokens) == ("smart-code", True, 300)
    assert facts.has_tools and facts.has_images
    assert "Summarise the attached report." in facts.text
    assert "QUJD" not in facts.text  # media bytes are not text
    assert facts.estimated_tokens < 2000  # ... and do not inflate the estimate


def test_gemini_takes_model_and_stream_from_the_path_and_counts_declarations() -> None:
    body = {
        "contents": [
            {"role": "user", "parts": [{"fileData": {"mimeType": "application/pdf", "fileUri": "gs://b/r.pdf"}}]}
        ],
        "tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}, {"googleSearch": {}}],
        "generationConfig": {"maxOutputTokens": 64},
    }
    request = outline_request("gemini", body, "gemini-pro", False, REFUSAL)
    assert (request.model, request.stream, request.max_tokens, len(request.tools)) == ("gemini-pro", False, 64, 3)
    assert not request_facts(request, {}, frozenset()).has_images  # a PDF is not an image


def test_openai_chat_reads_its_output_cap_and_usage_option() -> None:
    body = {
        "model": "auto",
        "max_completion_tokens": 99,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}
        ],
    }
    request = outline_request("openai", body, None, None, REFUSAL)
    assert (request.max_tokens, request.include_usage, request.stream) == (99, True, True)


def test_a_body_without_a_model_is_still_a_bad_request() -> None:
    with pytest.raises(BadRequest, match="model"):
        outline_request("anthropic", {"messages": []}, None, None, REFUSAL)
