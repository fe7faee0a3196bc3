"""Provider accounts and grants declared at run time (admin API, ``qiao accounts``, ``qiao grants add``).

They live in the database (``qiao_accounts``, ``qiao_account_grants``; migration 002) and are merged
with the config's at start and whenever they change: :func:`merge` gives the :class:`Settings` the
gateway routes by (``Gateway.apply_settings``) and the ledger draws grants from.

Decisions:

- **The config file stays the authority for what it declares.** Its accounts and grants are read-only
  through the API and CLI (409 naming the file): a change there would be lost at the next restart, or
  would silently override the file. A database account may not take a config account's name. Grants may
  be *added* to a config account (a new grant arrives while the account is unchanged); those grants are
  the database's and can be changed or removed.
- **No secrets in the database.** An account names the environment variable holding its credential
  (``credential_env``); each process reads it from its own environment when it builds its routes. An
  inline ``credential`` is refused (400): a database is backed up, replicated and read by more people
  than the gateway's environment. The variable's name is shown; the secret never is. Other values may
  hold ``${VAR}`` references (the config file's syntax), and must where they look like secrets (a
  header named like a key or token, a proxy password).
- **Validated with the config's own models** (``AccountConfig``, ``GrantConfig``), plus what the config
  loader checks later (the provider exists, amounts and dates parse, the environment variable is set,
  the route table still builds), all before anything is written: a bad account is refused whole (400),
  never half-applied.
- **A revision counter**, bumped in the same transaction as every change, tells every process to rebuild
  (one indexed single-row read per key refresh, ``database.key_refresh_ms``). A process that cannot use
  a database account (its environment lacks the variable) leaves that account out, logs why, and shows
  it as a ``problem`` in ``GET /admin/accounts``; the other accounts still apply.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update

from ..config import AccountConfig, ConfigError, GrantConfig, Settings
from ..money import parse_micros
from . import schema
from .ops import OpConflict, OpError, OpNotFound
from .store import LedgerStore

__all__ = [
    "Declared",
    "StoredAccount",
    "StoredGrant",
    "add_account",
    "add_grant",
    "list_accounts",
    "load_declared",
    "merge",
    "public_spec",
    "remove_account",
    "remove_grant",
    "report_settings",
    "revision",
    "update_account",
    "update_grant",
    "validate_account",
    "validate_grant",
]

log = logging.getLogger(__name__)

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")  # as in the config file
SECRET_HEADER = re.compile(r"authorization|key|token|secret|cookie|signature|password", re.I)
GRANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
REV = "accounts"


@dataclass(frozen=True, slots=True)
class StoredAccount:
    name: str
    provider: str
    spec: dict[str, Any]
    """``AccountConfig`` fields as given (no ``credential``, no ``grants``), plus ``credential_env``."""
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class StoredGrant:
    account: str
    name: str
    spec: dict[str, Any]
    """``GrantConfig`` fields as given."""
    created_at: float
    updated_at: float

    def config(self) -> GrantConfig:
        return GrantConfig.model_validate(self.spec)


@dataclass(frozen=True, slots=True)
class Declared:
    """Everything the database declares, at one revision."""

    rev: int
    accounts: tuple[StoredAccount, ...] = ()
    grants: tuple[StoredGrant, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.accounts and not self.grants

    def account(self, name: str) -> StoredAccount | None:
        return next((a for a in self.accounts if a.name == name), None)

    def grant(self, account: str, name: str) -> StoredGrant | None:
        return next((g for g in self.grants if g.account == account and g.name == name), None)


# ---- storage ---------------------------------------------------------------------------------------------
def revision(store: LedgerStore) -> int:
    """The accounts revision (polled by every process: prepared SQL on the raw connection)."""
    raw = store.raw()
    failed = True
    try:
        cur = raw.cursor()
        cur.execute(f"SELECT rev FROM qiao_revisions WHERE name = {store.marker}", (REV,))
        row = cur.fetchone()
        raw.commit()
        failed = False
        return int(row[0]) if row else 0
    finally:
        store.done(raw, failed)


def load_declared(store: LedgerStore) -> Declared:
    """The revision first, then the rows: a change landing in between shows up as a newer revision at
    the next poll, so nothing is missed."""
    a, g, r = schema.accounts, schema.account_grants, schema.revisions
    with store.engine.connect() as conn:
        rev = conn.execute(select(r.c.rev).where(r.c.name == REV)).scalar() or 0
        accounts = tuple(
            StoredAccount(row.name, row.provider, orjson.loads(row.spec), row.created_at, row.updated_at)
            for row in conn.execute(select(a).order_by(a.c.created_at, a.c.name))
        )
        grants = tuple(
            StoredGrant(row.account, row.name, orjson.loads(row.spec), row.created_at, row.updated_at)
            for row in conn.execute(select(g).order_by(g.c.account, g.c.created_at, g.c.name))
        )
    return Declared(int(rev), accounts, grants)


@contextlib.contextmanager
def _unique(message: str) -> Iterator[None]:
    """Two processes adding the same name at once: the database's primary key decides; the loser
    gets a 409, not a 500."""
    from sqlalchemy.exc import IntegrityError

    try:
        yield
    except IntegrityError:
        raise OpConflict(message) from None


def _bump(conn: Any) -> None:
    r = schema.revisions
    conn.execute(update(r).where(r.c.name == REV).values(rev=r.c.rev + 1))


def _dumps(spec: dict[str, Any]) -> str:
    return orjson.dumps(spec).decode()


# ---- environment references ------------------------------------------------------------------------------
def _expand(node: Any, env: Mapping[str, str], path: str = "") -> Any:
    """``${VAR}`` / ``${VAR:-default}`` in string values, read from ``env`` (the config file's syntax):
    how a header or proxy secret stays out of the database. A missing variable raises OpError naming
    the field."""
    if isinstance(node, dict):
        return {k: _expand(v, env, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand(v, env, path) for v in node]
    if isinstance(node, str) and "${" in node:

        def sub(m: re.Match[str]) -> str:
            if m.group(1) in env:
                return env[m.group(1)]
            if m.group(2) is not None:
                return m.group(2)
            raise OpError(f"{path}: environment variable ${{{m.group(1)}}} is not set in this process", path)

        return ENV_REF.sub(sub, node)
    return node


def _refuse_literal_secrets(spec: Mapping[str, Any]) -> None:
    """Values that look like secrets must be ``${VAR}`` references: the database keeps no secret."""
    headers = spec.get("headers") or {}
    for name, value in headers.items() if isinstance(headers, dict) else ():
        if SECRET_HEADER.search(str(name)) and isinstance(value, str) and not ENV_REF.search(value):
            var = "MY_" + str(name).upper().replace("-", "_")
            raise OpError(
                f'header {name!r} looks like a secret: give it as a reference such as "${{{var}}}", '
                "read from each gateway process's environment",
                f"headers.{name}",
            )
    proxy = spec.get("proxy")
    if isinstance(proxy, str):
        pw = urlsplit(proxy).password
        if pw and not ENV_REF.search(pw):
            raise OpError(
                "the proxy URL holds a password: write it as a reference, e.g. "
                "http://user:${PROXY_PASSWORD}@host:3128",
                "proxy",
            )


# ---- validation ------------------------------------------------------------------------------------------
def _pydantic_error(exc: ValidationError, prefix: str = "") -> OpError:
    err = exc.errors()[0]
    param = prefix + ".".join(str(p) for p in err["loc"])
    msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
    return OpError(f"{param or 'body'}: {msg}", param or None)


def _check_date(value: str | None, param: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise OpError(f"{param} is not a date: {value!r} (YYYY-MM-DD)", param) from None


def validate_grant(body: Mapping[str, Any], prefix: str = "") -> GrantConfig:
    """A grant as the config would take it, and everything the ledger parses later (amount, dates)."""
    try:
        g = GrantConfig.model_validate(dict(body))
    except ValidationError as exc:
        raise _pydantic_error(exc, prefix) from None
    if not GRANT_NAME.match(g.name) or len(g.name) > 128:
        raise OpError(
            f"grant name {g.name!r}: letters, digits, '_', '.', '-' (at most 128), starting with a letter "
            "or digit",
            prefix + "name",
        )
    if g.amount is not None:
        try:
            if parse_micros(g.amount) < 0:
                raise ValueError
        except ValueError:
            raise OpError(
                f'amount must be a decimal string such as "50", not {g.amount!r}', prefix + "amount"
            ) from None
    starts = _check_date(g.starts, prefix + "starts")
    expires = _check_date(g.expires, prefix + "expires")
    if starts and expires and expires < starts:
        raise OpError("the grant expires before it starts", prefix + "expires")
    return g


def _account_config(
    spec: Mapping[str, Any], credential: str | None, grants: list[GrantConfig]
) -> AccountConfig:
    body = {k: v for k, v in spec.items() if k != "credential_env"}
    try:
        return AccountConfig.model_validate({**body, "credential": credential, "grants": grants})
    except ValidationError as exc:
        raise _pydantic_error(exc) from None


def validate_account(body: Mapping[str, Any], env: Mapping[str, str]) -> tuple[dict[str, Any], AccountConfig]:
    """The spec to store and the account as the gateway will use it (credential from ``env``)."""
    if "credential" in body:
        raise OpError(
            "qiao does not store credentials: put the secret in an environment variable of every gateway "
            "process and pass its name as 'credential_env'",
            "credential",
        )
    if "grants" in body:
        raise OpError("add grants with POST /admin/accounts/{name}/grants (or `qiao grants add`)", "grants")
    var = body.get("credential_env")
    if var is not None and (not isinstance(var, str) or not ENV_NAME.match(var)):
        raise OpError(
            "credential_env is the NAME of an environment variable (e.g. ZHIPU_API_KEY_2), not the secret",
            "credential_env",
        )
    cfg = _account_config(body, None, [])
    _refuse_literal_secrets(body)
    _expand({k: v for k, v in body.items() if k != "credential_env"}, env)  # every reference resolves
    if cfg.name is None:
        raise OpError("'name' is required (it is how the account is addressed: NAME/MODEL)", "name")
    if len(cfg.name) > 128:
        raise OpError("name is at most 128 characters", "name")
    from ..providers._registry import get_provider

    try:
        get_provider(cfg.provider)
    except KeyError as exc:
        raise OpError(str(exc.args[0]), "provider") from None
    if cfg.balance is not None:
        try:
            parse_micros(cfg.balance)
        except ValueError:
            raise OpError(
                f'balance must be a decimal CNY string such as "500", not {cfg.balance!r}', "balance"
            ) from None
    if var is not None and var not in env:
        raise OpError(
            f"environment variable {var} is not set in this gateway process (every process that serves "
            "the account needs it)",
            "credential_env",
        )
    spec = cfg.model_dump(mode="json", exclude={"credential", "grants"}, exclude_unset=True)
    spec["name"], spec["provider"] = cfg.name, cfg.provider
    if var is not None:
        spec["credential_env"] = var
    return spec, cfg


# ---- merging with the config -----------------------------------------------------------------------------
def merge(
    settings: Settings, declared: Declared, env: Mapping[str, str], resolve: bool = True
) -> tuple[Settings, dict[str, str]]:
    """The config's accounts (with database grants added to them) followed by the database's accounts.

    ``resolve``: read credentials from ``env`` (the gateway); reports pass False and need no secret.
    Returns the settings and, per account left out, why."""
    problems: dict[str, str] = {}
    extra: dict[str, list[GrantConfig]] = defaultdict(list)
    for g in declared.grants:
        try:
            extra[g.account].append(g.config())
        except ValidationError as exc:
            problems[f"{g.account}/{g.name}"] = f"grant left out: {exc.errors()[0]['msg']}"
    names = {a.account_name for a in settings.accounts}
    accounts = [
        a.model_copy(update={"grants": [*a.grants, *extra[a.account_name]]})
        if extra.get(a.account_name)
        else a
        for a in settings.accounts
    ]
    for sa in declared.accounts:
        if sa.name in names:
            problems[sa.name] = "the config file declares an account of this name; the config's is used"
            continue
        var = sa.spec.get("credential_env")
        cred = None
        if resolve and var:
            cred = env.get(var)
            if cred is None:
                problems[sa.name] = f"left out: environment variable {var} is not set in this process"
                continue
        try:
            spec = _expand(sa.spec, env) if resolve else sa.spec
            accounts.append(_account_config(spec, cred, extra.get(sa.name, [])))
        except OpError as exc:
            problems[sa.name] = f"left out: {exc}"
    return settings.model_copy(update={"accounts": accounts}), problems


def report_settings(store: LedgerStore, settings: Settings) -> Settings:
    """The config merged with the database's accounts and grants, without credentials (for reports)."""
    return merge(settings, load_declared(store), {}, resolve=False)[0]


def _check_routes(settings: Settings, declared: Declared, env: Mapping[str, str]) -> None:
    """The route table must still build with the change (as ``Gateway.apply_settings`` will build it)."""
    from ..gateway.resolve import Resolver
    from .grants import GrantBook

    merged, _ = merge(settings, declared, env, resolve=False)
    try:
        Resolver(merged)
        GrantBook(merged.accounts)
    except (ConfigError, ValueError) as exc:
        raise OpConflict(f"the change would break the route table: {exc}") from None


# ---- operations (admin API and CLI) ----------------------------------------------------------------------
def _config_account(settings: Settings, name: str) -> AccountConfig | None:
    return next((a for a in settings.accounts if a.account_name == name), None)


def _read_only(name: str, what: str = "account") -> OpConflict:
    return OpConflict(
        f"{what} {name!r} is declared in the config file and is read-only through the admin API and CLI: "
        "edit the config and restart (grants can still be added to a config account)"
    )


def _redact_url(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    netloc = f"…@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def public_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """What may be shown: header values and proxy passwords are hidden (they may hold secrets)."""
    out = dict(spec)
    if out.get("headers"):
        out["headers"] = {k: "…" for k in out["headers"]}
    if out.get("proxy"):
        out["proxy"] = _redact_url(out["proxy"])
    return out


def _public_account(sa: StoredAccount, declared: Declared) -> dict[str, Any]:
    return {
        **public_spec(sa.spec),
        "source": "database",
        "grants": [_public_grant(g) for g in declared.grants if g.account == sa.name],
        "created_at": sa.created_at,
        "updated_at": sa.updated_at,
    }


def _public_grant(g: StoredGrant) -> dict[str, Any]:
    return {**g.spec, "account": g.account, "source": "database", "updated_at": g.updated_at}


def add_account(
    store: LedgerStore, settings: Settings, body: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    spec, cfg = validate_account(body, env)
    name = cfg.account_name
    if _config_account(settings, name) is not None:
        raise OpConflict(f"account {name!r} is declared in the config file; pick another name", "name")
    declared = load_declared(store)
    if declared.account(name) is not None:
        raise OpConflict(f"account {name!r} exists already: change it with PATCH (qiao accounts update)")
    now = time.time()
    sa = StoredAccount(name, cfg.provider, spec, now, now)
    _check_routes(settings, Declared(declared.rev, (*declared.accounts, sa), declared.grants), env)
    a = schema.accounts
    with _unique(f"account {name!r} exists already"), store.engine.begin() as conn:
        conn.execute(
            insert(a).values(
                name=name, provider=cfg.provider, spec=_dumps(spec), created_at=now, updated_at=now
            )
        )
        _bump(conn)
    return _public_account(sa, declared)


def update_account(
    store: LedgerStore, settings: Settings, name: str, body: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, Any]:
    if _config_account(settings, name) is not None:
        raise _read_only(name)
    declared = load_declared(store)
    old = declared.account(name)
    if old is None:
        raise OpNotFound(f"no account {name!r} in the database: see `qiao accounts list`")
    for fixed in ("name", "provider"):
        if fixed in body and body[fixed] != old.spec.get(fixed):
            raise OpError(f"an account's {fixed} cannot change: remove it and add a new one", fixed)
    new = dict(old.spec)
    for k, v in body.items():
        if k == "limits" and isinstance(v, dict) and isinstance(new.get("limits"), dict):
            new["limits"] = {**new["limits"], **v}
        elif v is None and k == "credential_env":
            new.pop(k, None)
        else:
            new[k] = v
    spec, cfg = validate_account(new, env)
    now = time.time()
    sa = StoredAccount(name, cfg.provider, spec, old.created_at, now)
    others = tuple(a for a in declared.accounts if a.name != name)
    _check_routes(settings, Declared(declared.rev, (*others, sa), declared.grants), env)
    a = schema.accounts
    with store.engine.begin() as conn:
        conn.execute(update(a).where(a.c.name == name).values(spec=_dumps(spec), updated_at=now))
        _bump(conn)
    return _public_account(sa, declared)


def remove_account(store: LedgerStore, settings: Settings, name: str) -> dict[str, Any]:
    """Remove a database account and its grants (its usage records and grant draws stay)."""
    if _config_account(settings, name) is not None:
        raise _read_only(name)
    declared = load_declared(store)
    old = declared.account(name)
    if old is None:
        raise OpNotFound(f"no account {name!r} in the database: see `qiao accounts list`")
    others = tuple(a for a in declared.accounts if a.name != name)
    grants = tuple(g for g in declared.grants if g.account != name)
    _check_routes(settings, Declared(declared.rev, others, grants), {})
    a, g = schema.accounts, schema.account_grants
    with store.engine.begin() as conn:
        conn.execute(delete(g).where(g.c.account == name))
        conn.execute(delete(a).where(a.c.name == name))
        _bump(conn)
    return {**_public_account(old, declared), "deleted": True}


def _grant_target(settings: Settings, declared: Declared, account: str) -> AccountConfig | None:
    cfg = _config_account(settings, account)
    if cfg is None and declared.account(account) is None:
        raise OpNotFound(f"no account {account!r}: see `qiao accounts list`")
    return cfg


def add_grant(
    store: LedgerStore, settings: Settings, account: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    declared = load_declared(store)
    cfg = _grant_target(settings, declared, account)
    g = validate_grant(body)
    if (cfg is not None and any(x.name == g.name for x in cfg.grants)) or declared.grant(account, g.name):
        raise OpConflict(f"account {account!r} has a grant {g.name!r} already", "name")
    now = time.time()
    spec = g.model_dump(mode="json", exclude_unset=True)
    sg = StoredGrant(account, g.name, spec, now, now)
    _check_routes(settings, Declared(declared.rev, declared.accounts, (*declared.grants, sg)), {})
    t = schema.account_grants
    with _unique(f"account {account!r} has a grant {g.name!r} already"), store.engine.begin() as conn:
        conn.execute(
            insert(t).values(account=account, name=g.name, spec=_dumps(spec), created_at=now, updated_at=now)
        )
        _bump(conn)
    return _public_grant(sg)


def update_grant(
    store: LedgerStore, settings: Settings, account: str, name: str, body: Mapping[str, Any]
) -> dict[str, Any]:
    """Change a database grant (amount, models, dates). Its name is its identity: its use so far is kept
    under it, so it cannot change."""
    declared = load_declared(store)
    cfg = _grant_target(settings, declared, account)
    old = declared.grant(account, name)
    if old is None:
        if cfg is not None and any(x.name == name for x in cfg.grants):
            raise _read_only(f"{account}/{name}", "grant")
        raise OpNotFound(f"no grant {name!r} on account {account!r}: see `qiao grants`")
    if "name" in body and body["name"] != name:
        raise OpError("a grant's name cannot change (its use is kept under it)", "name")
    new = {**old.spec, **body}
    # one of tokens/amount: naming one replaces the other
    if "tokens" in body and body["tokens"] is not None:
        new.pop("amount", None)
    if "amount" in body and body["amount"] is not None:
        new.pop("tokens", None)
    new = {k: v for k, v in new.items() if not (v is None and k in ("tokens", "amount"))}
    g = validate_grant(new)
    now = time.time()
    spec = g.model_dump(mode="json", exclude_unset=True)
    sg = StoredGrant(account, name, spec, old.created_at, now)
    others = tuple(x for x in declared.grants if not (x.account == account and x.name == name))
    _check_routes(settings, Declared(declared.rev, declared.accounts, (*others, sg)), {})
    t = schema.account_grants
    with store.engine.begin() as conn:
        conn.execute(
            update(t)
            .where(t.c.account == account, t.c.name == name)
            .values(spec=_dumps(spec), updated_at=now)
        )
        _bump(conn)
    return _public_grant(sg)


def remove_grant(store: LedgerStore, settings: Settings, account: str, name: str) -> dict[str, Any]:
    """Remove a database grant (its draws stay in the ledger)."""
    declared = load_declared(store)
    cfg = _grant_target(settings, declared, account)
    old = declared.grant(account, name)
    if old is None:
        if cfg is not None and any(x.name == name for x in cfg.grants):
            raise _read_only(f"{account}/{name}", "grant")
        raise OpNotFound(f"no grant {name!r} on account {account!r}: see `qiao grants`")
    t = schema.account_grants
    with store.engine.begin() as conn:
        conn.execute(delete(t).where(t.c.account == account, t.c.name == name))
        _bump(conn)
    return {**_public_grant(old), "deleted": True}


def list_accounts(
    store: LedgerStore,
    settings: Settings,
    declared: Declared | None = None,
    problems: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Every account, config and database, with balance and grants (``ops.accounts_report``), its source,
    its credential reference (never the secret) and, where this process left it out, why."""
    from .ops import accounts_report

    declared = declared if declared is not None else load_declared(store)
    merged, left_out = merge(settings, declared, {}, resolve=False)
    problems = {**left_out, **(problems or {})}
    db_grants = {(g.account, g.name) for g in declared.grants}
    cfg_names = {a.account_name for a in settings.accounts}
    out = []
    for row in accounts_report(store, merged):
        name = row["account"]
        sa = declared.account(name) if name not in cfg_names else None
        for g in row["grants"]:
            g["source"] = "database" if (name, g["grant"]) in db_grants else "config"
        if sa is not None:
            spec = public_spec(sa.spec)
            var = sa.spec.get("credential_env")
            row.update(
                source="database",
                credential=f"env:{var}" if var else None,
                credential_env=var,
                proxy=spec.get("proxy"),
                weight=spec.get("weight", 1),
                limits=spec.get("limits"),
                updated_at=sa.updated_at,
            )
        else:
            row["source"] = "config"
        if name in problems:
            row["problem"] = problems[name]
        out.append(row)
    for name, why in problems.items():
        if "/" not in name and not any(r["account"] == name for r in out):
            sa = declared.account(name)
            out.append(
                {
                    "account": name,
                    "provider": sa.provider if sa else None,
                    "source": "database",
                    "credential_env": sa.spec.get("credential_env") if sa else None,
                    "problem": why,
                    "grants": [],
                }
            )
    return out
