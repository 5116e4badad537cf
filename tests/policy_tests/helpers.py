"""A policy directory for policy-test tests: the fixture policy plus test files written
by the test (tests/fixtures/policy_tests/policy.toml is a small policy made for these)."""

from __future__ import annotations

import shutil
from pathlib import Path

POLICY = Path(__file__).parent.parent / "fixtures" / "policy_tests" / "policy.toml"


def policy_dir(root: Path, files: dict[str, str]) -> Path:
    """``root/policies`` with the fixture policy and ``files`` (relative name -> text)."""
    directory = root / "policies"
    directory.mkdir(parents=True)
    shutil.copy(POLICY, directory / "policy.toml")
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return directory
