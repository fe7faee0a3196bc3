"""The configuration schema, defined once (YAML or TOML file; secrets as ``${ENV_VAR}`` references).

Later features extend these models; they do not invent a second configuration. ``qiao config schema``
exports the JSON Schema; ``docs/configuration.md`` is its reference.

Loading is the only place that reads the environment (for ``${VAR}`` references and ``QIAO_CONFIG``):
everything else receives the frozen :class:`Settings`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

__all__ = [
    "AccountConfig",
    "AccountLimits",
    "AdminConfig",
    "ConfigError",
    "DatabaseConfig",
    "GatewayKey",
    "GrantConfig",
    "LimitsConfig",
    "RouteConfig",
    "ServerConfig",
    "Settings",
    "TargetConfig",
    "TenantConfig",
    "hash_key",
    "load_settings",
    "settings_schema",
]

SLUG = r"^[a-z][a-z0-9_]*$"


class ConfigError(Exception):
    """A configuration problem; the message names the file, the key and what is wrong."""


# CPython's own SHA-256 (``_sha256`` on 3.11, ``_sha2`` from 3.12), not OpenSSL's through hashlib: the same
# digests (SHA-256 is one function; tests/test_config.py compares the two over many inputs), but for one
# short key OpenSSL's EVP path (context allocation, provider dispatch, init/update/final) is far more code
# than the digest itself, and it runs on every request (the server hashes the caller's key). hashlib's
# when neither module is built.
_sha256: Callable[[bytes], Any]
try:
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:  # pragma: no cover - a Python built without them
        _sha256 = hashlib.sha256


def hash_key(key: str) -> str:
    """How gateway keys are stored and compared: SHA-256 hex of the key."""
    return _sha256(key.encode()).hexdigest()  # type: ignore[no-any-return]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class ServerConfig(_Strict):
    host: str = "127.0.0.1"
    """Interface to bind (``0.0.0.0`` for all)."""
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    """TCP port."""
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    """Worker processes sharing the port (one event loop each)."""
    graceful_timeout_s: Annotated[float, Field(ge=0)] = 30.0
    """On SIGTERM: how long in-flight requests and streams may run on before they are cut."""
    max_body_bytes: Annotated[int, Field(ge=1024)] = 32 * 1024 * 1024
    """Larger request bodies get 413."""
    drop_params: bool = False
    """Default for every route: drop parameters a provider cannot honour (named in
    ``x-qiao-dropped-params``) instead of answering 400 ``unsupported_parameter``."""
    connect_timeout_s: Annotated[float, Field(gt=0)] = 10.0
    """Upstream TCP/TLS connect timeout."""
    first_byte_timeout_s: Annotated[float, Field(gt=0)] = 120.0
    """Upstream time to answer headers / first stream event."""
    total_timeout_s: Annotated[float, Field(gt=0)] = 600.0
    """Upstream time for a whole non-streaming answer."""
    allow_anonymous: bool = False
    """Serve requests without an API key (a private, local gateway). Off by default."""
    access_log: bool = False
    """uvicorn's access log (off: hot-path numbers go to metrics)."""
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Level of the JSON logs on stderr."""


class DatabaseConfig(_Strict):
    url: str = "sqlite:///qiao.db"
    """SQLAlchemy URL: ``sqlite:///path/qiao.db`` (default, WAL) or ``postgresql://…``."""
    redis_url: str | None = None
    """Set for multi-replica mode: rate limits, budget counters and breaker state live in Redis."""
    counters: Literal["auto", "memory", "sqlite", "redis"] = "auto"
    """Where rate-limit and budget counters live: ``auto`` = Redis with ``redis_url``, else a shared
    SQLite file when several workers run, else process memory."""
    redis_prefix: str = "qiao:"
    """Prefix of every Redis key qiao writes (several gateways may share one Redis)."""
    wal_dir: str | None = None
    """Local directory of the usage write-ahead log (records survive SIGKILL; replayed at start).
    Default: ``qiao-wal/`` next to the SQLite file, else ``./qiao-wal``."""
    flush_interval_ms: Annotated[int, Field(ge=1, le=10_000)] = 200
    """Group commit: usage records are written to the database in batches at this interval."""
    key_refresh_ms: Annotated[int, Field(ge=10, le=1000)] = 250
    """How often each process re-reads keys and tenants changed in the database (revocation,
    expiry, new limits take effect within this time plus one batch)."""


