"""OpenAI's Files and Batches APIs through the official SDK, against the real gateway and a
local upstream: upload, create, poll, download output and error files, list, cancel; a
key sees only its own; each request has one usage row priced at the batch discount."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import orjson
import pytest
from openai import OpenAI
from openai.types import Batch

from tests.e2e_batch.conftest import PRICE_IN, PRICE_OUT, batch_deployment, wait_closed
from tests.e2e_batch.servers import COMPLETION_TOKENS, PROMPT_TOKENS, EchoUpstream
from tests.e2e_batch.usage_db import UsageRow, request_rows
from tests.e2e_keys.admin import Admin, CreatedKey
from tests.e2e_keys.deployment import ADMIN_TOKEN, Deployment
from tests.e2e_keys.waiting import wait_until
from tests.support.gateway import GatewayProcess

FULL_PRICE_MICROS = PROMPT_TOKENS * PRICE_IN + COMPLETION_TOKENS * PRICE_OUT  # 6000


class Running:
    def __init__(self, deployment: Deployment, gateway: GatewayProcess, alice: CreatedKey, bob: CreatedKey) -> None:
        self.deployment, self.gateway, self.alice, self.bob = deployment, gateway, alice, bob

    def client(self, key: CreatedKey) -> OpenAI:
        return OpenAI(base_url=f"{self.gateway.base_url}/v1", api_key=key.secret, max_retries=0)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, upstream: EchoUpstream) -> Iterator[Running]:
    deployment = batch_deployment(tmp_path_factory.mktemp("openai-batches"), upstream, TURNOUT_BATCH_PER_KEY="2")
    with deployment.start() as gateway:
        admin = Admin(gateway.base_url, ADMIN_TOKEN)
        alice, bob = admin.create_key("alice"), admin.create_key("bob")
        admin.close()
        wait_closed(gateway.base_url)
        yield Running(deployment, gateway, alice, bob)


def _line(custom_id: str, text: str, model: str = "batch-model") -> bytes:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 50}
    item = {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}
    return orjson.dumps(item) + b"\n"


def usage_rows(data_dir: Path, job_id: str, count: int) -> list[UsageRow]:
    """The job's request rows once there are ``count`` (the usage log writes in the background)."""

    def enough() -> list[UsageRow] | None:
        rows = request_rows(data_dir, job_id)
        return rows if len(rows) >= count else None

    return wait_until(enough, timeout=5.0, what=f"{count} usage rows of {job_id}")


def _finished(client: OpenAI, batch_id: str, timeout: float = 20.0) -> Batch:
    def done() -> Batch | None:
        batch = client.batches.retrieve(batch_id)
        return batch if batch.status in ("completed", "cancelled", "failed") else None

    return wait_until(done, timeout=timeout, interval=0.1, what=f"batch {batch_id} to finish")


