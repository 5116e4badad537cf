"""Configuration errors of the ``turnout`` command, run in-process through ``engine.cli.main``:
each is one line on stderr and exit status 1, never a traceback, never a secret.

``serve`` refuses before Granian is started, so these run without a server; a few of the
same cases go through a real process in tests/e2e/test_startup.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli import main
from tests.support.ports import free_port

POLICIES = Path(__file__).resolve().parents[2] / "policies"
PASSWORD = "s3cret-pw"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No TURNOUT_* from the outer environment, a fresh data dir, no .env in the cwd (the
    CLI writes its flags into the environment for Granian: monkeypatch restores them)."""
    for name in list(os.environ):
        if name.startswith("TURNOUT_"):
            monkeypatch.delenv(name)
    for name in ("TURNOUT_HOST", "TURNOUT_PORT", "TURNOUT_POLICY_DIR", "TURNOUT_WORKERS", "TURNOUT_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TURNOUT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TURNOUT_POLICY_DIR", str(POLICIES))
    monkeypatch.chdir(tmp_path)
    yield


def one_line(capsys: pytest.CaptureFixture[str], code: int, prefix: str) -> str:
    out, err = capsys.readouterr()
    assert code == 1, err
    assert "Traceback" not in out + err
    assert PASSWORD not in out + err
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    return lines[0]


CLOSED = free_port()
SERVE_CASES: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
    ("port-not-a-number", {"TURNOUT_PORT": "eighty"}, ("TURNOUT_PORT", "valid integer", "'eighty'")),
    ("port-out-of-range", {"TURNOUT_PORT": "70000"}, ("TURNOUT_PORT", "65535")),
    ("port-zero", {"TURNOUT_PORT": "0"}, ("TURNOUT_PORT", "greater than or equal to 1")),
    ("workers-zero", {"TURNOUT_WORKERS": "0"}, ("TURNOUT_WORKERS", "greater than or equal to 1")),
    ("body-limit", {"TURNOUT_BODY_LIMIT": "-1"}, ("TURNOUT_BODY_LIMIT",)),
    ("timeout", {"TURNOUT_FIRST_BYTE_TIMEOUT": "soon"}, ("TURNOUT_FIRST_BYTE_TIMEOUT", "valid number")),
    ("log-level", {"TURNOUT_LOG_LEVEL": "loud"}, ("TURNOUT_LOG_LEVEL", "debug, info, warning, error")),
    ("watch", {"TURNOUT_WATCH": "perhaps"}, ("TURNOUT_WATCH", "boolean")),
    ("proxies", {"TURNOUT_TRUSTED_PROXIES": "10.0.0.0/8, not-a-cidr"}, ("TURNOUT_TRUSTED_PROXIES", "not-a-cidr")),
    ("database-kind", {"TURNOUT_DATABASE_URL": f"mysql://u:{PASSWORD}@db/x"}, ("TURNOUT_DATABASE_URL", "mysql")),
    ("database-not-a-url", {"TURNOUT_DATABASE_URL": "just words"}, ("TURNOUT_DATABASE_URL", "not a URL")),
    (
        "database-unreachable",
        {"TURNOUT_DATABASE_URL": f"postgresql://turnout:{PASSWORD}@127.0.0.1:{CLOSED}/x"},
        ("cannot connect to the database", f"127.0.0.1:{CLOSED}", "***"),
    ),
    (
        "database-missing",
        {"TURNOUT_DATABASE_URL": "postgres://postgres@127.0.0.1:5432/turnout_no_such_database"},
        ("cannot connect", "turnout_no_such_database", "does not exist"),
    ),
    (
        "database-bad-parameter",
        {"TURNOUT_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test?frobnicate=1"},
        ("cannot connect", "frobnicate"),
    ),
    ("sqlite-memory", {"TURNOUT_DATABASE_URL": "sqlite://"}, ("in-memory SQLite",)),
    ("redis-not-redis", {"TURNOUT_REDIS_URL": "http://127.0.0.1:6379"}, ("TURNOUT_REDIS_URL", "redis://")),
    (
        "redis-unreachable",
        {"TURNOUT_REDIS_URL": f"redis://:{PASSWORD}@127.0.0.1:{CLOSED}/0", "TURNOUT_WORKERS": "2"},
        ("cannot reach Redis",),
    ),
    ("two-workers-no-redis", {"TURNOUT_WORKERS": "2"}, ("TURNOUT_REDIS_URL",)),
    ("secret-key-short", {"TURNOUT_SECRET_KEY": "short"}, ("TURNOUT_SECRET_KEY", "16 bytes")),
    ("no-policy-dir", {"TURNOUT_POLICY_DIR": "/nonexistent/policies"}, ("/nonexistent/policies", "does not exist")),
    ("host-unknown", {"TURNOUT_HOST": "no-such-host.invalid"}, ("cannot listen on no-such-host.invalid",)),
    ("host-not-ours", {"TURNOUT_HOST": "192.0.2.1"}, ("192.0.2.1", "not an address of this machine")),
]