class AdminConfig(_Strict):
    key: SecretStr | None = None
    """Key for ``/admin/`` endpoints (``Authorization: Bearer``). Without it the admin API is off."""
    key_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """Or the admin key's SHA-256 (``qiao demo`` writes this form)."""

    @property
    def digest(self) -> str | None:
        if self.key is not None:
            return hash_key(self.key.get_secret_value())
        return self.key_sha256


class GatewayKey(_Strict):
    """A static gateway API key. Give either the key itself (hashed at load, never kept) or its
    SHA-256 (``qiao keys hash``)."""

    name: str
    key: SecretStr | None = None
    key_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    tenant: str | None = None
    models: list[str] | None = None
    """Models/aliases this key may use (``*`` wildcards allowed); unset = all."""
    budget: str | None = None
    """Spending cap of this key in CNY (decimal string, e.g. ``"50"``); unset = none."""
    budget_tokens: Annotated[int, Field(ge=0)] | None = None
    """Token cap (prompt + completion) of this key; unset = none."""
    reset: Literal["none", "daily", "monthly"] = "none"
    """When the key's budget starts again (UTC calendar day or month)."""
    rpm: Annotated[int, Field(ge=1)] | None = None
    """Requests per minute for this key."""
    tpm: Annotated[int, Field(ge=1)] | None = None
    """Tokens per minute for this key (reserved at admission, corrected at settlement)."""

    @model_validator(mode="after")
    def _one_form(self) -> GatewayKey:
        if (self.key is None) == (self.key_sha256 is None):
            raise ValueError("give exactly one of 'key' or 'key_sha256'")
        return self

    @property
    def digest(self) -> str:
        return self.key_sha256 or hash_key(self.key.get_secret_value())  # type: ignore[union-attr]


class AccountLimits(_Strict):
    """Outbound caps matching the account's real quota, enforced before a request is sent: a request
    waits up to ``max_wait_s`` in a bounded queue, else goes to the route's next target."""

    rpm: Annotated[int, Field(ge=1)] | None = None
    """Requests per minute (unset: the provider's documented default, if any, see ``provider_defaults``)."""
    tpm: Annotated[int, Field(ge=1)] | None = None
    """Tokens per minute (estimated prompt + ``max_tokens`` when sent, corrected to the real usage)."""
    concurrency: Annotated[int, Field(ge=1)] | None = None
    """Requests in flight at once."""
    max_wait_s: Annotated[float, Field(ge=0)] = 2.0
    """Longest a request waits for room before trying the next target (0 = never wait)."""
    queue: Annotated[int, Field(ge=0)] = 64
    """Most requests waiting for this account at once; more go to the next target at once."""
    provider_defaults: bool = True
    """Apply the provider's documented default quota (e.g. Baichuan 120 RPM) where a cap is unset."""


