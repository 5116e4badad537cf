"""The real Claude Code CLI (``@anthropic-ai/claude-code``, pinned in ``clis/package.json``),
run non-interactively.

``ensure_installed()`` installs the pinned CLIs with ``npm ci`` when ``node_modules`` lacks the
binary (``.ci/run`` does the same up front) and fails loudly when it cannot: a missing CLI is
never a silent skip. ``run_claude(...)`` runs ``claude -p`` in ``workdir`` with a throw-away
``HOME`` and only the two variables the README's client setup shows (``ANTHROPIC_BASE_URL``,
``ANTHROPIC_API_KEY``) plus the model alias and the switches that keep a test run quiet
(no telemetry, no non-essential traffic). ``--allowedTools`` lets the named tools run without
a prompt (``--dangerously-skip-permissions`` is refused as root).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.agents.pinned_clis import installed

VERSION = "2.1.332"
RUN_TIMEOUT = 180.0
_INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


def ensure_installed() -> Path:
    """The claude binary (see ``pinned_clis``)."""
    return installed("claude", VERSION)


@dataclass(frozen=True)
class ClaudeRun:
    returncode: int
    stdout: str  # with ``-p``: the final answer
    stderr: str

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def run_claude(
    base_url: str,
    model: str,
    prompt: str,
    workdir: Path,
    allowed_tools: Sequence[str] = ("Bash", "Read"),
    key: str = "sk-turnout-e2e",
) -> ClaudeRun:
    """``claude -p PROMPT`` against the gateway at ``base_url`` asking for ``model`` (an alias)."""
    binary = ensure_installed()
    with tempfile.TemporaryDirectory(prefix="claude-home-") as home:
        env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
        env.update(
            HOME=home,
            ANTHROPIC_BASE_URL=base_url,
            ANTHROPIC_API_KEY=key,
            ANTHROPIC_MODEL=model,
            DISABLE_TELEMETRY="1",
            CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        )
        args = [str(binary), "-p", prompt, "--output-format", "text", "--allowedTools", *allowed_tools]
        done = subprocess.run(
            args, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
    return ClaudeRun(done.returncode, done.stdout, done.stderr)
