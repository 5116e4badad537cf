"""The ``turnout`` command line as a child process, with the same settings as the gateway
under test (``TURNOUT_DATA_DIR`` / ``TURNOUT_DATABASE_URL`` / ``TURNOUT_POLICY_DIR`` ...).

``TurnoutCli(env, cwd).run("keys", "disable", "ops")`` returns stdout and fails the test
with the command's stderr when it exits non-zero; ``start`` runs one in the background
(a command costs about 1.5 s of interpreter start, so fixtures overlap them).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import orjson

from tests.e2e_keys.admin import CreatedKey
from tests.support.gateway import gateway_env

CLI_TIMEOUT = 60.0


def turnout_command() -> list[str]:
    """The installed ``turnout`` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("turnout")
    return [str(script)] if script.exists() else [sys.executable, "-m", "engine"]


@dataclass(frozen=True, slots=True)
class Running:
    """A CLI command started with ``TurnoutCli.start``."""

    args: tuple[str, ...]
    process: subprocess.Popen[bytes]

    def wait(self) -> str:
        """Its stdout; an ``AssertionError`` with stderr when it failed."""
        out, err = self.process.communicate(timeout=CLI_TIMEOUT)
        assert self.process.returncode == 0, (
            f"turnout {' '.join(self.args)} exited {self.process.returncode}: {err.decode(errors='replace')}"
        )
        return out.decode()


@dataclass(frozen=True, slots=True)
class TurnoutCli:
    env: Mapping[str, str]  # TURNOUT_* and the policy's variables, as the gateway gets them
    cwd: Path  # not the repository: a .env there must not leak in
    data_dir: Path

    def start(self, *args: str) -> Running:
        process = subprocess.Popen(
            [*turnout_command(), *args],
            cwd=self.cwd,
            env=gateway_env(self.env, self.data_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        return Running(args, process)

    def run(self, *args: str) -> str:
        return self.start(*args).wait()

    def start_create_key(self, name: str, *flags: str) -> Running:
        return self.start("keys", "create", name, *flags, "--json")


def created_key(stdout: str) -> CreatedKey:
    """The key printed by ``turnout keys create ... --json``."""
    data = orjson.loads(stdout)
    key = data["key"]
    return CreatedKey(str(key["id"]), str(key["name"]), str(key["account"]), str(data["secret"]))
