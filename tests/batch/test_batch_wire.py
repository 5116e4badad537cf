"""Jobs and results in OpenAI's shapes and the seed API's, and the callback's signature."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import orjson

from engine.batch.callback import MAX_ATTEMPTS, retry_delay, signature
from engine.batch.model import Counts, Job, Result
from engine.batch.wire import error_file_id, job_of_file, openai_batch, output_file_id, result_file, seed_job

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
RESULTS = [
    Result(0, "ok", "done", 200, {"object": "chat.completion"}, "batch_1-0"),
    Result(1, "bad", "done", 400, {"error": {"message": "no", "type": "invalid_request_error"}}, "batch_1-1"),
    Result(2, "never", "cancelled", None, None, None),
]


def _job(status: str, counts: Counts) -> Job:
    return Job(
        "batch_1", "key", "openai", "/v1/chat/completions", "file-in", status, {"k": "v"}, None, "none",
        AT, AT, AT, AT if status == "completed" else None, None, AT if status == "cancelled" else None, counts,
    )  # fmt: skip


def test_output_and_error_files_in_openais_shape() -> None:
    output = [orjson.loads(line) for line in result_file("batch_1", RESULTS, "output").splitlines()]
    assert output == [
        {
            "id": "batch_req_batch_1_0",
            "custom_id": "ok",
            "response": {"status_code": 200, "request_id": "batch_1-0", "body": {"object": "chat.completion"}},
            "error": None,
        }
    ]
    errors = [orjson.loads(line) for line in result_file("batch_1", RESULTS, "errors").splitlines()]
    assert [e["custom_id"] for e in errors] == ["bad", "never"]
    assert errors[0]["response"]["status_code"] == 400 and errors[0]["error"] is None
    assert errors[1]["response"] is None and errors[1]["error"]["code"] == "batch_cancelled"


def test_result_files_exist_once_the_job_has_finished() -> None:
    running = openai_batch(_job("in_progress", Counts(total=3, pending=3)))
    assert running["output_file_id"] is None and running["error_file_id"] is None
    done = openai_batch(_job("cancelled", Counts(total=3, completed=1, failed=1, cancelled=1)))
    assert (done["output_file_id"], done["error_file_id"]) == (output_file_id("batch_1"), error_file_id("batch_1"))
    assert done["request_counts"] == {"total": 3, "completed": 1, "failed": 2}
    assert done["cancelled_at"] == int(AT.timestamp()) and done["metadata"] == {"k": "v"}
    assert job_of_file(output_file_id("batch_1")) == ("batch_1", "output")
    assert job_of_file(error_file_id("batch_1")) == ("batch_1", "errors")
    assert job_of_file("file-abc") is None


def test_seed_job_lists_results_only_when_asked() -> None:
    job = _job("completed", Counts(total=3, completed=1, failed=1, cancelled=1))
    assert "results" not in seed_job(job, "http://gw/v1/batch/batch_1", None)
    shown = seed_job(job, "http://gw/v1/batch/batch_1", RESULTS)
    assert [(r["custom_id"], r["status"]) for r in shown["results"]] == [
        ("ok", "succeeded"),
        ("bad", "failed"),
        ("never", "cancelled"),
    ]
    assert shown["results"][1]["error"] == {"message": "no", "type": "invalid_request_error"}


def test_signature_is_an_hmac_of_the_timestamp_and_body() -> None:
    header = signature("whsec_x", 1700000000, b'{"a":1}')
    expected = hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


def test_retries_back_off_then_give_up() -> None:
    delays = [retry_delay(n, 2.0) for n in range(1, MAX_ATTEMPTS + 1)]
    assert delays[:4] == [2.0, 4.0, 8.0, 16.0]
    assert delays[-1] is None
