"""The admin API under ``/admin/`` (its own key: ``admin.key`` or ``admin.key_sha256``).

::

    GET  /admin/keys[?tenant=T]        POST /admin/keys            {tenant, name, budget, budget_tokens,
    GET  /admin/keys/{id}                                           reset, rpm, tpm, models, expires}
    POST /admin/keys/{id}/revoke       DELETE /admin/keys/{id}      POST /admin/keys/{id}/rotate
    GET  /admin/tenants                POST /admin/tenants          GET /admin/tenants/{name}
    GET  /admin/usage?since=&until=&tenant=&key=&group_by=
    GET  /admin/accounts               GET /admin/grants            GET /admin/metrics (Prometheus)
    GET  /admin/routes                 GET /admin/health            (routing: table; breakers, limits)

Changes in place (section "changes" below; every process applies them within ``key_refresh_ms``)::

    PATCH  /admin/keys/{id}            {name, budget, budget_tokens, reset, rpm, tpm, models, expires}
    PATCH  /admin/tenants/{name}       {budget, budget_tokens, reset, rpm, tpm}
    POST   /admin/accounts             {provider, name, credential_env, base_url, proxy, ca_bundle,
                                        headers, options, models, weight, limits{…}, balance}
    GET    /admin/accounts/{name}      PATCH /admin/accounts/{name}  DELETE /admin/accounts/{name}
    POST   /admin/accounts/{name}/grants  {name, tokens | amount, currency, models, starts, expires}
    PATCH  /admin/accounts/{name}/grants/{grant}                  DELETE /admin/accounts/{name}/grants/{grant}

In a PATCH body a field left out stays as it is and ``null`` removes it. Config entries are read-only
(409); a bad value is 400 naming the field (``param``). See ``qiao.ledger.accounts`` for the decisions.

Database work runs in a thread; answers are JSON; errors are OpenAI-shaped.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import orjson

from ..config import Settings, hash_key
from ..errors import AuthenticationFailed, Conflict, InvalidRequest, NotFound, QiaoError
from ..gateway.pipeline import Gateway, RequestContext
from ..ledger import ops
from ..ledger.meter import Ledger

__all__ = ["AdminAPI"]

Send = Callable[[dict[str, Any]], Awaitable[None]]


class AdminAPI:
    def __init__(self, ledger: Ledger, settings: Settings, gateway: Gateway | None = None) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.settings = settings
        self.digest = settings.admin.digest or ""
        self.gateway = gateway

    def _auth(self, scope: dict[str, Any]) -> None:
        token = ""
        for k, v in scope["headers"]:
            if k == b"authorization":
                s = v.decode("latin-1")
                token = s[7:].strip() if s[:7].lower() == "bearer " else ""
        if not token or not hmac.compare_digest(hash_key(token), self.digest):
            raise AuthenticationFailed("the admin API needs the admin key (Authorization: Bearer …)")

    async def handle(self, scope: dict[str, Any], receive: Any, send: Send, ctx: RequestContext) -> None:
        self._auth(scope)
        method: str = scope["method"]
        parts = [p for p in scope["path"].split("/") if p][1:]
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        if method == "GET" and parts in (["routes"], ["health"]) and self.gateway is not None:
            # routing state lives in this process's memory: answered on the event loop, no thread
            await _send_json(send, 200, self._routing_view(parts[0]))
            return
        body: dict[str, Any] = {}
        if method in ("POST", "PUT", "PATCH"):
            raw = b""
            while True:
                msg = await receive()
                raw += msg.get("body", b"")
                if not msg.get("more_body"):
                    break
            try:
                body = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError:
                raise InvalidRequest("the body must be a JSON object") from None
            if not isinstance(body, dict):
                raise InvalidRequest("the body must be a JSON object")
        try:
            status, out = await asyncio.to_thread(self._dispatch, method, parts, query, body)
        except ops.OpError as exc:
            raise _op_error(exc) from None
        if method != "GET" and parts[:1] == ["accounts"]:
            await self.ledger.refresh_accounts()  # this process at once; the others at their next poll
        if isinstance(out, str):
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4")],
                }
            )
            await send({"type": "http.response.body", "body": out.encode()})
            return
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": orjson.dumps(out)})

    def _dispatch(
        self, method: str, parts: list[str], q: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        st, s = self.store, self.settings
        match (method, parts):
            case ("GET", ["keys"]):
                return 200, {"data": [k.public() for k in st.keys(tenant=q.get("tenant"))]}
            case ("POST", ["keys"]):
                tenant = body.get("tenant")
                if not isinstance(tenant, str):
                    raise ops.OpError("'tenant' is required")
                key, rec, created = ops.create_key(
                    st,
                    s,
                    tenant,
                    name=body.get("name"),
                    limits=ops.parse_limits(
                        body.get("budget"),
                        body.get("budget_tokens"),
                        body.get("reset"),
                        body.get("rpm"),
                        body.get("tpm"),
                    ),
                    models=body.get("models"),
                    expires_at=ops.parse_expires(body.get("expires")),
                    create_missing_tenant=bool(body.get("create_tenant", True)),
                )
                return 201, {"key": key, **rec.public(), "tenant_created": created}
            case ("GET", ["keys", kid]):
                found = st.get_key(kid)
                if found is None:
                    raise NotFound(f"no key {kid!r}")
                return 200, found.public()
            case ("DELETE", ["keys", kid]) | ("POST", ["keys", kid, "revoke"]):
                revoked = st.revoke_key(kid)
                if revoked is None:
                    raise NotFound(f"no key {kid!r}")
                return 200, revoked.public()
            case ("POST", ["keys", kid, "rotate"]):
                got = st.rotate_key(kid)
                if got is None:
                    raise NotFound(f"no key {kid!r}")
                return 201, {"key": got[0], **got[1].public(), "replaces": kid}
            case ("GET", ["tenants"]):
                return 200, {"data": [t.public() for t in st.tenants()]}
            case ("POST", ["tenants"]):
                name = body.get("name")
                if not isinstance(name, str):
                    raise ops.OpError("'name' is required")
                lim = ops.parse_limits(
                    body.get("budget"),
                    body.get("budget_tokens"),
                    body.get("reset"),
                    body.get("rpm"),
                    body.get("tpm"),
                )
                return 201, ops.create_tenant(st, s, name, lim)
            case ("GET", ["tenants", name]):
                t = st.get_tenant(name)
                if t is None:
                    raise NotFound(f"no tenant {name!r}")
                return 200, t.public()
            case ("GET", ["usage"]):
                recs = st.usage(
                    float(q["since"]) if "since" in q else None,
                    float(q["until"]) if "until" in q else None,
                    q.get("tenant"),
                    q.get("key"),
                )
                if "group_by" in q:
                    return 200, {"groups": ops.group_usage(recs, q["group_by"])}
                return 200, {"records": recs}
            case ("GET", ["grants"]):
                from ..ledger.accounts import report_settings

                return 200, ops.grants_report(st, report_settings(st, s))
            case ("GET", ["accounts"]):
                from ..ledger import accounts

                return 200, {"data": accounts.list_accounts(st, s, problems=self.ledger.account_problems)}
            case ("GET", ["metrics"]):
                return 200, self._metrics()
        changed = self._dispatch_changes(method, parts, body)
        if changed is not None:
            return changed
        raise NotFound(f"no admin endpoint {method} /admin/{'/'.join(parts)}")

    # ---- routing (read-only views of the running gateway) ---------------------------------------------
    def _routing_view(self, what: str) -> dict[str, Any]:
        assert self.gateway is not None
        resolver = self.gateway.resolver
        if what == "routes":
            return {"data": resolver.describe()}
        return self.gateway.router.health_report(resolver.labels())

    # ---- changes: keys and tenants in place, provider accounts and grants ----------------------------
    def _dispatch_changes(
        self, method: str, parts: list[str], body: dict[str, Any]
    ) -> tuple[int, Any] | None:
        import os

        from ..ledger import accounts as acc

        st, s = self.store, self.settings
        match (method, parts):
            case ("PATCH", ["keys", kid]):
                return 200, ops.update_key(st, s, kid, body).public()
            case ("PATCH", ["tenants", name]):
                return 200, ops.update_tenant(st, s, name, body)
            case ("POST", ["accounts"]):
                return 201, acc.add_account(st, s, body, os.environ)
            case ("GET", ["accounts", name]):
                rows = acc.list_accounts(st, s, problems=self.ledger.account_problems)
                found = next((r for r in rows if r["account"] == name), None)
                if found is None:
                    raise ops.OpNotFound(f"no account {name!r}")
                return 200, found
            case ("PATCH", ["accounts", name]):
                return 200, acc.update_account(st, s, name, body, os.environ)
            case ("DELETE", ["accounts", name]):
                return 200, acc.remove_account(st, s, name)
            case ("POST", ["accounts", name, "grants"]):
                return 201, acc.add_grant(st, s, name, body)
            case ("PATCH", ["accounts", name, "grants", grant]):
                return 200, acc.update_grant(st, s, name, grant, body)
            case ("DELETE", ["accounts", name, "grants", grant]):
                return 200, acc.remove_grant(st, s, name, grant)
        return None

    def _metrics(self) -> str:
        import datetime as dt

        today = dt.datetime.now(dt.UTC).date()
        lines = [
            "# TYPE qiao_grant_used_ratio gauge",
            "# TYPE qiao_grant_days_left gauge",
            "# TYPE qiao_grant_warning gauge",
        ]
        for g in self.ledger.grants.all():
            lbl = f'account="{g.account}",grant="{g.name}"'
            ratio = g.used / g.granted if g.granted else 0.0
            lines.append(f"qiao_grant_used_ratio{{{lbl}}} {ratio:.6f}")
            d = g.days_left(today)
            if d is not None:
                lines.append(f"qiao_grant_days_left{{{lbl}}} {d}")
            lines.append(f"qiao_grant_warning{{{lbl}}} {1 if g.warnings(today) else 0}")
        w = self.ledger.writer
        lines.append("# TYPE qiao_usage_records_written_total counter")
        lines.append(f"qiao_usage_records_written_total {w.written if w else 0}")
        if self.gateway is not None:
            lines.extend(self.gateway.router.health.metrics_lines())
        return "\n".join(lines) + "\n"


async def _send_json(send: Send, status: int, obj: Any) -> None:
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": orjson.dumps(obj)})


def _op_error(exc: ops.OpError) -> QiaoError:
    if isinstance(exc, ops.OpNotFound):
        return NotFound(str(exc), param=exc.param)
    if isinstance(exc, ops.OpConflict):
        return Conflict(str(exc), param=exc.param)
    return InvalidRequest(str(exc), param=exc.param)
