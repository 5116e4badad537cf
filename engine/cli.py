"""The ``turnout`` command: serve, check, test, explain, replay, diff and drift (and the
key/credit/usage/db commands of the state store, and ``batch``).

``check`` and ``serve`` run the same load path: a policy that fails ``turnout check``
never starts a server. Each command imports what it needs when it runs (the server, the
database drivers, the providers), so every command starts quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import logging
import os
import random
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import __version__
from engine.batch.cli import register as register_batch_commands
from engine.canary.cli import register as register_canary_commands
from engine.console.cli import register as register_account_commands
from engine.drift.cli import register as register_drift_command
from engine.policy.check import run_check
from engine.policy.load import load_policy
from engine.policy.secrets import process_env
from engine.replay.cli import register as register_replay_commands
from engine.state.cli import StateConfig
from engine.state.cli import register as register_state_commands

if TYPE_CHECKING:
    from engine.policy.compiled import CompiledPolicy
    from engine.settings import Settings

log = logging.getLogger("turnout")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse(problem: str) -> int:
    print(f"refusing to start: {problem}", file=sys.stderr)
    return 1


def cmd_serve(args: argparse.Namespace) -> int:
    from engine.http.port_probe import listen_problem
    from engine.observability import multiproc as metrics_dir
    from engine.observability.log_setup import configure_logging
    from engine.settings import SettingsError, load_settings
    from engine.state import StateConfigError

    overrides = {
        "TURNOUT_HOST": args.host,
        "TURNOUT_PORT": None if args.port is None else str(args.port),
        "TURNOUT_POLICY_DIR": args.policies,
        "TURNOUT_WORKERS": None if args.workers is None else str(args.workers),
        "TURNOUT_LOG_LEVEL": args.log_level,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[name] = value  # the Granian workers read their settings from the environment
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _refuse(str(exc))
    configure_logging(settings.log_level, json=settings.log_format == "json", sql=settings.log_sql)
    if not settings.policy_dir.is_dir():
        return _refuse(
            f"the policy directory {settings.policy_dir} does not exist: run `turnout init` to write the "
            "starter policy there, or point TURNOUT_POLICY_DIR (or --policies) at yours"
        )
    busy = listen_problem(settings.host, settings.port)
    if busy is not None:
        return _refuse(busy)
    result = load_policy(settings.policy_dir, process_env().read())
    for diagnostic in result.diagnostics:
        print(str(diagnostic), file=sys.stderr)
    if result.policy is None:
        return _refuse(f"the policy in {settings.policy_dir} has errors (see above)")
    try:
        problem = asyncio.run(_preflight(settings))
    except StateConfigError as exc:
        problem = str(exc)
    # again, so the time between this check and Granian's own bind is as short as it can be
    problem = problem or listen_problem(settings.host, settings.port)
    if problem is not None:
        return _refuse(problem)
    from granian.constants import Interfaces

    from engine.http.graceful import GracefulGranian, graceful_options

    log.info("turnout listening on http://%s:%d (%d worker(s))", settings.host, settings.port, settings.workers)
    shared_metrics = metrics_dir.prepare(os.environ)  # before any import of prometheus_client
    try:
        GracefulGranian(
            "engine.http.app:create_app",
            address=settings.host,
            port=settings.port,
            interface=Interfaces.ASGI,
            workers=settings.workers,
            factory=True,
            log_enabled=False,
            **granian_tuning(),
            **graceful_options(settings.drain_timeout),
        ).serve()
    finally:
        metrics_dir.cleanup(shared_metrics)
    return 0


def granian_tuning() -> dict[str, Any]:
    """Granian options measured on the data plane (tests/bench/bench_gateway.py): the uvloop
    event loop roughly doubles what one worker serves (asyncio's own loop is the fallback
    where uvloop does not exist, e.g. Windows)."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return {"loop": "asyncio"}
    return {"loop": "uvloop"}


async def _preflight(settings: Settings) -> str | None:
    """What would make the server unsafe or broken, said before any worker starts: the
    state store cannot open (unreachable, schema, Redis for several workers), or the
    gateway would be open (no key configured, and none ever stored) on a non-loopback
    address."""
    from engine.keyed_gate import CLOSED_WITHOUT_KEYS, open_store

    presence = None
    if settings.key_management:
        state = await open_store(settings)
        try:
            presence = await state.keys.presence()
        finally:
            await state.close()
    static = bool(settings.static_keys())
    open_mode = not static and (presence is None or not presence.ever)
    if open_mode and not _is_loopback(settings.host):
        return (
            f"no API key is configured, so the gateway would be open to anyone on {settings.host}: "
            "set TURNOUT_API_KEYS or create a key with `turnout keys create`, or listen on 127.0.0.1"
        )
    if open_mode:
        log.warning("no API keys configured: the gateway is OPEN to anyone who can reach %s", settings.host)
    elif not static and presence is not None and not presence.any_now:
        log.warning(CLOSED_WITHOUT_KEYS)
    return None


