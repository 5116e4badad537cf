"""A gateway deployment for a test module: a policy directory, the settings every process
of it shares (gateways and ``turnout`` CLI runs alike), and a way to start gateways."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.e2e_keys.turnout_cli import TurnoutCli
from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.policy_files import write_policy

FAKE_KEY = "sk-fake-upstream-secret"
ADMIN_TOKEN = "e2e-keys-admin-token"


@dataclass(frozen=True, slots=True)
class Deployment:
    root: Path
    policy_dir: Path
    data_dir: Path
    env: Mapping[str, str]
    cli: TurnoutCli

    def start(self, name: str = "gateway", workers: int = 1) -> GatewayProcess:
        """Start a gateway of this deployment (its logs under ``root/name``)."""
        return start_gateway(self.policy_dir, self.env, workers, workdir=self.root / name)


def deployment(root: Path, policy_toml: str, env: Mapping[str, str] | None = None) -> Deployment:
    policy_dir = root / "policies"
    write_policy(policy_dir, policy_toml)
    data_dir = root / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = {
        "FAKE_KEY": FAKE_KEY,
        "TURNOUT_ADMIN_TOKEN": ADMIN_TOKEN,
        "TURNOUT_POLICY_DIR": str(policy_dir),
        "TURNOUT_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    cli = TurnoutCli(settings, root, data_dir)
    return Deployment(root, policy_dir, data_dir, settings, cli)
