"""``/v1/embeddings`` and Gemini's ``:embedContent`` / ``:batchEmbedContents`` end to end: the
official SDKs against the real gateway, with an OpenAI-format and a Gemini-format fake
upstream that record what they received, and the demo channel's local model."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from google import genai
from google.genai import types as genai_types

from providers.vectors import pack, unpack
from tests.e2e.conftest import FAKE_KEY, StartGateway
from tests.e2e.media.media_policy import media_policy
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess
from tests.support.replies import Json, Status

VECTORS = [[0.25, -0.5, 0.125], [1.0, 0.0, -1.0]]


@pytest.fixture(scope="module")
def gateway(launch: StartGateway, oai: FakeUpstream, gem: FakeUpstream) -> GatewayProcess:
    return launch(media_policy(oai, gem))


@pytest.fixture
def client(gateway: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def _openai_answer(vectors: list[list[float]], tokens: int, *, as_base64: bool) -> Json:
    data = [
        {"object": "embedding", "index": i, "embedding": pack(v) if as_base64 else v} for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return Json(body={"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage})


def test_openai_sdk_embeds_through_an_openai_upstream(client: openai.OpenAI, oai: FakeUpstream) -> None:
    oai.script("text-embedding-3-small", _openai_answer(VECTORS, 7, as_base64=True))
    result = client.embeddings.create(model="oai-embed", input=["first text", "second"], dimensions=3)
    assert [item.embedding for item in result.data] == VECTORS  # exact in float32
    assert result.model == "oai-embed"
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (7, 7)
    (sent,) = oai.requests
    assert sent.path == "/v1/embeddings"
    assert sent.headers["authorization"] == f"Bearer {FAKE_KEY}"
    assert sent.json == {
        "model": "text-embedding-3-small",
        "input": ["first text", "second"],
        "encoding_format": "base64",
        "dimensions": 3,
    }


def test_float_encoding_and_token_arrays(client: openai.OpenAI, oai: FakeUpstream) -> None:
    oai.script("text-embedding-3-small", _openai_answer(VECTORS[:1], 3, as_base64=False))
    raw = client.embeddings.with_raw_response.create(
        model="oai-embed", input=[[101, 2023, 102]], encoding_format="float"
    )
    body = raw.http_response.json()
    assert body["data"] == [{"object": "embedding", "index": 0, "embedding": VECTORS[0]}]
    assert oai.requests[0].json["input"] == [[101, 2023, 102]]


def test_base64_answer_is_little_endian_float32(client: openai.OpenAI, oai: FakeUpstream) -> None:
    oai.script("text-embedding-3-small", _openai_answer(VECTORS[:1], 2, as_base64=False))
    raw = client.embeddings.with_raw_response.create(model="oai-embed", input="one", encoding_format="base64")
    encoded = raw.http_response.json()["data"][0]["embedding"]
    assert isinstance(encoded, str) and unpack(encoded) == VECTORS[0]
    assert oai.requests[0].json["input"] == "one"


def test_a_gemini_upstream_is_translated_both_ways(client: openai.OpenAI, gem: FakeUpstream) -> None:
    gem.script("gemini-embedding-001", Json(body={"embeddings": [{"values": v} for v in VECTORS]}))
    result = client.embeddings.create(model="gem-embed", input=["alpha", "beta gamma"], dimensions=3)
    assert [item.embedding for item in result.data] == VECTORS
    assert result.usage.prompt_tokens == 2 + 3  # Gemini reports none: about four characters a token
    (sent,) = gem.requests
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == FAKE_KEY
    assert sent.json == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": t}]}, "outputDimensionality": 3}
            for t in ("alpha", "beta gamma")
        ]
    }


def test_an_alias_falls_back_to_another_format(client: openai.OpenAI, oai: FakeUpstream, gem: FakeUpstream) -> None:
    oai.script("text-embedding-3-small", Status(500), Status(500))
    gem.script("gemini-embedding-001", Json(body={"embeddings": [{"values": VECTORS[1]}]}))
    raw = client.embeddings.with_raw_response.create(model="embed-any", input="hello", encoding_format="float")
    assert raw.http_response.json()["data"][0]["embedding"] == VECTORS[1]
    route = raw.headers["x-turnout-route"]
    assert "alias=embed-any" in route and "model=gem-embed" in route and "attempts=3" in route
    assert len(oai.requests) == 2 and len(gem.requests) == 1


def test_token_arrays_cannot_go_to_gemini(client: openai.OpenAI, gem: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="gem-embed", input=[[1, 2, 3]])
    assert "token arrays" in caught.value.message and "gemini" in caught.value.message
    assert gem.requests == []


def test_an_endpoint_asking_a_model_of_another_kind_is_a_400(client: openai.OpenAI, oai: FakeUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as on_embeddings:
        client.embeddings.create(model="oai-chat", input="x")
    assert on_embeddings.value.code == "wrong_model_kind"
    assert "'oai-chat' is a chat model" in on_embeddings.value.message
    with pytest.raises(openai.BadRequestError) as on_chat:
        client.chat.completions.create(model="oai-embed", messages=[{"role": "user", "content": "x"}])
    assert on_chat.value.code == "wrong_model_kind"
    assert "'oai-embed' is an embedding model: ask it on /v1/embeddings" in on_chat.value.message
    with pytest.raises(openai.BadRequestError) as on_images:
        client.images.generate(model="embed-any", prompt="x")
    assert "'embed-any' is an alias for embedding models" in on_images.value.message
    assert oai.requests == []


def test_unknown_model_is_a_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="no-such-model", input="x")
    assert caught.value.code == "model_not_found"


def test_the_demo_model_embeds_locally(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="demo-embed", input=["a small cat", "a little kitten", "stock prices fell"])
    vectors = [item.embedding for item in result.data]
    assert all(len(v) == 256 for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])
    assert result.usage.prompt_tokens > 0


def test_models_list_shows_the_kind(client: openai.OpenAI) -> None:
    listed = {m.id: m.model_extra or {} for m in client.models.list()}
    assert listed["oai-embed"]["model_kind"] == "embedding"
    assert listed["oai-image"]["model_kind"] == "image"
    assert listed["oai-chat"]["model_kind"] == "chat"
    assert listed["embed-any"]["model_kind"] == "embedding"


def _genai(gateway: GatewayProcess) -> genai.Client:
    options = genai_types.HttpOptions(base_url=gateway.base_url, api_version="v1beta")
    return genai.Client(api_key="unused", http_options=options)


def test_google_genai_embed_content_through_an_openai_upstream(gateway: GatewayProcess, oai: FakeUpstream) -> None:
    oai.script("text-embedding-3-small", _openai_answer(VECTORS, 4, as_base64=True))
    client = _genai(gateway)  # held: a client garbage-collected mid-call closes its connection pool
    result = client.models.embed_content(
        model="oai-embed",
        contents=["first", "second"],
        config=genai_types.EmbedContentConfig(output_dimensionality=3),
    )
    assert result.embeddings is not None
    assert [e.values for e in result.embeddings] == VECTORS
    assert oai.requests[0].json["input"] == ["first", "second"]
    assert oai.requests[0].json["dimensions"] == 3


def test_google_genai_embed_content_through_a_gemini_upstream(gateway: GatewayProcess, gem: FakeUpstream) -> None:
    gem.script("gemini-embedding-001", Json(body={"embeddings": [{"values": VECTORS[0]}]}))
    client = _genai(gateway)
    result = client.models.embed_content(
        model="gem-embed", contents="query text", config=genai_types.EmbedContentConfig(task_type="RETRIEVAL_QUERY")
    )
    assert result.embeddings is not None and result.embeddings[0].values == VECTORS[0]
    request = gem.requests[0].json["requests"][0]
    assert request["taskType"] == "RETRIEVAL_QUERY"
    assert request["content"] == {"parts": [{"text": "query text"}]}


def test_gemini_embed_content_method_answers_one_embedding(gateway: GatewayProcess, gem: FakeUpstream) -> None:
    gem.script("gemini-embedding-001", Json(body={"embeddings": [{"values": VECTORS[1]}]}))
    body = {
        "content": {"parts": [{"text": "one"}, {"text": " text"}]},
        "title": "Doc",
        "taskType": "RETRIEVAL_DOCUMENT",
    }
    answer = httpx.post(f"{gateway.base_url}/v1beta/models/gem-embed:embedContent", json=body, timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {"embedding": {"values": VECTORS[1]}}
    request = gem.requests[0].json["requests"][0]
    assert (request["content"], request["title"]) == ({"parts": [{"text": "one text"}]}, "Doc")


def test_gemini_client_errors_come_in_gemini_shape(gateway: GatewayProcess) -> None:
    answer = httpx.post(
        f"{gateway.base_url}/v1beta/models/oai-chat:embedContent", json={"content": {"parts": [{"text": "x"}]}}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "'oai-chat' is a chat model" in answer.json()["error"]["message"]


def test_client_lists_show_what_each_client_can_ask(gateway: GatewayProcess) -> None:
    gemini = httpx.get(f"{gateway.base_url}/v1beta/models").json()["models"]
    methods = {m["baseModelId"]: m["supportedGenerationMethods"] for m in gemini}
    assert methods["oai-embed"] == ["embedContent", "batchEmbedContents"]
    assert "generateContent" in methods["oai-chat"]
    assert "oai-image" not in methods
    anthropic = httpx.get(f"{gateway.base_url}/v1/models", headers={"anthropic-version": "2023-06-01"}).json()
    assert [m["id"] for m in anthropic["data"]] == ["oai-chat"]


def test_embeddings_are_metered_and_logged_like_chat(gateway: GatewayProcess, client: openai.OpenAI) -> None:
    """An embeddings request has its access-log line and its series in /metrics, and a
    refused one is counted too (the same recorder as chat)."""
    raw = client.embeddings.with_raw_response.create(model="demo-embed", input="metered")
    request_id = raw.headers["x-request-id"]
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="no-such-embedder", input="x")
    deadline = time.monotonic() + 10
    while True:
        metrics = httpx.get(f"{gateway.base_url}/metrics").text
        lines = [line for line in gateway.logs().splitlines() if "turnout.access" in line]
        served = 'turnout_requests_total{alias="",channel="demo",format="openai",model="demo-embed",status="200"}'
        if served in metrics and any(request_id in line for line in lines):
            break
        assert time.monotonic() < deadline, (metrics[-2000:], lines[-5:])
        time.sleep(0.2)
    [line] = [line for line in lines if request_id in line]
    assert "endpoint=/v1/embeddings" in line and "model=demo-embed" in line and "status=200" in line
    assert "metered" not in line  # never the input
    assert any("status=404" in line and "endpoint=/v1/embeddings" in line for line in lines)
