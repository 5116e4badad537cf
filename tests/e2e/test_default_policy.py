"""The shipped ``policies/`` directory answers out of the box, with no key at all,
through the built-in demo channel."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.wire_checks import openai_error, sse_data, sse_json

SHIPPED = Path(__file__).resolve().parents[2] / "policies"
DEMO_MODELS = {
    "demo-echo",
    "demo-fail-500",
    "demo-fail-429",
    "demo-slow",
    "demo-cut",
    "demo-prefill",
    "demo-context",
    "demo-refuse",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with start_gateway(SHIPPED, workdir=tmp_path_factory.mktemp("default-policy")) as gateway:
        yield gateway


@pytest.fixture
def sdk(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="unused", max_retries=0) as client:
        yield client


def test_demo_models_are_listed(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.base_url}/v1/models")
    assert response.status_code == 200
    entries = {entry["id"]: entry for entry in response.json()["data"]}
    assert DEMO_MODELS <= set(entries)
    assert entries["demo-echo"]["context_window"] == 1_000_000
    status = httpx.get(f"{gateway.base_url}/api/status").json()["policy"]
    assert status["last_error"] is None


def test_demo_echo_answers_plain_and_streamed(sdk: openai.OpenAI) -> None:
    completion = sdk.chat.completions.create(model="demo-echo", messages=[{"role": "user", "content": "hi demo"}])
    assert completion.model == "demo-echo"
    assert "hi demo" in (completion.choices[0].message.content or "")
    stream = sdk.chat.completions.create(
        model="demo-echo",
        messages=[{"role": "user", "content": "hi stream"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "hi stream" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage is not None


def test_demo_cut_ends_the_stream_with_an_error_event(gateway: GatewayProcess) -> None:
    body = {"model": "demo-cut", "messages": [{"role": "user", "content": "x"}], "stream": True}
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 200
    assert "[DONE]" not in sse_data(response.content)
    assert "error" in sse_json(response.content)[-1]


def test_demo_rescue_resumes_the_cut_stream_as_one_answer(sdk: openai.OpenAI) -> None:
    """demo-cut stops after two chunks; the alias's prefill-capable fallback continues the
    partial answer, and the client reads one uninterrupted answer with one finish."""
    prompt = "tell me something long enough to be cut half way"
    stream = sdk.chat.completions.create(
        model="demo-rescue",
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"echo: {prompt}"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens >= len(text) // 4
    assert {c.model for c in chunks} == {"demo-cut"}  # one answer: the stream keeps the id it started with


def test_demo_refuse_is_returned_as_a_400(gateway: GatewayProcess) -> None:
    body = {"model": "demo-refuse", "messages": [{"role": "user", "content": "x"}]}
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30)
    openai_error(response, 400)