class GrantConfig(_Strict):
    """A provider's free grant (token amount or money amount), used by the ledger."""

    name: str
    """Name shown by ``qiao grants`` and recorded on each ledger entry drawing from it."""
    tokens: Annotated[int, Field(ge=0)] | None = None
    """Granted tokens (prompt + completion), e.g. ``150000000``; or give ``amount``."""
    amount: str | None = None
    """Granted money (decimal string in ``currency``), e.g. ``"50"``."""
    currency: str = "CNY"
    """Currency of ``amount``."""
    models: list[str] = ["*"]
    """Upstream model ids the grant covers (``*`` wildcards allowed)."""
    starts: str | None = None
    """First day the grant applies (``YYYY-MM-DD``, UTC); unset = already."""
    expires: str | None = None
    """Last day the grant applies (``YYYY-MM-DD``, UTC, inclusive); unset = never."""

    @model_validator(mode="after")
    def _one_amount(self) -> GrantConfig:
        if (self.tokens is None) == (self.amount is None):
            raise ValueError("give exactly one of 'tokens' or 'amount'")
        for v in (self.starts, self.expires):
            if v is not None and not re.match(r"^\d{4}-\d{2}-\d{2}$", v):
                raise ValueError(f"dates are YYYY-MM-DD, not {v!r}")
        return self


class AccountConfig(_Strict):
    """One provider account: a credential at one provider (several per provider are balanced)."""

    provider: Annotated[str, Field(pattern=SLUG)]
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")] | None = None
    """Account name (defaults to the provider slug); ``NAME/MODEL`` targets this account only."""
    credential: SecretStr | None = None
    """In the provider's own format, e.g. ``API_KEY:SECRET_KEY`` for ernie_v1. Use ``${ENV_VAR}``."""
    base_url: str | None = None
    """Override the provider's default API root (e.g. a private deployment or an emulator)."""
    proxy: str | None = None
    """HTTP(S) proxy URL for this account (``http://user:pass@host:port``)."""
    ca_bundle: str | None = None
    """PEM file of CA certificates to trust for this account (e.g. a corporate proxy)."""
    headers: dict[str, str] = {}
    """Extra headers sent upstream with every request of this account."""
    options: dict[str, Any] = {}
    """Provider-specific options (e.g. ``api_version`` for Azure)."""
    models: list[str] | None = None
    """Restrict this account to these model ids (default: the provider's whole catalogue)."""
    weight: Annotated[int, Field(ge=0)] = 1
    """Share of requests among accounts of the same provider (0 = standby)."""
    limits: AccountLimits = AccountLimits()
    """Outbound caps matching the account's real quota."""
    balance: str | None = None
    """Paid balance, if known (for the ledger), in CNY."""
    grants: list[GrantConfig] = []
    """Free grants of this account (token or money amounts, models covered, validity)."""

    @property
    def account_name(self) -> str:
        return self.name or self.provider


class TargetConfig(_Strict):
    """One target of a route: ``provider/model`` or ``account/model``, with optional overrides."""

    target: str
    weight: Annotated[int, Field(ge=0)] = 1
    """Share of requests for the ``weighted`` strategy."""
    params: dict[str, Any] = {}
    """Request parameters forced on this target (e.g. ``temperature: 0.3``)."""

    @field_validator("target")
    @classmethod
    def _has_slash(cls, v: str) -> str:
        if "/" not in v:
            raise ValueError("a target is 'provider/model' or 'account/model'")
        return v


class RouteConfig(_Strict):
    """A public model name mapped to targets. Aliases are the short form of a priority route."""

    targets: Annotated[list[TargetConfig], Field(min_length=1)]
    strategy: Literal["priority", "weighted", "least_latency", "cheapest", "grants_first"] = "priority"
    """How a target is chosen (``priority``: in order, the next on failure)."""
    drop_params: bool | None = None
    """Override ``server.drop_params`` for this route."""
    max_attempts: Annotated[int, Field(ge=1)] = 3
    """Upstream attempts per request, fallbacks included."""
    fallback_on_content_filter: bool = False
    """Try the next target when a provider refuses on content safety."""
    fallback_on_context_length: bool = True
    """Try the next target when the prompt exceeds a model's context window."""
    retries_per_target: Annotated[int, Field(ge=0)] | None = None
    """Retries on the same target before falling back (default ``routing.retry.per_target``)."""
    connect_timeout_s: Annotated[float, Field(gt=0)] | None = None
    """Connect timeout of each attempt (default ``server.connect_timeout_s``)."""
    first_byte_timeout_s: Annotated[float, Field(gt=0)] | None = None
    """Longest wait for an attempt's first byte (default ``server.first_byte_timeout_s``)."""
    total_timeout_s: Annotated[float, Field(gt=0)] | None = None
    """The request's deadline, all attempts, waits and backoff included (default
    ``server.total_timeout_s``)."""
    model: str | None = None
    """The public name this route answers to (default: its key). Lets several routes share one name,
    e.g. a tenant's own ``gpt-4o`` beside everyone else's."""
    tenants: list[str] | None = None
    """Only requests of these tenants use this route; a tenant's route wins over a route for all."""