def test_files_and_batches_end_to_end(running: Running, upstream: EchoUpstream) -> None:
    client = running.client(running.alice)
    upstream.fail.add("refuse me")
    content = (
        _line("a", "first question")
        + _line("b", "second question")
        + _line("c", "refuse me")
        + _line("d", "cheaper question", model="thrifty-model")
    )
    uploaded = client.files.create(file=("requests.jsonl", content), purpose="batch")
    assert (uploaded.purpose, uploaded.bytes, uploaded.filename) == ("batch", len(content), "requests.jsonl")
    assert client.files.content(uploaded.id).content == content
    assert client.files.retrieve(uploaded.id).id == uploaded.id

    created = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "1"}
    )
    assert created.status == "in_progress" and created.input_file_id == uploaded.id
    batch = _finished(client, created.id)
    assert batch.status == "completed"
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (4, 3, 1)
    assert batch.metadata == {"run": "1"}
    assert batch.output_file_id and batch.error_file_id

    output = [orjson.loads(line) for line in client.files.content(batch.output_file_id).content.splitlines()]
    answers = {line["custom_id"]: line["response"] for line in output}
    assert set(answers) == {"a", "b", "d"}
    for custom_id, text in (("a", "first question"), ("b", "second question"), ("d", "cheaper question")):
        assert answers[custom_id]["status_code"] == 200
        assert answers[custom_id]["body"]["choices"][0]["message"]["content"] == f"echo: {text}"
        assert answers[custom_id]["body"]["object"] == "chat.completion"
    errors = [orjson.loads(line) for line in client.files.content(batch.error_file_id).content.splitlines()]
    assert [(e["custom_id"], e["response"]["status_code"]) for e in errors] == [("c", 400)]
    assert "refuse me" in errors[0]["response"]["body"]["error"]["message"]
    assert upstream.received() == {"first question": 1, "second question": 1, "refuse me": 1, "cheaper question": 1}

    # one usage row per request, each at its model's batch price
    rows = usage_rows(running.deployment.data_dir, batch.id, 4)
    by_request = {row.request_id: row for row in rows}
    assert len(by_request) == 4
    assert {row.endpoint for row in rows} == {"/v1/chat/completions"}
    costs = {rid.rsplit("-", 1)[1]: (row.status, row.cost_micros) for rid, row in by_request.items()}
    assert costs == {
        "0": (200, FULL_PRICE_MICROS // 2),  # batch_discount 0.5, the default
        "1": (200, FULL_PRICE_MICROS // 2),
        "2": (400, 0),
        "3": (200, FULL_PRICE_MICROS * 3 // 4),  # batch_discount 0.25
    }

    listed = client.batches.list(limit=10)
    assert created.id in [b.id for b in listed.data]


def test_a_key_sees_only_its_own_files_and_batches(running: Running) -> None:
    alice, bob = running.client(running.alice), running.client(running.bob)
    uploaded = alice.files.create(file=("mine.jsonl", _line("x", "private question")), purpose="batch")
    batch = alice.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        bob.batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        bob.files.content(uploaded.id)
    with pytest.raises(openai.NotFoundError):
        bob.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.NotFoundError):
        bob.batches.cancel(batch.id)
    assert batch.id not in [b.id for b in bob.batches.list().data]
    finished = _finished(alice, batch.id)
    assert finished.output_file_id is not None
    with pytest.raises(openai.NotFoundError):
        bob.files.content(finished.output_file_id)


def test_cancel_stops_what_was_not_sent(running: Running, upstream: EchoUpstream) -> None:
    client = running.client(running.alice)
    upstream.delay = 0.3
    content = b"".join(_line(f"r{i}", f"question {i}") for i in range(20))
    uploaded = client.files.create(file=("many.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    wait_until(lambda: sum(upstream.received().values()) or None, timeout=10.0, what="the first request upstream")
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    finished = _finished(client, batch.id)
    assert finished.status == "cancelled"
    assert finished.request_counts is not None
    sent = sum(upstream.received().values())
    assert finished.request_counts.completed == sent < 20  # per-key limit 2: most were never sent
    assert finished.request_counts.failed == 20 - sent
    time.sleep(1.0)  # nothing more goes out after the cancel
    assert sum(upstream.received().values()) == sent
    assert finished.error_file_id is not None
    errors = [orjson.loads(line) for line in client.files.content(finished.error_file_id).content.splitlines()]
    assert len(errors) == 20 - sent
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}


def test_per_key_concurrency_is_bounded(running: Running, upstream: EchoUpstream) -> None:
    client = running.client(running.bob)
    upstream.delay = 0.1
    content = b"".join(_line(f"c{i}", f"bounded {i}") for i in range(10))
    uploaded = client.files.create(file=("bounded.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert _finished(client, batch.id).status == "completed"
    assert upstream.most_in_flight == 2  # TURNOUT_BATCH_PER_KEY=2


def test_refusals_name_the_problem(running: Running) -> None:
    client = running.client(running.alice)
    bad = client.files.create(file=("bad.jsonl", b'{"custom_id": "a", "body": {"messages": []}}\n'), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="'model' is required"):
        client.batches.create(input_file_id=bad.id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="cannot be batched"):
        client.batches.create(input_file_id=bad.id, endpoint="/v1/audio/speech", completion_window="24h")  # type: ignore[arg-type]
    twice = _line("same", "one") + _line("same", "two")
    dup = client.files.create(file=("dup.jsonl", twice), purpose="batch")
    with pytest.raises(openai.BadRequestError, match="used twice"):
        client.batches.create(input_file_id=dup.id, endpoint="/v1/chat/completions", completion_window="24h")
    with pytest.raises(openai.BadRequestError, match="only 'batch' files"):
        client.files.create(file=("x.jsonl", b"{}"), purpose="fine-tune")


def test_uploaded_files_are_listed_and_deleted(running: Running, tmp_path: Path) -> None:
    client = running.client(running.bob)
    path = tmp_path / "upload.jsonl"
    path.write_bytes(_line("z", "from disk"))
    uploaded = client.files.create(file=path.open("rb"), purpose="batch")
    assert uploaded.id in [f.id for f in client.files.list().data]
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_responses_requests_can_be_batched(running: Running) -> None:
    client = running.client(running.alice)
    body = {"model": "batch-model", "input": "a responses question"}
    line = {"custom_id": "resp", "method": "POST", "url": "/v1/responses", "body": body}
    uploaded = client.files.create(file=("responses.jsonl", orjson.dumps(line) + b"\n"), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/responses", completion_window="24h")
    finished = _finished(client, batch.id)
    assert finished.status == "completed" and finished.output_file_id is not None
    [result] = [orjson.loads(x) for x in client.files.content(finished.output_file_id).content.splitlines()]
    answer = result["response"]["body"]
    assert answer["object"] == "response"
    assert answer["output"][0]["content"][0]["text"] == "echo: a responses question"
