"""The real Codex CLI (``@openai/codex``, pinned in ``clis/package.json``), run non-interactively.

``ensure_installed()`` installs the pinned CLIs with ``npm ci`` when ``node_modules`` lacks the
binary (``.ci/run`` does the same up front) and fails loudly when it cannot: a missing CLI is
never a silent skip. ``run_codex(...)`` writes a throw-away ``CODEX_HOME`` whose
``config.toml`` names one model provider (``base_url`` = the gateway's ``/v1``,
``wire_api = "responses"``, the key read from ``env_key``) and runs
``codex exec --dangerously-bypass-approvals-and-sandbox`` in ``workdir``: the same two-step
setup the README shows a user. With ``freeform_patch=True`` the config also points
``model_catalog_json`` at a catalog entry for the alias saying its ``apply_patch_tool_type`` is
``freeform``, the way Codex describes its own GPT-5 models: Codex then declares ``apply_patch``
as a ``custom`` (free-form, grammar-constrained) tool.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.agents.pinned_clis import installed

VERSION = "0.171.0"
KEY_ENV = "TURNOUT_API_KEY"
RUN_TIMEOUT = 180.0
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")

CONFIG = """\
model = "{model}"
model_provider = "turnout"

[model_providers.turnout]
name = "Turnout"
base_url = "{base_url}/v1"
env_key = "{key_env}"
wire_api = "responses"
"""


def catalog_entry(model: str) -> dict[str, object]:
    """A ``model_catalog_json`` entry (Codex's ``ModelInfo``) for ``model`` with a free-form
    ``apply_patch`` and the unified-exec shell tool."""
    return {
        "slug": model,
        "display_name": model,
        "description": "a Turnout alias",
        "supported_reasoning_levels": [],
        "shell_type": "unified_exec",
        "visibility": "list",
        "supported_in_api": True,
        "priority": 1,
        "upgrade": None,
        "base_instructions": "You are Codex, a coding agent. Use your tools to change files.",
        "supports_reasoning_summaries": False,
        "support_verbosity": False,
        "default_verbosity": None,
        "apply_patch_tool_type": "freeform",
        "truncation_policy": {"mode": "bytes", "limit": 10000},
        "supports_parallel_tool_calls": True,
        "context_window": 200000,
        "experimental_supported_tools": [],
    }


def ensure_installed() -> Path:
    """The codex binary (see ``pinned_clis``)."""
    return installed("codex", VERSION)


@dataclass(frozen=True)
class CodexRun:
    returncode: int
    stdout: str
    stderr: str
    last_message: str  # what ``--output-last-message`` wrote: the agent's final answer

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_codex(
    base_url: str,
    model: str,
    prompt: str,
    workdir: Path,
    key: str = "sk-turnout-e2e",
    *,
    freeform_patch: bool = False,
) -> CodexRun:
    """``codex exec`` against the gateway at ``base_url`` asking for ``model`` (an alias)."""
    binary = ensure_installed()
    with tempfile.TemporaryDirectory(prefix="codex-home-") as home:
        codex_home = Path(home) / "codex"
        codex_home.mkdir()
        config = CONFIG.format(model=model, base_url=base_url, key_env=KEY_ENV)
        if freeform_patch:
            catalog = Path(home) / "catalog.json"
            catalog.write_text(json.dumps({"models": [catalog_entry(model)]}))
            config = f"model_catalog_json = {json.dumps(str(catalog))}\n" + config
        (codex_home / "config.toml").write_text(config)
        last = Path(home) / "last-message.txt"
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env.update({"HOME": home, "CODEX_HOME": str(codex_home), KEY_ENV: key, "NO_COLOR": "1"})
        command = [
            str(binary),
            "exec",
            "--skip-git-repo-check",
            "--dangerously-bypass-approvals-and-sandbox",
            "--ephemeral",
            "--color",
            "never",
            "--output-last-message",
            str(last),
            prompt,
        ]
        done = subprocess.run(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        message = last.read_text() if last.exists() else ""
    return CodexRun(done.returncode, done.stdout, done.stderr, message)
