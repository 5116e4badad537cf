"""Process settings: environment variables prefixed ``TURNOUT_`` (and a ``.env`` file).

Policy (channels, models, aliases, groups, prices) lives in the policy files; these are
the few things that belong to the process: where the policy is, where to listen, secrets
of the gateway itself, and limits of the HTTP layer.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TURNOUT_", env_file=".env", extra="ignore")

    policy_dir: Path = Field(Path("policies"), description="directory of *.toml policy files")
    host: str = Field("127.0.0.1", description="address to listen on")
    port: int = Field(8080, description="port to listen on")
    workers: int = Field(1, description="worker processes (more than one needs TURNOUT_REDIS_URL)")
    log_level: str = Field("info", description="debug, info, warning or error")
    body_limit: int = Field(10 * 1024 * 1024, description="largest accepted request body, bytes")
    api_keys: str = Field("", description="comma-separated static API keys (Bearer)")
    connect_timeout: float = Field(5.0, description="default upstream connect timeout, seconds")
    first_byte_timeout: float = Field(60.0, description="default upstream time-to-first-byte, seconds")
    total_timeout: float = Field(300.0, description="default upstream total timeout, seconds")
    idle_timeout: float = Field(30.0, description="default max silence inside an upstream stream, seconds")
    pool_size: int = Field(1000, description="upstream connections per worker, all hosts")
    pool_per_host: int = Field(0, description="upstream connections per host (0 = no cap beyond pool_size)")
    reload_debounce_ms: int = Field(50, description="policy watcher debounce, milliseconds")
    watch: bool = Field(True, description="hot-reload the policy directory on change")
    data_dir: Path = Field(Path(".turnout"), description="embedded store directory (SQLite)")
    database_url: str | None = Field(None, description="PostgreSQL URL for shared state (replicas)")
    redis_url: str | None = Field(None, description="Redis URL for shared rate limits and revocation")
    secret_key: str | None = Field(None, description="HMAC key for API key hashes (default: generated in data_dir)")
    admin_token: str | None = Field(None, description="bearer token for the /admin API")
    trusted_proxies: str = Field("", description="comma-separated CIDRs whose X-Forwarded-For is trusted")
    key_management: bool = Field(True, description="use the key store (sk-trn-... keys) in addition to api_keys")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value

    def static_keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    def proxy_networks(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]


def settings_help() -> str:
    """The TURNOUT_* variables with defaults, for ``turnout serve --help``."""
    lines = ["environment (also read from .env):"]
    for name, info in Settings.model_fields.items():
        default = info.default
        shown = "" if default is None or default == "" else f" (default: {default})"
        lines.append(f"  TURNOUT_{name.upper():<22} {info.description}{shown}")
    return "\n".join(lines)
