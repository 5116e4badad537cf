"""The coding-agent CLIs the agent e2e tests drive, pinned in ``clis/package.json``.

``installed(name, version)`` is a CLI's binary, after ``npm ci`` installed the pinned CLIs
when ``node_modules`` lacks it (``.ci/run`` does the same up front), checked to be the pinned
version. A CLI that cannot be installed fails the test loudly: it is never a silent skip.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

CLIS = Path(__file__).resolve().parent / "clis"
INSTALL_TIMEOUT = 600.0


class CliUnavailable(RuntimeError):
    pass


def installed(name: str, version: str) -> Path:
    binary = CLIS / "node_modules" / ".bin" / name
    if not binary.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise CliUnavailable("npm is not on PATH: install Node.js (apt-get install nodejs npm)")
        done = subprocess.run(
            [npm, "ci", "--prefix", str(CLIS), "--no-audit", "--no-fund", "--loglevel=error"],
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        if done.returncode != 0 or not binary.exists():
            raise CliUnavailable(f"npm ci in {CLIS} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    found = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False)
    if version not in found.stdout:
        raise CliUnavailable(f"expected {name} {version}, found: {found.stdout or found.stderr}")
    return binary
