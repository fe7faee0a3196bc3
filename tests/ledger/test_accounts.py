"""Provider accounts and grants changed at run time (admin API and CLI), and keys and tenants changed in
place: applied by the running gateway, persisted across restarts, picked up by another replica, config
entries read-only, credentials never echoed."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from qiao.config import hash_key
from tests.conftest import QiaoProcess, ThreadServer, emulator_in_thread
from tests.ledger.helpers import ADMIN, STATIC, ZHIPU_CRED, chat, cli, ledger_config

pytestmark = pytest.mark.e2e

H = {"Authorization": f"Bearer {ADMIN}"}
VAR = "QIAO_TEST_ZHIPU_B_KEY"


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadServer]:
    with emulator_in_thread("zhipu") as srv:
        yield srv


@pytest.fixture()
def cred_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The second account's secret, in the environment the gateway processes inherit."""
    monkeypatch.setenv(VAR, ZHIPU_CRED)
    return VAR


def _config(emu: ThreadServer, db_url: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    accounts = [
        {
            "provider": "zhipu",
            "base_url": emu.url + "/api/paas/v4",
            "credential": ZHIPU_CRED,
            "grants": [{"name": "cfg-grant", "tokens": 10, "models": ["glm-4-flash"]}],
        }
    ]
    return ledger_config(emu.url, db_url, tmp_path / "wal", accounts=accounts, **extra)


def _records(config: Path, n: int, request_id: str | None = None) -> list[dict[str, Any]]:
    """The ledger's records once it holds ``n`` of them (and ``request_id``'s, if given: the writer
    commits in batches, so a count can be reached by earlier records before this one lands)."""
    deadline = time.monotonic() + 5
    while True:
        recs: list[dict[str, Any]] = cli("usage", "--config", str(config), "--json")["records"]
        have = request_id is None or any(r["request_id"] == request_id for r in recs)
        if (len(recs) >= n and have) or time.monotonic() > deadline:
            return recs
        time.sleep(0.1)


def _until(check: Any, what: str, timeout: float = 3.0) -> None:
    """Poll until ``check()`` holds (the design target is one key refresh, 250 ms; the bound is loose
    because the test machine is shared)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _err(r: httpx.Response) -> dict[str, Any]:
    err: dict[str, Any] = r.json().get("error", {})
    return err


def test_accounts_and_grants_through_the_admin_api(emu: ThreadServer, tmp_path: Path, cred_env: str) -> None:
    cfg = _config(emu, f"sqlite:///{tmp_path}/qiao.db", tmp_path)
    good = {
        "provider": "zhipu",
        "name": "zhipu-b",
        "credential_env": cred_env,
        "base_url": emu.url + "/api/paas/v4",
        "models": ["glm-4-plus", "glm-4-flash"],
        "weight": 2,
        "limits": {"rpm": 600},
        "balance": "30",
    }
    with QiaoProcess(cfg, tmp_path) as gw:
        url = gw.url + "/admin/accounts"
        assert chat(gw.url, STATIC, model="zhipu-b/glm-4-plus").status_code == 404
        # refused whole, naming the field
        bad = [
            ({**good, "credential": ZHIPU_CRED}, "credential"),
            ({**good, "credential_env": "NOT_SET_ANYWHERE_QIAO"}, "credential_env"),
            ({**good, "credential_env": "sk-not a name"}, "credential_env"),
            ({**good, "provider": "nope"}, "provider"),
            ({**good, "weight": -1}, "weight"),
            ({**good, "limits": {"rpm": 0}}, "limits.rpm"),
            ({**good, "balance": "lots"}, "balance"),
            ({**good, "name": None}, "name"),
            ({**good, "colour": "red"}, "colour"),
        ]
        for body, param in bad:
            r = httpx.post(url, json=body, headers=H)
            assert r.status_code == 400 and _err(r)["param"] == param, (param, r.text)
            assert ZHIPU_CRED not in r.text
        assert chat(gw.url, STATIC, model="zhipu-b/glm-4-plus").status_code == 404  # nothing half-applied
        r = httpx.post(url, json=good, headers=H)
        assert r.status_code == 201, r.text
        assert r.json()["credential_env"] == cred_env and ZHIPU_CRED not in r.text
        assert httpx.post(url, json=good, headers=H).status_code == 409  # exists
        # served at once by the process that took the change
        ok = chat(gw.url, STATIC, model="zhipu-b/glm-4-plus")
        assert ok.status_code == 200 and ok.headers["x-qiao-account"] == "zhipu-b"
        # a grant added through the API is drawn and reported
        r = httpx.post(
            url + "/zhipu-b/grants",
            json={"name": "api-grant", "tokens": 100000, "models": ["glm-4-plus"], "expires": "2099-12-31"},
            headers=H,
        )
        assert r.status_code == 201, r.text
        bad_grants = [
            ({"name": "g", "tokens": 1, "amount": "2"}, None),
            ({"name": "g", "amount": "x"}, "amount"),
            ({"name": "g", "tokens": 5, "expires": "2024-02-30"}, "expires"),
            ({"name": "a/b", "tokens": 5}, "name"),
        ]
        for body, param in bad_grants:
            r = httpx.post(url + "/zhipu-b/grants", json=body, headers=H)
            assert r.status_code == 400 and _err(r)["param"] == param, (param, r.text)
        drawn = chat(gw.url, STATIC, model="zhipu-b/glm-4-plus")
        assert drawn.status_code == 200
        rid = drawn.headers["x-request-id"]
        rec = {r["request_id"]: r for r in _records(gw.config_path, 2, rid)}[rid]
        assert rec["account"] == "zhipu-b" and rec["grant_name"] == "api-grant" and rec["paid_micros"] == 0
        rep = cli("grants", "--config", str(gw.config_path), "--json")
        g = {(x["account"], x["grant"]): x for x in rep["grants"]}
        assert g[("zhipu-b", "api-grant")]["used"] == rec["prompt_tokens"] + rec["completion_tokens"] > 0
        assert g[("zhipu", "cfg-grant")]["granted"] == 10
        # change and remove a grant; its name is its identity
        r = httpx.patch(url + "/zhipu-b/grants/api-grant", json={"tokens": 200000}, headers=H)
        assert r.status_code == 200 and r.json()["tokens"] == 200000
        r = httpx.patch(url + "/zhipu-b/grants/api-grant", json={"name": "other"}, headers=H)
        assert r.status_code == 400 and _err(r)["param"] == "name"
        # config entries are read-only; a grant may still be added to a config account
        for method, path, body in (
            ("PATCH", "/zhipu", {"weight": 3}),
            ("DELETE", "/zhipu", None),
            ("PATCH", "/zhipu/grants/cfg-grant", {"tokens": 5}),
            ("DELETE", "/zhipu/grants/cfg-grant", None),
        ):
            r = httpx.request(method, url + path, json=body, headers=H)
            assert r.status_code == 409 and "config file" in _err(r)["message"], (method, path, r.text)
        r = httpx.post(url + "/zhipu/grants", json={"name": "extra", "amount": "1"}, headers=H)
        assert r.status_code == 201
        assert httpx.delete(url + "/zhipu/grants/extra", headers=H).status_code == 200
        assert httpx.patch(url + "/nobody", json={"weight": 1}, headers=H).status_code == 404
        # the listing names the variable, never the secret
        listed = httpx.get(url, headers=H).json()["data"]
        assert ZHIPU_CRED not in str(listed)
        by = {a["account"]: a for a in listed}
        assert by["zhipu-b"]["source"] == "database" and by["zhipu-b"]["credential"] == f"env:{cred_env}"
        assert by["zhipu"]["source"] == "config" and by["zhipu-b"]["balance_cny"] == "30"
        one = httpx.get(url + "/zhipu-b", headers=H).json()
        assert one["grants"][0]["grant"] == "api-grant" and one["grants"][0]["source"] == "database"
        # a PATCH that breaks nothing applies at once
        r = httpx.patch(url + "/zhipu-b", json={"models": ["glm-4-flash"]}, headers=H)
        assert r.status_code == 200 and ZHIPU_CRED not in r.text
        assert chat(gw.url, STATIC, model="zhipu-b/glm-4-plus").status_code == 404
        assert chat(gw.url, STATIC, model="zhipu-b/glm-4-flash").status_code == 200
    # persisted across a restart
    with QiaoProcess(cfg, tmp_path) as gw:
        assert chat(gw.url, STATIC, model="zhipu-b/glm-4-flash").status_code == 200
        grants = httpx.get(gw.url + "/admin/grants", headers=H).json()["grants"]
        assert any(x["grant"] == "api-grant" and x["used"] > 0 for x in grants)
        r = httpx.delete(gw.url + "/admin/accounts/zhipu-b", headers=H)
        assert r.status_code == 200
        assert chat(gw.url, STATIC, model="zhipu-b/glm-4-flash").status_code == 404
        assert "api-grant" not in str(httpx.get(gw.url + "/admin/grants", headers=H).json())


def test_another_replica_applies_account_changes(
    emu: ThreadServer, tmp_path: Path, pg_url: str, cred_env: str
) -> None:
    """Two replicas on one PostgreSQL: a change made through one is served by the other."""
    cfg = _config(emu, pg_url, tmp_path)
    with contextlib.ExitStack() as stack:
        a, b = (stack.enter_context(QiaoProcess(cfg, tmp_path)) for _ in range(2))
        body = {"provider": "zhipu", "name": "zhipu-c", "credential_env": cred_env}
        body["base_url"] = emu.url + "/api/paas/v4"
        assert httpx.post(a.url + "/admin/accounts", json=body, headers=H).status_code == 201
        _until(
            lambda: chat(b.url, STATIC, model="zhipu-c/glm-4-plus").status_code == 200,
            "the other replica did not pick up the new account",
        )
        cli("accounts", "remove", "--config", str(b.config_path), "zhipu-c")
        for gw in (a, b):
            _until(
                lambda gw=gw: chat(gw.url, STATIC, model="zhipu-c/glm-4-plus").status_code == 404,  # type: ignore[misc]
                "a replica still served a removed account",
            )


def test_keys_and_tenants_changed_in_place(emu: ThreadServer, tmp_path: Path) -> None:
    cfg = _config(emu, f"sqlite:///{tmp_path}/qiao.db", tmp_path, tenants=[{"name": "cfg-team", "rpm": 100}])
    with QiaoProcess(cfg, tmp_path) as gw:
        conf = str(gw.config_path)
        made = httpx.post(gw.url + "/admin/keys", json={"tenant": "apps", "rpm": 100}, headers=H).json()
        key, kid = made["key"], made["id"]
        if time.time() % 60 > 50:  # rpm windows are calendar minutes: start early in one
            time.sleep(60 - time.time() % 60 + 0.2)
        assert chat(gw.url, key, max_tokens=5).status_code == 200
        assert chat(gw.url, key, max_tokens=5).status_code == 200
        r = httpx.patch(gw.url + f"/admin/keys/{kid}", json={"rpm": 2, "name": "renamed"}, headers=H)
        assert r.status_code == 200 and r.json()["limits"]["rpm"] == 2 and r.json()["name"] == "renamed"
        assert key not in r.text and "digest" not in r.json()
        _until(lambda: chat(gw.url, key, max_tokens=5).status_code == 429, "the lowered rpm did not apply")
        # from the CLI: the limit removed again
        cli("keys", "update", "--config", conf, kid, "--rpm", "none")
        _until(lambda: chat(gw.url, key, max_tokens=5).status_code == 200, "the removed rpm still applied")
        # a budget set below what the key spent already refuses (the counter is seeded from the ledger)
        _records(gw.config_path, 7)  # the key's requests so far are in the ledger
        spent = cli("keys", "show", "--config", conf, kid, "--json")["spent_cny"]
        assert Decimal(spent) > Decimal("0.0003")  # more than one request reserves
        cli("keys", "update", "--config", conf, kid, "--budget-cny", spent)
        time.sleep(1.0)  # the documented bound: every process applies a change within one second
        assert _err(chat(gw.url, key, max_tokens=5)).get("code") == "insufficient_quota"
        cli("keys", "update", "--config", conf, kid, "--budget-cny", "none", "--models", "zhipu/glm-4-flash")
        _until(lambda: chat(gw.url, key, max_tokens=5).status_code == 403, "the models change did not apply")
        assert chat(gw.url, key, model="zhipu/glm-4-flash", max_tokens=5).status_code == 200
        # tenants
        r = httpx.patch(gw.url + "/admin/tenants/apps", json={"rpm": 1}, headers=H)
        assert r.status_code == 200 and r.json()["limits"]["rpm"] == 1
        _until(
            lambda: chat(gw.url, key, model="zhipu/glm-4-flash", max_tokens=5).status_code == 429,
            "the tenant's rpm did not apply",
        )
        shown = cli(
            "tenants", "update", "--config", conf, "apps", "--rpm", "none", "--budget-cny", "5", "--json"
        )
        assert shown["limits"]["rpm"] is None and shown["limits"]["budget_micros"] == 5_000_000
        # refused: config entries, bad values, unknown ids
        r = httpx.patch(gw.url + "/admin/tenants/cfg-team", json={"rpm": 1}, headers=H)
        assert r.status_code == 409 and "config file" in _err(r)["message"]
        r = httpx.patch(gw.url + f"/admin/keys/{hash_key(STATIC)[:12]}", json={"rpm": 1}, headers=H)
        assert r.status_code == 409 and "config file" in _err(r)["message"]
        for body, param in (({"rpm": "x"}, "rpm"), ({"budget": "ten"}, "budget"), ({"colour": 1}, "colour")):
            r = httpx.patch(gw.url + f"/admin/keys/{kid}", json=body, headers=H)
            assert r.status_code == 400 and _err(r)["param"] == param, r.text
        assert httpx.patch(gw.url + "/admin/keys/k_nope", json={"rpm": 1}, headers=H).status_code == 404
        assert httpx.patch(gw.url + "/admin/tenants/nope", json={"rpm": 1}, headers=H).status_code == 404


def test_accounts_and_grants_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``qiao accounts`` and ``qiao grants add|update|remove`` on the database (no gateway running)."""
    import yaml
    from click.testing import CliRunner

    from qiao.cli.main import main

    conf = tmp_path / "qiao.yaml"
    conf.write_text(
        yaml.safe_dump(
            {
                "database": {"url": f"sqlite:///{tmp_path}/q.db", "wal_dir": str(tmp_path / "wal")},
                "accounts": [{"provider": "zhipu", "credential": ZHIPU_CRED}],
            }
        )
    )
    c = str(conf)
    monkeypatch.delenv("QIAO_T_MISSING", raising=False)
    res = CliRunner().invoke(
        main,
        ["accounts", "add", "--config", c, "z2", "--provider", "zhipu", "--credential-env", "QIAO_T_MISSING"],
    )
    assert res.exit_code == 1 and "QIAO_T_MISSING is not set" in res.output
    cli(
        "accounts", "add", "--config", c, "z2", "--provider", "zhipu", "--credential-env", "QIAO_T_MISSING",
        "--no-env-check", "--rpm", "60", "--balance", "12",
    )  # fmt: skip
    cli("accounts", "update", "--config", c, "z2", "--weight", "0", "--no-env-check")
    cli("grants", "add", "--config", c, "z2", "trial", "--tokens", "1000", "--expires", "2099-01-01")
    cli("grants", "update", "--config", c, "z2", "trial", "--amount", "5")
    rows = {r["account"]: r for r in cli("accounts", "list", "--config", c, "--json")}
    assert rows["z2"]["source"] == "database" and rows["z2"]["credential"] == "env:QIAO_T_MISSING"
    assert rows["z2"]["limits"] == {"rpm": 60} and rows["z2"]["weight"] == 0
    assert rows["zhipu"]["source"] == "config" and ZHIPU_CRED not in str(rows)
    rep = cli("grants", "--config", c, "--json")
    [g] = rep["grants"]
    assert g["grant"] == "trial" and g["unit"] == "CNY" and g["granted"] == 5_000_000
    assert "grants" in cli("grants", "--config", c)  # the table report still works
    res = CliRunner().invoke(main, ["accounts", "remove", "--config", c, "zhipu"])
    assert res.exit_code == 1 and "config file" in res.output
    cli("grants", "--config", c, "remove", "z2", "trial")  # --config on the group works too
    cli("accounts", "remove", "--config", c, "z2")
    assert [r["account"] for r in cli("accounts", "list", "--config", c, "--json")] == ["zhipu"]
