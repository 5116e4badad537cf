"""The data plane in front of Starlette: the hot POST endpoints as raw ASGI.

Driven in-process through the real app (lifespan included) on the shipped policy's demo
channel, so each test pins one behaviour of the raw layer: request ids, the doubled
``/v1``, the body limit, an unexpected exception, a client that leaves early.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.types import ASGIApp, Message

from engine.http.app import build_app
from engine.pipeline import Pipeline
from engine.settings import Settings

POLICIES = Path(__file__).resolve().parents[2] / "policies"
KEY = "sk-data-plane-test"
CHAT = orjson.dumps({"model": "demo-echo", "messages": [{"role": "user", "content": "hi"}]})


class Answer:
    def __init__(self, messages: list[Message]) -> None:
        self.messages = messages
        start = [m for m in messages if m["type"] == "http.response.start"]
        self.status: int | None = start[0]["status"] if start else None
        self.headers = {k.decode(): v.decode() for k, v in start[0]["headers"]} if start else {}
        self.body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")

    def json(self) -> Any:
        return orjson.loads(self.body)


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[ASGIApp]:
    settings = Settings(
        policy_dir=POLICIES, api_keys=KEY, key_management=False, watch=False, body_limit=4096, data_dir=tmp_path
    )
    application = build_app(settings)
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    lifespan = asyncio.ensure_future(application(scope, inbox.get, outbox.put))
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    yield application
    await inbox.put({"type": "lifespan.shutdown"})
    await lifespan


async def post(
    app: ASGIApp, path: str, body: bytes, headers: dict[str, str] | None = None, chunks: list[bytes] | None = None
) -> Answer:
    raw = [(b"authorization", f"Bearer {KEY}".encode()), (b"content-type", b"application/json")]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    parts = chunks if chunks is not None else [body]
    incoming: list[Message] = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1} for i, part in enumerate(parts)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        await asyncio.sleep(3600)  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": raw,
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    return Answer(sent)


async def test_a_chat_completion_is_served_with_id_and_policy_headers(app: ASGIApp) -> None:
    answer = await post(app, "/v1/chat/completions", CHAT)
    assert answer.status == 200
    assert answer.json()["model"] == "demo-echo"
    assert answer.headers["x-request-id"].startswith("req_")
    assert answer.headers["x-turnout-policy"] and answer.headers["x-turnout-route"]
    assert answer.headers["content-length"] == str(len(answer.body))


async def test_fresh_request_ids_differ(app: ASGIApp) -> None:
    ids = {(await post(app, "/v1/chat/completions", CHAT)).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


async def test_a_sane_client_request_id_is_kept_and_an_odd_one_replaced(app: ASGIApp) -> None:
    kept = await post(app, "/v1/chat/completions", CHAT, {"x-request-id": "trace-42.a:b"})
    assert kept.headers["x-request-id"] == "trace-42.a:b"
    replaced = await post(app, "/v1/chat/completions", CHAT, {"x-request-id": "bad id\nwith newline"})
    assert replaced.headers["x-request-id"].startswith("req_")


async def test_a_doubled_v1_from_a_base_url_ending_in_v1_is_served(app: ASGIApp) -> None:
    answer = await post(app, "/v1/v1/chat/completions", CHAT)
    assert answer.status == 200 and answer.json()["object"] == "chat.completion"


async def test_a_body_announced_over_the_limit_is_refused_with_413(app: ASGIApp) -> None:
    answer = await post(app, "/v1/chat/completions", b"{}", {"content-length": "5000"})
    assert answer.status == 413
    assert answer.json()["error"]["message"] == "request body is 5000 bytes; the limit is 4096"


async def test_a_streamed_body_over_the_limit_is_refused_with_413_in_the_clients_format(app: ASGIApp) -> None:
    answer = await post(app, "/v1/messages", b"", chunks=[b"x" * 3000, b"x" * 3000, b"}"])
    assert answer.status == 413
    assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == "request_too_large"


async def test_an_unexpected_exception_is_a_500_in_the_clients_format_without_internals(
    app: ASGIApp, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: Pipeline, ingress: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Pipeline, "handle", broken)
    answer = await post(app, "/v1/messages", orjson.dumps({"model": "demo-echo", "max_tokens": 5, "messages": []}))
    assert answer.status == 500
    request_id = answer.headers["x-request-id"]
    assert answer.headers["x-turnout-policy"]
    assert answer.json()["type"] == "error"
    assert request_id in answer.json()["error"]["message"]
    assert b"secret" not in answer.body
    assert "secret internals" in caplog.text  # the traceback goes to the log


async def test_a_client_gone_before_its_body_gets_no_answer(app: ASGIApp) -> None:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": [], "query_string": b"",
        "client": ("127.0.0.1", 50000), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent == []
