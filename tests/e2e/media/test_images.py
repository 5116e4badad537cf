"""``/v1/images/generations`` and ``/v1/images/edits`` end to end: the official OpenAI SDK
against the real gateway, with an OpenAI-format and a Gemini-format fake upstream that
record what they received, the demo channel's PNGs, ``url`` answers served then expired,
and the image body limit enforced before a multipart body is read whole."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from providers.demo.png import png, png_size
from providers.multipart import parse_form
from tests.e2e.conftest import FAKE_KEY, StartGateway
from tests.e2e.media.media_policy import media_policy
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Json, Status

PICTURE = png(8, 4, b"upstream picture")
IMAGE_LIMIT = 200_000


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, oai: FakeUpstream, gem: FakeUpstream) -> GatewayProcess:
    env = {"TURNOUT_IMAGE_BODY_LIMIT": str(IMAGE_LIMIT), "TURNOUT_IMAGE_URL_TTL": "2"}
    return launch(media_policy(oai, gem), env)


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_the_demo_model_draws_a_valid_png(client: openai.OpenAI) -> None:
    result = client.images.generate(model="demo-image", prompt="a lighthouse", size="64x64", n=2)
    assert result.data is not None and len(result.data) == 2
    pictures = [base64.b64decode(item.b64_json or "") for item in result.data]
    assert [png_size(p) for p in pictures] == [(64, 64), (64, 64)]
    assert pictures[0] != pictures[1]


def test_generation_through_an_openai_upstream(client: openai.OpenAI, oai: FakeUpstream) -> None:
    answer = {"created": 1700000000, "data": [{"b64_json": _b64(PICTURE)}], "usage": {"input_tokens": 9}}
    oai.script("gpt-image-1", Json(body=answer))
    result = client.images.generate(
        model="oai-image", prompt="a red bicycle", size="1024x1024", quality="high", background="transparent"
    )
    assert result.data is not None and base64.b64decode(result.data[0].b64_json or "") == PICTURE
    assert result.created == 1700000000
    (sent,) = oai.requests
    assert sent.path == "/v1/images/generations"
    assert sent.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert sent.json == {
        "model": "gpt-image-1",
        "prompt": "a red bicycle",
        "n": 1,
        "response_format": "b64_json",
        "size": "1024x1024",
        "quality": "high",
        "background": "transparent",
    }


def test_edit_sends_every_image_and_the_mask_as_multipart(client: openai.OpenAI, oai: FakeUpstream) -> None:
    oai.script(None, Json(body={"created": 1, "data": [{"b64_json": _b64(PICTURE)}]}))
    first, second, mask = png(4, 4, b"one"), png(4, 4, b"two"), png(4, 4, b"mask")
    result = client.images.edit(
        model="oai-image",
        image=[("one.png", first, "image/png"), ("two.png", second, "image/png")],
        mask=("mask.png", mask, "image/png"),
        prompt="put them together",
        size="1024x1024",
        n=1,
    )
    assert result.data is not None and base64.b64decode(result.data[0].b64_json or "") == PICTURE
    (sent,) = oai.requests
    assert sent.path == "/v1/images/edits"
    fields = parse_form(sent.body, sent.headers["content-type"])
    texts = {f.name: f.text for f in fields if f.filename is None}
    assert texts == {
        "model": "gpt-image-1",
        "prompt": "put them together",
        "n": "1",
        "response_format": "b64_json",
        "size": "1024x1024",
    }
    files = [(f.name, f.filename, f.content_type, f.data) for f in fields if f.filename is not None]
    assert files == [
        ("image[]", "one.png", "image/png", first),
        ("image[]", "two.png", "image/png", second),
        ("mask", "mask.png", "image/png", mask),
    ]


def test_generation_through_a_gemini_image_model(client: openai.OpenAI, gem: FakeUpstream) -> None:
    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"inlineData": {"mimeType": "image/png", "data": _b64(PICTURE)}}]}}
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1290},
    }
    gem.script("gemini-2.5-flash-image", Json(body=answer))
    result = client.images.generate(model="gem-image", prompt="a kite", size="1536x1024")
    assert result.data is not None and base64.b64decode(result.data[0].b64_json or "") == PICTURE
    (sent,) = gem.requests
    assert sent.path == "/v1beta/models/gemini-2.5-flash-image:generateContent"
    assert sent.headers["x-goog-api-key"] == FAKE_KEY
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "a kite"}]}],
        "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "3:2"}},
    }


def test_an_edit_on_gemini_sends_the_images_inline(client: openai.OpenAI, gem: FakeUpstream) -> None:
    answer = {
        "candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": _b64(PICTURE)}}]}}]
    }
    gem.script("gemini-2.5-flash-image", Json(body=answer))
    source = png(4, 4, b"source")
    client.images.edit(model="gem-image", image=("in.png", source, "image/png"), prompt="make it blue")
    parts = gem.requests[0].json["contents"][0]["parts"]
    assert parts == [{"inlineData": {"mimeType": "image/png", "data": _b64(source)}}, {"text": "make it blue"}]


def test_what_gemini_cannot_do_falls_back_or_is_refused(
    client: openai.OpenAI, oai: FakeUpstream, gem: FakeUpstream
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gem-image", prompt="x", n=2)
    assert "n (more than 1)" in caught.value.message
    with pytest.raises(openai.BadRequestError) as masked:
        client.images.edit(
            model="gem-image",
            image=("a.png", png(2, 2, b"a"), "image/png"),
            mask=("m.png", png(2, 2, b"m"), "image/png"),
            prompt="x",
        )
    assert "mask" in masked.value.message  # never dropped silently
    oai.script(None, Status(500), Status(500))  # a multipart body names no model: the default queue
    with pytest.raises(openai.InternalServerError):  # the primary failed; the fallback cannot take a mask
        client.images.edit(
            model="draw",
            image=("a.png", png(2, 2, b"a"), "image/png"),
            mask=("m.png", png(2, 2, b"m"), "image/png"),
            prompt="x",
        )
    assert len(oai.requests) == 2
    assert gem.requests == []


def test_an_alias_falls_back_from_openai_to_gemini(client: openai.OpenAI, oai: FakeUpstream, gem: FakeUpstream) -> None:
    oai.script("gpt-image-1", Status(500), Status(500))
    gem.script(
        "gemini-2.5-flash-image",
        Json(
            body={
                "candidates": [
                    {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": _b64(PICTURE)}}]}}
                ]
            }
        ),
    )
    raw = client.images.with_raw_response.generate(model="draw", prompt="a boat")
    assert "model=gem-image" in raw.headers["x-turnout-route"]
    assert base64.b64decode(raw.parse().data[0].b64_json or "") == PICTURE  # type: ignore[index]


def test_a_url_answer_is_served_then_expires(client: openai.OpenAI, gateway: GatewayProcess) -> None:
    result = client.images.generate(model="demo-image", prompt="a red door", size="64x64", response_format="url")
    assert result.data is not None
    url = result.data[0].url or ""
    assert url.startswith(f"{gateway.base_url}/v1/images/files/")
    name = url.rsplit("/", 1)[1]
    assert len(name.split(".")[0]) == 43  # 32 random bytes, URL-safe: never a guessable path
    served = httpx.get(url)
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert png_size(served.content) == (64, 64)
    assert httpx.get(url.replace(name[:5], "AAAAA")).status_code == 404
    deadline = time.monotonic() + 10  # TURNOUT_IMAGE_URL_TTL=2 in this gateway
    while httpx.get(url).status_code == 200:
        assert time.monotonic() < deadline, "the url was still served long after its TTL"
        time.sleep(0.2)
    gone = httpx.get(url)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "image_not_found"


def _raw_post(gateway: GatewayProcess, head: str, body_part: bytes) -> bytes:
    """Send the head and a first part of the body, never the rest; what the gateway answers."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1") + body_part)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_a_multipart_body_over_the_limit_is_a_413_before_it_is_read_whole(gateway: GatewayProcess) -> None:
    boundary = "b0undary"
    start = f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n'.encode()
    declared = (
        "POST /v1/images/edits HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {50 * IMAGE_LIMIT}\r\n\r\n"
    )
    answer = _raw_post(gateway, declared, start + b"\x00" * 1000)  # 1 KB of a declared 10 MB
    assert answer.startswith(b"HTTP/1.1 413")
    chunked = (
        "POST /v1/images/edits HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"\x00" * 100_000
    chunks = b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(3))  # 300 KB, no last chunk
    answer = _raw_post(gateway, chunked, f"{len(start):x}\r\n".encode() + start + b"\r\n" + chunks)
    assert answer.startswith(b"HTTP/1.1 413")


def test_bad_requests_name_the_field(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as no_prompt:
        client.images.generate(model="demo-image", prompt="")
    assert no_prompt.value.param == "prompt"
    with pytest.raises(openai.BadRequestError) as too_many:
        client.images.generate(model="demo-image", prompt="x", n=11)
    assert too_many.value.param == "n"
    with pytest.raises(openai.BadRequestError) as not_image:
        client.images.edit(model="demo-image", image=("a.txt", b"hello", "text/plain"), prompt="x")
    assert not_image.value.param == "image"
