"""``/readyz`` tells the truth: not ready while the database or Redis cannot be reached, ready
again when they return, with no restart; ``/healthz`` (alive) stays 200 throughout.

The gateway reaches the real PostgreSQL and Redis through a ``TcpRelay`` that the test cuts,
so the shared services themselves keep running for everyone else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e_keys.deployment import Deployment, deployment
from tests.e2e_keys.services import PG_URL, REDIS_URL, fresh_database
from tests.support.gateway import GatewayProcess
from tests.support.tcp_relay import TcpRelay

POLICY = """
[channels.demo]
format = "openai"
base_url = "demo://local"
models = ["demo-echo"]

[models.demo-echo]
price = { input = 0.0, output = 0.0 }
"""
DEADLINE = 10.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployment, GatewayProcess, TcpRelay, TcpRelay]]:
    pg_port = sa.make_url(PG_URL).port or 5432
    redis_port = httpx.URL(REDIS_URL).port or 6379
    with fresh_database() as database_url, TcpRelay(pg_port) as pg, TcpRelay(redis_port) as redis:
        relayed = sa.make_url(database_url).set(port=pg.port).render_as_string(hide_password=False)
        env = {
            "TURNOUT_DATABASE_URL": relayed,
            "TURNOUT_REDIS_URL": str(httpx.URL(REDIS_URL).copy_with(port=redis.port)),
            "TURNOUT_API_KEYS": "sk-readiness-operator",
        }
        where = deployment(Path(tmp_path_factory.mktemp("readiness")), POLICY, env)
        assert "current" in where.cli.run("db", "upgrade").lower()
        gateway = where.start()
        try:
            yield where, gateway, pg, redis
        finally:
            gateway.stop()


def _ready(gateway: GatewayProcess) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{gateway.base_url}/readyz", timeout=5)
    return response.status_code, response.json()


def _wait(gateway: GatewayProcess, status: int) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        code, document = _ready(gateway)
        if code == status:
            return document
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz still {code}: {document}")
        time.sleep(0.1)


def _alive(gateway: GatewayProcess) -> int:
    return httpx.get(f"{gateway.base_url}/healthz", timeout=5).status_code


def test_ready_with_every_dependency_reachable(site: tuple[Deployment, GatewayProcess, TcpRelay, TcpRelay]) -> None:
    _, gateway, _, _ = site
    code, document = _ready(gateway)
    assert code == 200, document
    assert document["status"] == "ready"
    assert document["checks"]["database"] == {"ok": True}
    assert document["checks"]["redis"] == {"ok": True}
    assert document["checks"]["policy"]["ok"] is True


def test_not_ready_while_the_database_is_down_and_ready_when_it_returns(
    site: tuple[Deployment, GatewayProcess, TcpRelay, TcpRelay],
) -> None:
    _, gateway, pg, _ = site
    pg.cut()
    try:
        document = _wait(gateway, 503)
        assert document["status"] == "not ready"
        assert document["checks"]["database"]["ok"] is False and document["checks"]["database"]["error"]
        assert document["checks"]["redis"] == {"ok": True}
        assert _alive(gateway) == 200  # alive, just not ready
    finally:
        pg.restore()
    assert _wait(gateway, 200)["checks"]["database"] == {"ok": True}


def test_not_ready_while_redis_is_down_and_ready_when_it_returns(
    site: tuple[Deployment, GatewayProcess, TcpRelay, TcpRelay],
) -> None:
    _, gateway, _, redis = site
    redis.cut()
    try:
        document = _wait(gateway, 503)
        assert document["checks"]["redis"]["ok"] is False and document["checks"]["redis"]["error"]
        assert document["checks"]["database"] == {"ok": True}
        assert _alive(gateway) == 200
    finally:
        redis.restore()
    assert _wait(gateway, 200)["checks"]["redis"] == {"ok": True}
