"""Install anywhere: the project's wheel (not the editable checkout) carries the starter
policy, ``turnout init`` writes it into an empty directory with a ``.env.example``, and
``turnout serve`` answers on it; without a policy, ``serve`` says to run ``init``.

The wheel is built by pip from this checkout and unpacked into a directory that the child
processes put first on their path (its dependencies come from this environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import start_gateway

ROOT = Path(__file__).resolve().parents[2]


def _clean_copy(target: Path) -> Path:
    """The repository's tracked files (as a fresh clone has them; symlinks kept), so a stale
    ``build/`` left by an earlier in-tree build cannot leak old files into the wheel."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], check=True, capture_output=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source, copy = ROOT / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the work tree, not yet committed
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy, follow_symlinks=False)
    return target


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    out = tmp_path_factory.mktemp("wheel")
    source = _clean_copy(tmp_path_factory.mktemp("source"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("turnout-*.whl")
    target = out / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    yield wheel, target


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("TURNOUT_POLICY_DIR", None)
    return subprocess.run([sys.executable, "-m", "engine", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_the_wheel_carries_the_starter_policy_as_shipped(unpacked: tuple[Path, Path]) -> None:
    wheel, _ = unpacked
    with zipfile.ZipFile(wheel) as archive:
        shipped = {
            name.removeprefix("engine/starter_policy/"): archive.read(name)
            for name in archive.namelist()
            if name.startswith("engine/starter_policy/")
        }
    expected = {str(p.relative_to(ROOT / "policies")): p.read_bytes() for p in (ROOT / "policies").rglob("*.toml")}
    assert expected and shipped == expected


def test_init_then_serve_from_the_installed_wheel(unpacked: tuple[Path, Path], tmp_path: Path) -> None:
    _, site = unpacked
    probe = subprocess.run(
        [sys.executable, "-c", "import engine; print(engine.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip().startswith(str(site))  # the wheel's code, not the checkout's

    refused = _run(site, tmp_path, "serve", "--port", "1")
    assert refused.returncode == 1
    assert "run `turnout init`" in refused.stderr

    done = _run(site, tmp_path, "init")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "policies").glob("*.toml")) == sorted(
        p.name for p in (ROOT / "policies").glob("*.toml")
    )
    env_example = (tmp_path / ".env.example").read_text()
    for variable in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "DEEPSEEK_API_KEY"):
        assert f"\n{variable}=\n" in env_example
    assert _run(site, tmp_path, "check", "policies").returncode == 0
    again = _run(site, tmp_path, "init")
    assert again.returncode == 1 and "use --force" in again.stderr

    with start_gateway(tmp_path / "policies", {"PYTHONPATH": str(site)}, workdir=tmp_path / "run") as gateway:
        reply = httpx.post(
            f"{gateway.base_url}/v1/chat/completions",
            json={"model": "auto", "messages": [{"role": "user", "content": "hello from a wheel"}]},
            timeout=10,
        )
    assert reply.status_code == 200, reply.text
    assert "hello from a wheel" in reply.json()["choices"][0]["message"]["content"]