@pytest.mark.parametrize(("name", "env", "says"), SERVE_CASES, ids=[c[0] for c in SERVE_CASES])
def test_serve_refuses_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    env: dict[str, str],
    says: tuple[str, ...],
) -> None:
    monkeypatch.setenv("TURNOUT_API_KEYS", "sk-config-test")  # so no case is refused for running open
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    args = ["serve"] if "TURNOUT_PORT" in env else ["serve", "--port", str(free_port())]
    line = one_line(capsys, main(args), "refusing to start: ")
    for fragment in says:
        assert fragment in line, line


CLI_CASES: list[tuple[list[str], dict[str, str], tuple[str, ...]]] = [
    (["keys", "list"], {"TURNOUT_DATABASE_URL": "mysql://x@y/z"}, ("TURNOUT_DATABASE_URL", "mysql")),
    (
        ["keys", "list"],
        {"TURNOUT_DATABASE_URL": f"postgres://u:{PASSWORD}@127.0.0.1:{CLOSED}/x"},
        ("cannot connect to the database", "TURNOUT_DATABASE_URL"),
    ),
    (["keys", "create", "k1"], {"TURNOUT_REDIS_URL": f"redis://127.0.0.1:{CLOSED}/0"}, ("cannot reach Redis",)),
    (["credits", "show", "acct"], {"TURNOUT_PORT": "eighty"}, ("TURNOUT_PORT",)),
    (["db", "upgrade"], {"TURNOUT_DATABASE_URL": f"postgresql://127.0.0.1:{CLOSED}/x"}, ("cannot connect",)),
    (["db", "status"], {"TURNOUT_DATABASE_URL": "oracle://scott@db/x"}, ("oracle",)),
    (["usage"], {"TURNOUT_SECRET_KEY": "short"}, ("TURNOUT_SECRET_KEY",)),
    (["check"], {"TURNOUT_PORT": "eighty"}, ("TURNOUT_PORT",)),
    (["explain", "request.json"], {"TURNOUT_LOG_LEVEL": "loud"}, ("TURNOUT_LOG_LEVEL",)),
]


@pytest.mark.parametrize(
    ("argv", "env", "says"), CLI_CASES, ids=["-".join(c[0]) + "-" + next(iter(c[1])) for c in CLI_CASES]
)
def test_commands_report_a_bad_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    says: tuple[str, ...],
) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    line = one_line(capsys, main(argv), "error: ")
    for fragment in says:
        assert fragment in line, line


def test_open_mode_off_loopback_is_refused(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TURNOUT_HOST", "0.0.0.0")
    line = one_line(capsys, main(["serve", "--port", str(free_port())]), "refusing to start: ")
    assert "open to anyone on 0.0.0.0" in line