class TenantConfig(_Strict):
    """A tenant declared in the config (tenants can also be created with ``qiao tenants create``)."""

    name: str
    """Tenant name; keys name their tenant."""
    budget: str | None = None
    """Spending cap of the whole tenant (decimal string in ``budget_currency``); unset = none."""
    budget_currency: Literal["CNY"] = "CNY"
    """Budgets are kept in CNY; prices in other currencies are converted with ``limits.fx_rates``."""
    budget_tokens: Annotated[int, Field(ge=0)] | None = None
    """Token cap of the whole tenant; unset = none."""
    reset: Literal["none", "daily", "monthly"] = "none"
    """When the tenant's budget starts again (UTC calendar day or month)."""
    rpm: Annotated[int, Field(ge=1)] | None = None
    """Requests per minute, all keys of the tenant together."""
    tpm: Annotated[int, Field(ge=1)] | None = None
    """Tokens per minute, all keys of the tenant together."""


class LimitsConfig(_Strict):
    """How budgets reserve money before a call and convert prices."""

    reserve_default_output_tokens: Literal["model_max", "fixed"] = "model_max"
    """Output tokens reserved when a request sets no ``max_tokens``: the model's maximum output, or
    ``reserve_fixed_output_tokens``."""
    reserve_fixed_output_tokens: Annotated[int, Field(ge=1)] = 1024
    """Used when ``reserve_default_output_tokens`` is ``fixed``."""
    fx_rates: dict[str, str] = {"USD": "7.1"}
    """Conversion to CNY for prices in other currencies, recorded on each ledger entry."""


class BreakerConfig(_Strict):
    """Circuit breaker of each target (account + upstream model)."""

    failures: Annotated[int, Field(ge=1)] = 5
    """Consecutive failures that open the breaker."""
    error_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    """Error rate over ``window_s`` that opens the breaker (with at least ``min_requests`` requests)."""
    min_requests: Annotated[int, Field(ge=1)] = 20
    """Requests in the window before ``error_rate`` is judged."""
    window_s: Annotated[float, Field(gt=0)] = 60.0
    """Window of the error rate, in seconds."""
    open_s: Annotated[float, Field(gt=0)] = 30.0
    """How long an open breaker refuses before letting a probe through (half-open)."""
    half_open_probes: Annotated[int, Field(ge=1)] = 1
    """Requests let through at once while half-open; success closes the breaker, failure re-opens it."""


class RetryConfig(_Strict):
    """Retries of retryable failures (429, 5xx, timeouts, connection errors)."""

    per_target: Annotated[int, Field(ge=0)] = 1
    """Retries on the same target before falling back to the next one."""
    backoff_base_s: Annotated[float, Field(ge=0)] = 0.2
    """First backoff; it doubles per retry, with full jitter."""
    backoff_max_s: Annotated[float, Field(ge=0)] = 5.0
    """Longest backoff between two attempts."""
    max_retry_after_s: Annotated[float, Field(ge=0)] = 10.0
    """A ``Retry-After`` longer than this is not waited for on that target: the next target is tried."""


