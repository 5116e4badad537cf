"""Image requests on a Gemini image model: the ``generateContent`` request asking for the
IMAGE modality, its answer's ``inlineData``, and what Gemini cannot do refused by name.
Shapes follow Gemini's image-generation guide (ai.google.dev/gemini-api/docs/image-generation)."""

from __future__ import annotations

import base64

import orjson
import pytest

from engine.errors import UnsupportedFeature, UpstreamError
from engine.media.canonical import GeneratedImage, ImageFile, ImageRequest
from providers.base import Endpoint
from providers.demo.png import png
from providers.gemini.images import aspect_ratio, build_image_request, decode_image_response

ENDPOINT = Endpoint("gem", "gemini", "https://gl.example/v1beta", "g-key", "gemini-2.5-flash-image")
PICTURE = png(2, 2, b"g")


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", "1:1"),
        ("1536x1024", "3:2"),
        ("1024x1792", "9:16"),
        ("1920x1080", "16:9"),
        ("1000x999", None),
        ("big", None),
    ],
)
def test_aspect_ratio(size: str, ratio: str | None) -> None:
    assert aspect_ratio(size) == ratio


def test_an_edit_sends_images_inline_then_the_prompt() -> None:
    request = ImageRequest("pub", "make it blue", size="1024x1024", images=[ImageFile(PICTURE)])
    built = build_image_request(request, ENDPOINT)
    assert built.url == "https://gl.example/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert built.headers["x-goog-api-key"] == "g-key"
    assert orjson.loads(built.body) == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PICTURE).decode()}},
                    {"text": "make it blue"},
                ],
            }
        ],
        "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "1:1"}},
    }


def test_what_gemini_cannot_do_is_refused_by_name() -> None:
    request = ImageRequest(
        "pub", "x", n=2, quality="high", size="1000x999", mask=ImageFile(PICTURE), extras={"style": "vivid"}
    )
    with pytest.raises(UnsupportedFeature) as caught:
        build_image_request(request, ENDPOINT)
    assert caught.value.features == ["style", "n (more than 1)", "mask", "quality", "size 1000x999"]


def test_answer_images_and_usage() -> None:
    body = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Here is your image"},
                        {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PICTURE).decode()}},
                    ]
                }
            }
        ],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 1290},
    }
    result = decode_image_response(orjson.dumps(body))
    assert result.images == [GeneratedImage(PICTURE, "image/png")]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (7, 1290)


def test_an_answer_without_an_image_is_a_refusal_quoting_the_text() -> None:
    body = {"candidates": [{"content": {"parts": [{"text": "I can't draw that."}]}}]}
    with pytest.raises(UpstreamError) as caught:
        decode_image_response(orjson.dumps(body))
    assert caught.value.failure == "content_filter" and "I can't draw that." in caught.value.message
