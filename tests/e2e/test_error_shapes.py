"""Errors the gateway answers before any routing, each in the shape of the client the path
belongs to, with the right status and type:

* a method a client endpoint does not take is a 405 typed as an invalid request with the
  code ``method_not_allowed`` and an ``Allow`` header: OpenAI's shape on chat completions
  and responses, Anthropic's on /v1/messages, Gemini's on /v1beta;
* ``GET /v1/usage`` and ``/v1/credits`` answer a missing or unknown key in OpenAI's shape,
  like the rest of /v1;
* a request body sent with ``Content-Encoding: gzip`` or ``deflate`` is decoded (the body
  limit counts decoded bytes, as they are inflated: a small compressed bomb is a 413 and
  the worker's memory does not grow by what it would have expanded to); any other
  encoding is a 415 naming it.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import orjson
import pytest

from tests.e2e.conftest import BODY_LIMIT
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.wire_checks import openai_error

CHAT = {"model": "small-model", "messages": [{"role": "user", "content": "squeezed hello"}]}
MESSAGES = {"model": "small-model", "max_tokens": 50, "messages": [{"role": "user", "content": "squeezed hello"}]}
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "squeezed hello"}]}]}


def anthropic_error(response: httpx.Response | httpx2.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = orjson.loads(response.content)
    assert body["type"] == "error" and set(body) == {"type", "error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["message"], str) and error["message"]
    return error


def gemini_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    error: dict[str, Any] = body["error"]
    assert error["code"] == status and isinstance(error["message"], str) and error["message"]
    return error


# ---- 405 ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions", "/v1/responses", "/v1/v1/responses"])
def test_get_on_an_openai_endpoint_is_405_in_openai_shape(core_gateway: GatewayProcess, path: str) -> None:
    response = httpx.get(f"{core_gateway.base_url}{path}")
    error = openai_error(response, 405)
    assert (error["type"], error["code"]) == ("invalid_request_error", "method_not_allowed")
    assert "GET" in error["message"] and "POST" in error["message"]
    assert response.headers["allow"] == "POST"


def test_the_openai_sdk_reads_the_405(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.get("/chat/completions", cast_to=object)
    assert caught.value.status_code == 405
    assert (caught.value.type, caught.value.code) == ("invalid_request_error", "method_not_allowed")


def test_get_on_messages_is_405_in_anthropic_shape(core_gateway: GatewayProcess) -> None:
    with anthropic.Anthropic(base_url=core_gateway.base_url, api_key="unused", max_retries=0) as sdk:
        with pytest.raises(anthropic.APIStatusError) as caught:
            sdk.get("/v1/messages", cast_to=object)
    assert caught.value.status_code == 405
    error = anthropic_error(caught.value.response, 405)
    assert error["type"] == "invalid_request_error"
    assert "GET" in error["message"] and "POST" in error["message"]


def test_get_on_generate_content_is_405_in_gemini_shape(core_gateway: GatewayProcess) -> None:
    response = httpx.get(f"{core_gateway.base_url}/v1beta/models/small-model:generateContent")
    error = gemini_error(response, 405)
    assert error["status"] == "INVALID_ARGUMENT"
    assert {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "method_not_allowed",
        "domain": "turnout",
    } in error["details"]
    assert response.headers["allow"] == "POST"


# ---- self-service endpoints -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/usage", "/credits"])
@pytest.mark.parametrize(("key", "code"), [(None, "missing_api_key"), ("sk-trn-" + "x" * 40, "invalid_api_key")])
def test_selfservice_401_is_openai_shaped(core_gateway: GatewayProcess, path: str, key: str | None, code: str) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    error = openai_error(httpx.get(f"{core_gateway.base_url}/v1{path}", headers=headers), 401)
    assert error == {"message": error["message"], "type": "authentication_error", "param": None, "code": code}
    with openai.OpenAI(base_url=f"{core_gateway.base_url}/v1", api_key=key or "sk-e2e-unknown", max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.get(path, cast_to=object)
    assert caught.value.type == "authentication_error"


# ---- Content-Encoding -----------------------------------------------------------------


def _post(gateway: GatewayProcess, path: str, body: bytes, encoding: str, **headers: str) -> httpx.Response:
    sent = {"content-type": "application/json", "content-encoding": encoding, **headers}
    return httpx.post(f"{gateway.base_url}{path}", content=body, headers=sent, timeout=30)


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data, wbits=-15)),  # raw deflate, as some clients send it
        ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
        ("identity", lambda data: data),
    ],
    ids=["gzip", "x-gzip", "deflate", "raw-deflate", "gzip-then-deflate", "identity"],
)
def test_a_compressed_chat_body_is_decoded(
    core_gateway: GatewayProcess, fake_a: FakeUpstream, encoding: str, encode: Any
) -> None:
    response = _post(core_gateway, "/v1/chat/completions", encode(orjson.dumps(CHAT)), encoding)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "squeezed hello"
    [received] = fake_a.requests
    assert received.json["messages"] == CHAT["messages"]
    assert "content-encoding" not in received.headers  # the upstream gets the body decoded


def test_a_gzip_anthropic_and_gemini_body_is_decoded(core_gateway: GatewayProcess) -> None:
    messages = _post(core_gateway, "/v1/messages", gzip.compress(orjson.dumps(MESSAGES)), "gzip")
    assert messages.status_code == 200, messages.text
    assert messages.json()["content"][0]["text"] == "squeezed hello"
    path = "/v1beta/models/small-model:generateContent"
    generated = _post(core_gateway, path, gzip.compress(orjson.dumps(GEMINI)), "gzip")
    assert generated.status_code == 200, generated.text
    assert generated.json()["candidates"][0]["content"]["parts"][0]["text"] == "squeezed hello"


def test_an_unknown_encoding_is_415_naming_it(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    chat = openai_error(_post(core_gateway, "/v1/chat/completions", b"\x28\xb5\x2f\xfd", "zstd"), 415)
    assert (chat["type"], chat["code"]) == ("invalid_request_error", "unsupported_content_encoding")
    assert "'zstd'" in chat["message"]
    messages = anthropic_error(_post(core_gateway, "/v1/messages", b"\x1b\x00", "br"), 415)
    assert messages["type"] == "invalid_request_error" and "'br'" in messages["message"]
    gemini = gemini_error(_post(core_gateway, "/v1beta/models/small-model:generateContent", b"x", "compress"), 415)
    assert "'compress'" in gemini["message"]
    assert fake_a.requests == []


def test_broken_gzip_is_400(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    packed = gzip.compress(orjson.dumps(CHAT))
    truncated = openai_error(_post(core_gateway, "/v1/chat/completions", packed[: len(packed) // 2], "gzip"), 400)
    assert "truncated" in truncated["message"]
    garbage = openai_error(_post(core_gateway, "/v1/chat/completions", b"not gzip at all", "gzip"), 400)
    assert "not valid gzip" in garbage["message"]
    assert fake_a.requests == []


def _peak_rss_kib(gateway: GatewayProcess) -> int:
    """The high-water resident set of the gateway's worker process (VmHWM)."""
    pid = gateway.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    worker = int(children[0]) if children else pid
    for line in Path(f"/proc/{worker}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def test_a_small_gzip_bomb_is_413_without_being_expanded(core_gateway: GatewayProcess, fake_a: FakeUpstream) -> None:
    expanded = 128 * 1024 * 1024  # what it would inflate to: 512x the body limit
    bomb = gzip.compress(b'{"model": "small-model", "messages": [' + b" " * expanded, compresslevel=9)
    assert len(bomb) < BODY_LIMIT  # it passes the limit on the wire
    before = _peak_rss_kib(core_gateway)
    error = openai_error(_post(core_gateway, "/v1/chat/completions", bomb, "gzip"), 413)
    assert error["code"] == "request_too_large" and "decompressed" in error["message"]
    grown_mib = (_peak_rss_kib(core_gateway) - before) / 1024
    # inflating each network read whole (~32 KiB in, ~32 MiB out) grew it by 32 MiB; capped, by under 1 MiB
    assert grown_mib < 12, f"the worker's peak memory grew by {grown_mib:.0f} MiB"
    assert fake_a.requests == []
