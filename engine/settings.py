"""Process settings: environment variables prefixed ``TURNOUT_`` (and a ``.env`` file).

Policy (channels, models, aliases, groups, prices) lives in the policy files; these are
the few things that belong to the process: where the policy is, where to listen, secrets
of the gateway itself, and limits of the HTTP layer.

``load_settings()`` is how the CLI and the server read them: a value that cannot be used
(a port that is not a number, a database URL of an unsupported kind, a CIDR that does not
parse...) is a ``SettingsError`` whose message is one line naming the variable, never a
validation dump. Secret values (keys, tokens, URLs that may hold a password) are never
repeated in it.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values a message must not repeat: they are or may contain secrets.
_SECRET_FIELDS = frozenset({"api_keys", "secret_key", "admin_token", "database_url", "redis_url"})
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


class SettingsError(ValueError):
    """A ``TURNOUT_*`` setting cannot be used; ``str()`` is one line naming it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TURNOUT_", env_file=".env", extra="ignore")

    policy_dir: Path = Field(Path("policies"), description="directory of *.toml policy files")
    host: str = Field("127.0.0.1", min_length=1, description="address to listen on")
    port: int = Field(8080, ge=1, le=65535, description="port to listen on")
    workers: int = Field(1, ge=1, description="worker processes (more than one needs TURNOUT_REDIS_URL)")
    log_level: str = Field("info", description="debug, info, warning or error")
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or one JSON object each")
    log_sql: bool = Field(False, description="log the database drivers' statements (off: only their warnings)")
    access_log: bool = Field(True, description="one line per request on the turnout.access logger (INFO)")
    body_limit: int = Field(10 * 1024 * 1024, ge=1, description="largest accepted request body (decoded), bytes")
    image_body_limit: int = Field(
        50 * 1024 * 1024, ge=1, description="largest accepted image request body (an edit's uploads), bytes"
    )
    image_timeout: float = Field(
        300.0, gt=0, description="upstream first-byte and total timeout of image requests, seconds"
    )
    image_url_ttl: float = Field(3600.0, gt=0, description="how long an image answered as a url is served, seconds")
    public_url: str | None = Field(
        None,
        description="the gateway's public base URL, for image urls and console snippets (default: the request's Host)",
    )
    api_keys: str = Field("", description="comma-separated static API keys (Bearer)")
    connect_timeout: float = Field(5.0, gt=0, description="default upstream connect timeout, seconds")
    first_byte_timeout: float = Field(60.0, gt=0, description="default upstream time-to-first-byte, seconds")
    total_timeout: float = Field(300.0, gt=0, description="default upstream total timeout, seconds")
    idle_timeout: float = Field(30.0, gt=0, description="default max silence inside an upstream stream, seconds")
    pool_size: int = Field(1000, ge=1, description="upstream connections per worker, all hosts")
    pool_per_host: int = Field(0, ge=0, description="upstream connections per host (0 = no cap beyond pool_size)")
    reload_debounce_ms: int = Field(50, ge=0, description="policy watcher debounce, milliseconds")
    watch: bool = Field(True, description="hot-reload the policy directory on change")
    data_dir: Path = Field(Path(".turnout"), description="embedded store directory (SQLite)")
    database_url: str | None = Field(
        None, description="PostgreSQL URL for shared state (replicas): postgresql://USER@HOST/DB"
    )
    redis_url: str | None = Field(None, description="Redis URL for shared rate limits and revocation")
    secret_key: str | None = Field(None, description="HMAC key for API key hashes (default: generated in data_dir)")
    admin_token: str | None = Field(None, description="bearer token for the /admin API")
    trusted_proxies: str = Field("", description="comma-separated CIDRs whose X-Forwarded-For is trusted")
    key_management: bool = Field(True, description="use the key store (sk-trn-... keys) in addition to api_keys")
    batch_per_key: int = Field(4, ge=1, description="batch job requests in flight at once per API key")
    batch_per_channel: int = Field(
        4, ge=1, description="batch job requests in flight at once per channel (interactive traffic is not counted)"
    )
    batch_callback_allow_private: bool = Field(
        False, description="let batch callbacks reach loopback, private and link-local addresses"
    )
    batch_callback_backoff: float = Field(2.0, gt=0, description="first retry delay of a failed batch callback, s")
    registration: Literal["open", "invite", "closed"] = Field(
        "invite", description="console sign-up: open, invite (a code from an admin) or closed"
    )
    console_groups: str = Field("default", description="comma-separated key groups console users may choose")
    console_prepaid: bool = Field(True, description="accounts registered in the console spend bought credits")
    byok_key: str | None = Field(None, description="32 bytes, base64: seals callers' own provider keys (BYOK) at rest")
    byok_old_keys: str = Field("", description="earlier TURNOUT_BYOK_KEY values, comma-separated, during a rotation")
    drain_timeout: float = Field(
        20.0,
        ge=0,
        description="on SIGTERM, seconds in-flight answers get to finish before they are cut cleanly "
        "(keep it below the orchestrator's grace period: Kubernetes' default is 30)",
    )

    @field_validator("log_format", mode="before")
    @classmethod
    def _format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value

    @field_validator("database_url", "redis_url", "secret_key", "admin_token", "byok_key", "public_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from engine.state.db import DatabaseConfigError, normalize_database_url  # the drivers, only when set

        try:
            return normalize_database_url(value)
        except DatabaseConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("byok_key", "byok_old_keys")
    @classmethod
    def _byok_keys(cls, value: str | None) -> str | None:
        from engine.byok.vault import VaultError, parse_key  # cryptography, only when set

        for part in (value or "").split(","):
            if part.strip():
                try:
                    parse_key(part, "the key")
                except VaultError as exc:
                    raise ValueError(str(exc)) from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().lower().startswith(_REDIS_SCHEMES):
            raise ValueError("must start with redis://, rediss:// or unix:// (e.g. redis://127.0.0.1:6379/0)")
        return value.strip() if value is not None else None

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < 16:
            raise ValueError("must be at least 16 bytes long")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: str) -> str:
        for entry in (p.strip() for p in value.split(",")):
            if entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an IP address or CIDR range") from None
        return value

    def static_keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    def proxy_networks(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]


def _problem(error: Any) -> str:
    """One pydantic error as ``TURNOUT_NAME: what is wrong (got 'value')``."""
    field = str(error["loc"][0]) if error.get("loc") else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    shown = ""
    if field and field not in _SECRET_FIELDS and "input" in error and isinstance(error["input"], str | int | float):
        shown = f" (got {error['input']!r})"
    name = f"TURNOUT_{field.upper()}" if field else "settings"
    return f"{name}: {message}{shown}"


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and ``.env``), or a one-line ``SettingsError``."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError("; ".join(_problem(error) for error in exc.errors())) from None


def settings_help() -> str:
    """The TURNOUT_* variables with defaults, for ``turnout serve --help``."""
    lines = ["environment (also read from .env):"]
    for name, info in Settings.model_fields.items():
        default = info.default
        shown = "" if default is None or default == "" else f" (default: {default})"
        lines.append(f"  TURNOUT_{name.upper():<22} {info.description}{shown}")
    return "\n".join(lines)
