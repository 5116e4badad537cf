"""``turnout batch submit|list|show|cancel``: batch jobs through a running gateway's
``/v1/batch`` API (``--url`` / ``TURNOUT_URL``, ``--key`` / ``TURNOUT_KEY``).

``submit FILE.jsonl`` takes one request per line, in the seed shape
(``{"custom_id", "model", "messages", ...}``) or OpenAI's batch input shape
(``{"custom_id", "method", "url", "body"}``). With ``--wait`` it polls until the job
ends (a progress bar on stderr when it is a terminal) and prints the results as JSONL.
httpx is imported only when a command runs, so the CLI starts quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import orjson

if TYPE_CHECKING:
    import httpx

DEFAULT_URL = "http://127.0.0.1:8080"
POLL_SECONDS = 1.0
BAR_WIDTH = 30


class CliError(Exception):
    """A problem the user can fix; printed as one line."""


def progress_line(counts: dict[str, int], width: int = BAR_WIDTH) -> str:
    """``[#####.....] 12/40 done, 1 failed`` for a job's counts. Pure."""
    total = int(counts.get("total", 0))
    done = int(counts.get("completed", 0)) + int(counts.get("failed", 0)) + int(counts.get("cancelled", 0))
    filled = width * done // max(total, 1)
    failed = int(counts.get("failed", 0))
    tail = f", {failed} failed" if failed else ""
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} done{tail}"


def read_requests(path: Path) -> list[dict[str, Any]]:
    """The requests of a JSONL file, in the seed shape."""
    requests: list[dict[str, Any]] = []
    for number, raw in enumerate(path.read_bytes().splitlines(), 1):
        if not raw.strip():
            continue
        try:
            item = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CliError(f"{path}:{number}: not JSON ({exc})") from None
        if not isinstance(item, dict):
            raise CliError(f"{path}:{number}: expected a JSON object")
        if isinstance(item.get("body"), dict):  # OpenAI's batch input line
            url = item.get("url", "/v1/chat/completions")
            if url != "/v1/chat/completions":
                raise CliError(f"{path}:{number}: url {url!r}: `turnout batch submit` sends chat completions")
            item = {"custom_id": item.get("custom_id", str(number - 1)), **item["body"]}
        requests.append(item)
    return requests


def _client(args: argparse.Namespace) -> httpx.Client:
    import httpx

    key = args.key or os.environ.get("TURNOUT_KEY")
    headers = {"authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=args.url or os.environ.get("TURNOUT_URL") or DEFAULT_URL, headers=headers, timeout=60)


def _checked(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400 or not isinstance(body, dict):
        message = body.get("error", {}).get("message") if isinstance(body, dict) else response.text[:200]
        raise CliError(f"the gateway answered {response.status_code}: {message}")
    return body


def _wait(client: httpx.Client, job_id: str, err: TextIO) -> dict[str, Any]:
    bar = err.isatty()
    while True:
        job = _checked(client.get(f"/v1/batch/{job_id}"))
        if bar:
            err.write("\r" + progress_line(job["counts"]))
            err.flush()
        if job["status"] in ("completed", "cancelled", "failed", "expired"):
            if bar:
                err.write("\n")
            return job
        time.sleep(POLL_SECONDS)


def cmd_submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    payload: dict[str, Any] = {"tier": "batch_50", "requests": read_requests(Path(args.file))}
    if args.callback:
        payload["callback_url"] = args.callback
    with _client(args) as client:
        job = _checked(client.post("/v1/batch", json=payload))
        print(f"submitted {job['id']} ({job['counts']['total']} requests)", file=err)
        if job.get("callback_secret"):
            print(f"callback secret (shown once): {job['callback_secret']}", file=err)
        if not args.wait:
            out.write(orjson.dumps(job).decode() + "\n")
            return 0
        done = _wait(client, job["id"], err)
    for result in done.get("results", []):
        out.write(orjson.dumps(result).decode() + "\n")
    counts = done["counts"]
    print(f"{done['id']} {done['status']}: {counts['completed']}/{counts['total']} succeeded", file=err)
    return 0 if done["status"] == "completed" and not counts["failed"] else 1


def cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _client(args) as client:
        jobs = _checked(client.get("/v1/batch", params={"limit": str(args.limit)}))["data"]
    for job in jobs:
        counts = job["counts"]
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(job["created_at"]))
        out.write(f"{job['id']}  {job['status']:<11} {counts['completed']}/{counts['total']}  {created}\n")
    return 0


def cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _client(args) as client:
        job = _checked(client.get(f"/v1/batch/{args.id}"))
    out.write(orjson.dumps(job, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def cmd_cancel(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _client(args) as client:
        job = _checked(client.post(f"/v1/batch/{args.id}/cancel"))
    out.write(f"{job['id']} {job['status']}\n")
    return 0


def _run(command: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        import httpx

        try:
            code: int = command(args, sys.stdout, sys.stderr)
        except (CliError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except httpx.HTTPError as exc:
            print(f"error: cannot reach the gateway: {exc}", file=sys.stderr)
            return 1
        return code

    return run


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the gateway (default $TURNOUT_URL or {DEFAULT_URL})")
    common.add_argument("--key", help="the API key (default $TURNOUT_KEY)")
    batch = subparsers.add_parser("batch", help="submit and follow batch jobs (at the batch price)")
    commands = batch.add_subparsers(dest="batch_command", required=True)
    submit = commands.add_parser("submit", parents=[common], help="submit a JSONL file of requests")
    submit.add_argument("file", help="one request per line (seed or OpenAI batch shape)")
    submit.add_argument("--wait", action="store_true", help="wait for the end and print the results as JSONL")
    submit.add_argument("--callback", help="a URL to POST the finished job to (signed)")
    submit.set_defaults(func=_run(cmd_submit))
    listing = commands.add_parser("list", parents=[common], help="your batch jobs, newest first")
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(func=_run(cmd_list))
    show = commands.add_parser("show", parents=[common], help="a job's status, counts and results")
    show.add_argument("id")
    show.set_defaults(func=_run(cmd_show))
    cancel = commands.add_parser("cancel", parents=[common], help="cancel what a job has not sent yet")
    cancel.add_argument("id")
    cancel.set_defaults(func=_run(cmd_cancel))
