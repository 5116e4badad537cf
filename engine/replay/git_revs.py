"""A policy directory as it is at a git revision, read without touching the work tree.

``git archive REV -- PATH`` streams the tree into a temporary directory (extracted with
tarfile's ``data`` filter: no links out, no devices); the caller loads the policy from there
and the directory is removed afterwards. ``PATH`` is taken relative to the current
directory, as git itself takes paths.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RevisionError(ValueError):
    """The revision or the path in it does not exist, or this is not a git repository."""


def _git(cwd: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise RevisionError("git is not installed") from None
    if done.returncode != 0:
        raise RevisionError(done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
    return done.stdout


def describe(cwd: Path, revision: str) -> str:
    """``main (1a2b3c4)``: the name as given and the short commit it resolves to."""
    commit = _git(cwd, "rev-parse", "--verify", "--quiet", "--short", f"{revision}^{{commit}}").decode().strip()
    return f"{revision} ({commit})" if commit and not commit.startswith(revision) else revision


@contextmanager
def policy_at(revision: str, policy_path: str, cwd: Path | None = None) -> Iterator[Path]:
    """Yield a temporary directory holding ``policy_path`` as it is at ``revision``."""
    where = cwd or Path.cwd()
    try:
        _git(where, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except RevisionError:
        raise RevisionError(f"'{revision}' is not a commit in this repository") from None
    prefix = _git(where, "rev-parse", "--show-prefix").decode().strip()
    top = Path(_git(where, "rev-parse", "--show-toplevel").decode().strip())
    inside = (Path(prefix) / policy_path).as_posix().rstrip("/")
    listed = _git(top, "ls-tree", "--name-only", revision, "--", inside).decode().strip()
    if not listed:
        raise RevisionError(f"'{policy_path}' does not exist at {revision}")
    archive = _git(top, "archive", "--format=tar", revision, "--", inside)
    with tempfile.TemporaryDirectory(prefix="turnout-diff-") as temp:
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(temp, filter="data")
        yield Path(temp) / inside