def cmd_check(args: argparse.Namespace) -> int:
    directory = Path(args.directory) if args.directory else _settings().policy_dir
    code, lines = run_check(directory, process_env().read())
    for line in lines:
        print(line)
    return code


def cmd_init(args: argparse.Namespace) -> int:
    from engine.starter import init

    directory = Path(args.directory)
    env_file = directory.parent / ".env.example" if args.env_example is None else Path(args.env_example)
    try:
        written = init(directory, env_file, force=args.force)
    except FileExistsError as exc:
        print(f"error: not overwriting {exc} (use --force)", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(f"next: turnout check {directory} && turnout serve --policies {directory}")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from engine.policy_tests.command import run_policy_tests

    directory = Path(args.directory) if args.directory else _settings().policy_dir
    return run_policy_tests(directory, Path(args.junit_xml) if args.junit_xml else None)


def cmd_explain(args: argparse.Namespace) -> int:
    import orjson

    from engine.errors import GatewayError
    from engine.explain import explain_plan, render_text
    from engine.routing.facts import request_facts
    from engine.routing.health import Health
    from engine.routing.plan import KeyFacts, plan
    from providers.registry import build_registry

    directory = Path(args.policies) if args.policies else _settings().policy_dir
    result = load_policy(directory, process_env().read())
    if result.policy is None:
        for diagnostic in result.diagnostics:
            print(str(diagnostic), file=sys.stderr)
        return 1
    policy = result.policy
    if args.canary:
        if policy.canary is None:
            print(f"error: the policy in {directory} has no [canary]", file=sys.stderr)
            return 1
        policy = policy.canary.policy
    try:
        body = orjson.loads(Path(args.request).read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        print(f"cannot read {args.request}: {exc}", file=sys.stderr)
        return 1
    if args.model:
        body["model"] = args.model
    try:
        request = build_registry().codec("openai").decode_request(body)
        facts = request_facts(request, {}, policy.request_headers)
        route = plan(facts, policy, Health(), KeyFacts(), datetime.now(UTC), random.Random(0))
    except GatewayError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 1
    explained = explain_plan(route, facts, policy.version, policy)
    if args.json:
        print(orjson.dumps(explained, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render_text(explained))
    return 0


def _settings() -> Settings:
    from engine.settings import load_settings

    return load_settings()


def _serve_epilog(argv: Sequence[str]) -> str | None:
    """Every setting, for ``turnout serve --help`` (the settings module is only loaded then)."""
    if list(argv[:1]) != ["serve"] or not {"-h", "--help"} & set(argv):
        return None
    from engine.settings import settings_help

    return settings_help()


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="turnout", description="Turnout: an AI API gateway routed by policy in git")
    parser.add_argument("--version", action="version", version=f"turnout {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser(
        "serve",
        help="run the gateway",
        epilog=_serve_epilog(argv),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--policies", help="policy directory (default ./policies)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="validate a policy directory (for CI): exit 1 on any error")
    check.add_argument("directory", nargs="?", help="policy directory (default ./policies)")
    check.set_defaults(func=cmd_check)

    init = sub.add_parser("init", help="write the starter policy (commented) and a .env.example")
    init.add_argument("directory", nargs="?", default="policies", help="where to write it (default ./policies)")
    init.add_argument("--env-example", help="where to write .env.example (default: beside the directory)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(func=cmd_init)

    test = sub.add_parser("test", help="run the policy's tests (exit 1 on a failure, 2 when they do not load)")
    test.add_argument("directory", nargs="?", help="policy directory (default ./policies)")
    test.add_argument("--junit-xml", metavar="PATH", help="also write a JUnit XML report (for CI)")
    test.set_defaults(func=cmd_test)

    explain = sub.add_parser("explain", help="show how a request would be routed, without calling upstreams")
    explain.add_argument("request", help="an OpenAI chat completion request body (JSON file)")
    explain.add_argument("--model", help="override the request's model")
    explain.add_argument("--policies", help="policy directory (default ./policies)")
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.add_argument("--canary", action="store_true", help="on the policy's canary candidate (canary/)")
    explain.set_defaults(func=cmd_explain)

    register_state_commands(sub, _state_config)
    register_account_commands(sub, _state_config)
    register_replay_commands(sub, _state_config)
    register_canary_commands(sub, _state_config)
    register_drift_command(sub, _state_config, lambda: _settings().policy_dir)
    register_batch_commands(sub)
    return parser


def _state_config() -> StateConfig:
    settings = _settings()

    def policy() -> CompiledPolicy:
        result = load_policy(settings.policy_dir, process_env().read())
        if result.policy is None:
            raise ValueError(f"the policy in {settings.policy_dir} has errors: run `turnout check`")
        return result.policy

    return StateConfig(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        secret_key=settings.secret_key,
        load_policy=policy,
        byok_key=settings.byok_key,
        byok_old_keys=settings.byok_old_keys,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a configuration error is one line on stderr and exit status 1."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.func(args)
    except Exception as exc:
        from engine.settings import SettingsError
        from engine.state import StateConfigError

        if not isinstance(exc, SettingsError | StateConfigError):
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
