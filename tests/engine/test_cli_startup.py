"""Every CLI command starts quickly: ``turnout check``, ``explain`` and ``--version`` load
neither the server nor the database drivers (each command imports what it needs when it
runs). Pinned by what a fresh interpreter has imported, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import __version__

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "granian", "aiohttp", "starlette", "redis", "asyncpg", "aiosqlite", "alembic", "httpx")
PROBE = """
import json
import sys
from engine.cli import main
try:
    code = main({argv!r})
except SystemExit as exit:
    code = exit.code
heavy = sorted({{name.split(".")[0] for name in sys.modules}} & set({heavy!r}))
print(json.dumps([heavy, code]))
"""


def _heavy_imports(argv: list[str]) -> tuple[list[str], object]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)], capture_output=True, text=True, cwd=ROOT
    ).stdout
    heavy, code = json.loads(out.strip().splitlines()[-1])
    return heavy, code


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "policies"],
        ["test", "policies"],
        ["--version"],
        ["explain", "examples/cost-routing/request.json", "--policies", "policies"],
    ],
)
def test_light_commands_load_no_server_or_database_code(argv: list[str]) -> None:
    heavy, code = _heavy_imports(argv)
    assert code == 0
    assert heavy == []


def test_a_state_command_loads_the_drivers_only_when_it_runs() -> None:
    heavy, _ = _heavy_imports(["db", "status"])
    assert "sqlalchemy" in heavy


def test_version() -> None:
    out = subprocess.run([sys.executable, "-m", "engine", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and out.stdout.strip() == f"turnout {__version__}"