class RoutingConfig(_Strict):
    """Strategies, retries, breakers and latency tracking of every route."""

    retry: RetryConfig = RetryConfig()
    """Retries with backoff."""
    breaker: BreakerConfig = BreakerConfig()
    """Circuit breakers."""
    latency_alpha: Annotated[float, Field(gt=0, le=1)] = 0.3
    """Weight of the newest first-token latency in the ``least_latency`` moving average."""
    explore: Annotated[float, Field(ge=0, le=1)] = 0.05
    """Share of ``least_latency`` requests sent to a random healthy target, so its latency stays known."""
    shared_state_interval_s: Annotated[float, Field(gt=0)] = 1.0
    """How often a replica pulls breaker states from Redis (multi-replica mode)."""


AliasValue = str | list[str]


class Settings(_Strict):
    """The whole configuration."""

    server: ServerConfig = ServerConfig()
    """HTTP server and request handling."""
    database: DatabaseConfig = DatabaseConfig()
    """Where state lives."""
    admin: AdminConfig = AdminConfig()
    """The admin API."""
    keys: list[GatewayKey] = []
    """Static gateway API keys (clients send one as ``Authorization: Bearer``)."""
    accounts: list[AccountConfig] = []
    """Provider accounts."""
    aliases: dict[str, AliasValue] = {}
    """Public name → target(s), e.g. ``gpt-4o: [zhipu/glm-4-plus, ernie/ernie-4.0-8k]`` (in order)."""
    routes: dict[str, RouteConfig] = {}
    """Public name (``*`` wildcards allowed) → route with strategy and targets."""
    tenants: list[TenantConfig] = []
    """Tenants with budgets and limits (used by the key and ledger system)."""
    limits: LimitsConfig = LimitsConfig()
    """Reservation and currency settings of the ledger."""
    routing: RoutingConfig = RoutingConfig()
    """Retries, circuit breakers and strategy settings of every route."""
    source: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _unique(self) -> Settings:
        names = [a.account_name for a in self.accounts]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"account names must be unique; repeated: {sorted(dup)} (set 'name')")
        knames = [k.name for k in self.keys]
        kdup = {n for n in knames if knames.count(n) > 1}
        if kdup:
            raise ValueError(f"key names must be unique; repeated: {sorted(kdup)}")
        clash = set(self.aliases) & set(self.routes)
        if clash:
            raise ValueError(f"a name is both an alias and a route: {sorted(clash)}")
        return self

    def route_table(self) -> dict[str, RouteConfig]:
        """Aliases and routes as one table of routes."""
        out = dict(self.routes)
        for name, value in self.aliases.items():
            targets = [value] if isinstance(value, str) else value
            out[name] = RouteConfig(targets=[TargetConfig(target=t) for t in targets])
        return out


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(node: Any, path: str, file: str, env: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate(v, f"{path}.{k}" if path else str(k), file, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, f"{path}.{i}", file, env) for i, v in enumerate(node)]
    if isinstance(node, str):

        def sub(m: re.Match[str]) -> str:
            var, default = m.group(1), m.group(2)
            if var in env:
                return env[var]
            if default is not None:
                return default
            raise ConfigError(f"{file}: {path}: environment variable ${{{var}}} is not set")

        return _ENV_REF.sub(sub, node)
    return node


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def load_settings(path: str | Path, env: dict[str, str] | None = None) -> Settings:
    """Read, interpolate and validate a config file. Errors name the file, the key and the problem."""
    p = Path(path)
    file = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc.strerror or exc}") from exc
    try:
        if p.suffix.lower() == ".toml":
            raw: Any = tomllib.loads(text)
        else:
            raw = yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{file}: not valid {'TOML' if p.suffix == '.toml' else 'YAML'}: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: the top level must be a mapping, not {type(raw).__name__}")
    raw = _interpolate(raw, "", file, dict(os.environ) if env is None else env)
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{file}: {_loc(err['loc'])}: {msg}")
        raise ConfigError("\n".join(lines)) from None
    return settings.model_copy(update={"source": str(p.resolve())})


def settings_schema() -> dict[str, Any]:
    return Settings.model_json_schema()
