"""``turnout serve`` refuses to start, in one line on stderr and with exit status 1, when its
configuration cannot work: a port another server already listens on (Granian binds with
``SO_REUSEPORT``, so without the check the kernel would split connections between the
two servers), a setting that does not parse, a database or Redis it cannot reach, a
policy directory that does not exist. Never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import FAKE_KEY, StartGateway
from tests.support.fake_upstream import FakeUpstream
from tests.support.gateway import GatewayProcess, gateway_env
from tests.support.policy_files import write_policy
from tests.support.ports import free_port

POLICY = """
[channels.only]
format = "openai"
base_url = "{base}"
api_key = "${{FAKE_KEY}}"
models = ["{model}"]

[models.{model}]
context_window = 8000
"""
START_LIMIT = 60.0  # a refusal comes long before this; the limit only keeps a hung child from hanging the run


@dataclass(frozen=True, slots=True)
class Refused:
    code: int
    stdout: str
    stderr: str

    def refusal(self) -> str:
        """The one line saying why, after checking there is exactly one and no traceback."""
        assert "Traceback" not in self.stdout + self.stderr, self.stderr
        lines = [line for line in self.stderr.splitlines() if line.startswith("refusing to start")]
        assert len(lines) == 1, self.stderr
        assert self.code == 1, (self.code, self.stderr)
        return lines[0]


def serve(workdir: Path, policy_dir: Path, env: Mapping[str, str], *args: str) -> Refused:
    """``python -m engine serve`` in ``workdir`` with a clean environment plus ``env``,
    expected to exit on its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "engine", "serve", "--policies", str(policy_dir), *args]
    done = subprocess.run(
        command,
        cwd=workdir,
        env=gateway_env({"FAKE_KEY": FAKE_KEY, **env}, workdir / "data"),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=START_LIMIT,
    )
    return Refused(done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))


@pytest.fixture(scope="module")
def running(launch: StartGateway, fake_a: FakeUpstream) -> GatewayProcess:
    return launch(POLICY.format(base=fake_a.base_url, model="first-model"), {"TURNOUT_API_KEYS": "sk-e2e-first"})


def test_a_second_server_on_a_busy_port_refuses_to_start(
    running: GatewayProcess, fake_a: FakeUpstream, tmp_path: Path
) -> None:
    first_version = httpx.get(f"{running.base_url}/healthz").json()["policy"]
    other = tmp_path / "other-policies"
    write_policy(other, POLICY.format(base=fake_a.base_url, model="second-model"))
    second = serve(tmp_path / "second", other, {"TURNOUT_API_KEYS": "sk-e2e-second"}, "--port", str(running.port))
    line = second.refusal()
    assert f"port {running.port}" in line and "already in use" in line
    # every fresh connection still reaches the first server, with its own policy and key
    for _ in range(12):
        with httpx.Client() as client:
            response = client.get(f"{running.base_url}/v1/models", headers={"authorization": "Bearer sk-e2e-first"})
        assert response.status_code == 200
        assert response.headers["x-turnout-policy"] == first_version
        assert [m["id"] for m in response.json()["data"]] == ["first-model"]


# (name, environment, what the one line must say); the whole list of bad settings is run
# in-process in tests/engine/test_cli_config.py, these few through a real process each
BAD_SETTINGS: list[tuple[str, dict[str, str], tuple[str, ...]]] = [
    ("port-not-a-number", {"TURNOUT_PORT": "eighty"}, ("TURNOUT_PORT", "valid integer", "'eighty'")),
    (
        "database-unreachable",
        {"TURNOUT_DATABASE_URL": "postgresql://turnout:s3cret-pw@127.0.0.1:{closed}/x"},
        ("cannot connect to the database", "127.0.0.1:{closed}", "TURNOUT_DATABASE_URL"),
    ),
    (
        "redis-unreachable",
        {"TURNOUT_REDIS_URL": "redis://127.0.0.1:{closed}/0", "TURNOUT_WORKERS": "2"},
        ("cannot reach Redis", "TURNOUT_REDIS_URL"),
    ),
    ("no-policy-dir", {"TURNOUT_POLICY_DIR": "{missing}"}, ("policy directory", "does not exist")),
]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory, fake_a: FakeUpstream) -> Iterator[dict[str, Refused]]:
    """Every bad configuration started at once (each is a Python start of about a second)."""
    root = tmp_path_factory.mktemp("bad-settings")
    policy_dir = root / "policies"
    write_policy(policy_dir, POLICY.format(base=fake_a.base_url, model="any-model"))
    closed = str(free_port())
    fill = {"closed": closed, "missing": str(root / "no-such-dir")}

    def one(case: tuple[str, dict[str, str], tuple[str, ...]]) -> Refused:
        name, env, _ = case
        settings = {"TURNOUT_API_KEYS": "sk-e2e-any", **{k: v.format(**fill) for k, v in env.items()}}
        args = () if "TURNOUT_PORT" in env else ("--port", str(free_port()))
        policies = Path(settings.pop("TURNOUT_POLICY_DIR", str(policy_dir)))
        return serve(root / name, policies, settings, *args)

    with ThreadPoolExecutor(4) as pool:
        results = dict(zip([c[0] for c in BAD_SETTINGS], pool.map(one, BAD_SETTINGS), strict=True))
    yield {name: Refused(r.code, r.stdout, r.stderr.replace(closed, "{closed}")) for name, r in results.items()}


@pytest.mark.parametrize(("name", "env", "says"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_a_bad_setting_is_one_line_and_no_traceback(
    refusals: dict[str, Refused], name: str, env: dict[str, str], says: tuple[str, ...]
) -> None:
    line = refusals[name].refusal()
    for fragment in says:
        assert fragment in line, line
    assert "s3cret-pw" not in refusals[name].stderr + refusals[name].stdout  # never a password
