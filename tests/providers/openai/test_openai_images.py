"""OpenAI's images wire both ways (generations as JSON, edits as multipart). Shapes follow
OpenAI's API reference (platform.openai.com/docs/api-reference/images)."""

from __future__ import annotations

import base64

import orjson
import pytest

from engine.canonical import Usage
from engine.errors import BadRequest, UpstreamError
from engine.media.canonical import GeneratedImage, ImageFile, ImageRequest, ImageResult
from providers.base import Endpoint
from providers.demo.png import png
from providers.multipart import FormField, parse_form
from providers.openai.images import (
    build_image_request,
    decode_edit,
    decode_generation,
    decode_image_response,
    encode_result,
)

ENDPOINT = Endpoint("oai", "openai", "https://api.example/v1", "sk-x", "gpt-image-1")
PICTURE = png(2, 2, b"p")


def test_generation_decodes_options_and_passes_openai_extras() -> None:
    body = {
        "model": "pub",
        "prompt": "A cute baby sea otter",
        "n": 2,
        "size": "1024x1024",
        "quality": "high",
        "response_format": "url",
        "background": "transparent",
        "user": "u",
    }
    request = decode_generation(body)
    assert (request.n, request.size, request.quality, request.response_format) == (2, "1024x1024", "high", "url")
    assert request.extras == {"background": "transparent", "user": "u"}
    assert not request.edit


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "prompt": "x", "n": 0}, "n"),
        ({"model": "m", "prompt": "x", "response_format": "png"}, "response_format"),
        ({"model": "m", "prompt": "x", "colour": "red"}, "colour"),
        ({"model": "m", "prompt": "x", "stream": True}, "stream"),
        ({"model": "m", "prompt": ""}, "prompt"),
    ],
)
def test_bad_generations_name_the_field(body: dict[str, object], param: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_generation(body)
    assert caught.value.param == param


def test_edit_decodes_images_mask_and_text_fields() -> None:
    fields = [
        FormField("model", b"pub"),
        FormField("prompt", b"add a hat"),
        FormField("n", b"2"),
        FormField("image[]", PICTURE, "a.png", "image/png"),
        FormField("image[]", PICTURE, "b.png", "application/octet-stream"),  # sniffed
        FormField("mask", PICTURE, "m.png", "image/png"),
    ]
    request = decode_edit(fields)
    assert request.edit and request.n == 2 and request.prompt == "add a hat"
    assert [(i.filename, i.media_type) for i in request.images] == [("a.png", "image/png"), ("b.png", "image/png")]
    assert request.mask == ImageFile(PICTURE, "image/png", "m.png")
    with pytest.raises(BadRequest) as caught:
        decode_edit(fields[:3])
    assert caught.value.param == "image"


def test_answer_as_base64_or_urls() -> None:
    result = ImageResult(7, [GeneratedImage(PICTURE, revised_prompt="otter")], Usage(input_tokens=3, output_tokens=4))
    request = ImageRequest("pub", "x")
    as_b64 = orjson.loads(encode_result(result, request, None))
    assert as_b64 == {
        "created": 7,
        "data": [{"b64_json": base64.b64encode(PICTURE).decode(), "revised_prompt": "otter"}],
        "usage": {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
    }
    as_url = orjson.loads(encode_result(result, request, ["https://gw/v1/images/files/abc.png"]))
    assert as_url["data"] == [{"url": "https://gw/v1/images/files/abc.png", "revised_prompt": "otter"}]


def test_upstream_generation_and_edit_requests() -> None:
    generation = build_image_request(ImageRequest("pub", "otter", n=1, size="1024x1024"), ENDPOINT)
    assert generation.url == "https://api.example/v1/images/generations"
    assert orjson.loads(generation.body) == {
        "model": "gpt-image-1",
        "prompt": "otter",
        "n": 1,
        "response_format": "b64_json",
        "size": "1024x1024",
    }
    edit = build_image_request(ImageRequest("pub", "hat", images=[ImageFile(PICTURE)]), ENDPOINT)
    assert edit.url == "https://api.example/v1/images/edits"
    fields = parse_form(edit.body, edit.headers["content-type"])
    assert [(f.name, f.data if f.filename else f.text) for f in fields] == [
        ("model", "gpt-image-1"),
        ("prompt", "hat"),
        ("n", "1"),
        ("response_format", "b64_json"),
        ("image", PICTURE),
    ]
    assert edit.headers["authorization"] == "Bearer sk-x"


def test_upstream_answer() -> None:
    body = {
        "created": 1713833628,
        "data": [{"b64_json": base64.b64encode(PICTURE).decode()}],
        "usage": {"input_tokens": 50, "output_tokens": 4160},
    }
    result = decode_image_response(orjson.dumps(body))
    assert result.created == 1713833628 and result.images == [GeneratedImage(PICTURE, "image/png")]
    assert (result.usage.input_tokens, result.usage.output_tokens) == (50, 4160)
    with pytest.raises(UpstreamError, match="no b64_json"):
        decode_image_response(orjson.dumps({"data": [{"url": "https://x"}]}))
