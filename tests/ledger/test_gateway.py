"""The ledger inside a real ``qiao serve`` (SQLite): a usage record for every request, budgets, rate
limits and their headers, key revocation and expiry, the admin API, grants."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qiao.money import micros_text
from tests.conftest import QiaoProcess, ThreadServer, emulator_in_thread
from tests.ledger.helpers import ADMIN, STATIC, chat, cli, ledger_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def emu() -> Iterator[ThreadServer]:
    with emulator_in_thread("zhipu", chunk_delay=0.05) as srv:
        yield srv


def _gw(emu: ThreadServer, tmp_path: Path, **extra: Any) -> QiaoProcess:
    return QiaoProcess(
        ledger_config(emu.url, f"sqlite:///{tmp_path}/qiao.db", tmp_path / "wal", **extra), tmp_path
    )


def _records(gw: QiaoProcess, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        recs: list[dict[str, Any]] = cli("usage", "--config", str(gw.config_path), "--json")["records"]
        if len(recs) >= n or time.monotonic() > deadline:
            return recs
        time.sleep(0.1)


def test_every_request_writes_one_usage_record(emu: ThreadServer, tmp_path: Path) -> None:
    with _gw(emu, tmp_path) as gw:
        ok = chat(gw.url, STATIC)
        assert ok.status_code == 200
        streamed = chat(gw.url, STATIC, stream=True)
        assert streamed.status_code == 200 and b"[DONE]" in streamed.content
        missing = chat(gw.url, STATIC, model="zhipu/no-such-model")
        assert missing.status_code == 404
        bad_key = chat(gw.url, "sk-qiao-wrong")
        assert bad_key.status_code == 401
        # a stream the client cuts after its first event
        body = {
            "model": "zhipu/glm-4-plus",
            "stream": True,
            "messages": [{"role": "user", "content": "写一首很长的诗 " * 20}],
        }
        with (
            httpx.Client(timeout=10) as c,
            c.stream(
                "POST",
                gw.url + "/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {STATIC}"},
            ) as r,
        ):
            cut_id = r.headers["x-request-id"]
            next(r.iter_raw())
        recs = _records(gw, 5)
        by_id = {r["request_id"]: r for r in recs}
        assert len(recs) == len(by_id) == 5
        rec = by_id[ok.headers["x-request-id"]]
        assert rec["status"] == 200 and rec["tenant"] == "cfg-team" and rec["model"] == "zhipu/glm-4-plus"
        assert rec["provider"] == "zhipu" and rec["upstream_model"] == "glm-4-plus"
        usage = ok.json()["usage"]
        assert (
            rec["prompt_tokens"] == usage["prompt_tokens"]
            and rec["completion_tokens"] == usage["completion_tokens"]
        )
        # glm-4-plus: 5 CNY per 1M tokens, in and out; integer micro-CNY, rounded once
        assert rec["cost_micros"] == (usage["total_tokens"] * 5_000_000 + 500_000) // 1_000_000
        assert rec["price_currency"] == "CNY" and rec["fx_rate"] == "1" and rec["latency_ms"] > 0
        srec = by_id[streamed.headers["x-request-id"]]
        assert srec["status"] == 200 and srec["first_token_ms"] is not None and srec["completion_tokens"] > 0
        assert by_id[missing.headers["x-request-id"]]["status"] == 404
        assert by_id[bad_key.headers["x-request-id"]]["status"] == 401
        cut = by_id[cut_id]
        assert cut["status"] == 499 and cut["estimated"] and cut["prompt_tokens"] > 0
        # the other report forms
        out = cli("usage", "--config", str(gw.config_path), "--csv")
        assert out.splitlines()[0].startswith("request_id,ts,") and len(out.splitlines()) == 6
        groups = cli("usage", "--config", str(gw.config_path), "--group-by", "provider", "--json")["groups"]
        assert {g["provider"]: g["requests"] for g in groups} == {"-": 2, "zhipu": 3}
        table = cli("usage", "--config", str(gw.config_path), "--group-by", "day")
        assert "usage by day" in table


def _key_with_budget(gw: QiaoProcess, cny: str) -> dict[str, Any]:
    made: dict[str, Any] = cli(
        "keys", "create", "--config", str(gw.config_path), "--tenant", "shop", "--budget-cny", cny, "--json"
    )
    return made


def test_budget_refuses_with_insufficient_quota(emu: ThreadServer, tmp_path: Path) -> None:
    with _gw(emu, tmp_path) as gw:
        made = _key_with_budget(gw, "0.002")
        assert made["key"].startswith("sk-qiao-") and made["tenant_created"]
        codes = []
        for _ in range(30):
            r = chat(gw.url, made["key"], max_tokens=30)
            codes.append(r.status_code)
            if r.status_code == 429:
                err = r.json()["error"]
                assert err["code"] == "insufficient_quota" and err["type"] == "insufficient_quota"
                assert "budget" in err["message"] and "0.002 CNY" in err["message"]
                break
        assert codes[-1] == 429 and codes.count(200) >= 3
        recs = [r for r in _records(gw, len(codes)) if r["key_id"] == made["id"]]
        spent = sum(r["cost_micros"] for r in recs)
        assert spent <= 2000 + max(r["reserved_micros"] for r in recs)
        shown = cli("keys", "show", "--config", str(gw.config_path), made["id"], "--json")
        assert shown["spent_cny"] == micros_text(spent)


def test_rate_limit_headers_and_retry_after(emu: ThreadServer, tmp_path: Path) -> None:
    with _gw(emu, tmp_path) as gw:
        made = cli(
            "keys",
            "create",
            "--config",
            str(gw.config_path),
            "--tenant",
            "t",
            "--rpm",
            "3",
            "--tpm",
            "100000",
            "--json",
        )
        if int(time.time()) % 60 > 50:  # start inside one window (the limits count calendar minutes)
            time.sleep(61 - int(time.time()) % 60)
        minute = int(time.time() // 60)
        seen = []
        for _ in range(4):
            r = chat(gw.url, made["key"], max_tokens=10)
            seen.append(r)
        if int(time.time() // 60) != minute:  # still turned (a very slow machine): the counts restarted
            pytest.skip("the minute turned while the requests were sent")
        assert [r.status_code for r in seen] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining-requests"] for r in seen] == ["2", "1", "0", "0"]
        for r in seen:
            assert r.headers["x-ratelimit-limit-requests"] == "3"
            assert r.headers["x-ratelimit-limit-tokens"] == "100000"
            assert r.headers["x-ratelimit-reset-requests"].endswith("s")
            assert int(r.headers["x-ratelimit-remaining-tokens"]) < 100000
        last = seen[-1]
        assert last.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(last.headers["retry-after"]) <= 60


def test_revoked_and_expired_keys_refused_within_a_second(emu: ThreadServer, tmp_path: Path) -> None:
    with _gw(emu, tmp_path) as gw:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        assert httpx.get(gw.url + "/admin/keys", timeout=5).status_code == 401
        r = httpx.post(
            gw.url + "/admin/keys", json={"tenant": "ops", "models": ["zhipu/glm-4-*"]}, headers=admin
        )
        assert r.status_code == 201
        made = r.json()
        assert chat(gw.url, made["key"]).status_code == 200  # usable at once (looked up on a miss)
        assert chat(gw.url, made["key"], model="zhipu/glm-4v-plus").status_code == 403
        assert httpx.post(gw.url + f"/admin/keys/{made['id']}/revoke", headers=admin).status_code == 200
        t0 = time.monotonic()
        while chat(gw.url, made["key"]).status_code == 200:
            assert time.monotonic() - t0 < 1.0, "a revoked key was still accepted after 1 s"
            time.sleep(0.05)
        # expiry, from the CLI
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.5)).isoformat()
        made = cli(
            "keys", "create", "--config", str(gw.config_path), "--tenant", "ops", "--expires", soon, "--json"
        )
        assert chat(gw.url, made["key"]).status_code == 200
        time.sleep(1.6)
        assert chat(gw.url, made["key"]).status_code == 401
        # rotate: the old key stops, the new one works
        made = cli("keys", "create", "--config", str(gw.config_path), "--tenant", "ops", "--json")
        new = cli("keys", "rotate", "--config", str(gw.config_path), made["id"], "--json")
        assert chat(gw.url, new["key"]).status_code == 200
        time.sleep(0.8)
        assert chat(gw.url, made["key"]).status_code == 401
        listed = cli("keys", "list", "--config", str(gw.config_path), "--json")
        assert {k["status"] for k in listed} == {"revoked", "expired", "active"}
        assert all("digest" not in k and "key" not in k for k in listed)


def test_tenants_cli_and_admin(emu: ThreadServer, tmp_path: Path) -> None:
    with _gw(emu, tmp_path, tenants=[{"name": "cfg-team", "rpm": 100}]) as gw:
        cfg = str(gw.config_path)
        cli("tenants", "create", "--config", cfg, "research", "--budget-cny", "100", "--reset", "monthly")
        made = cli("keys", "create", "--config", cfg, "--tenant", "research", "--json")
        assert not made["tenant_created"]
        assert chat(gw.url, made["key"]).status_code == 200
        rows = {t["name"]: t for t in cli("tenants", "list", "--config", cfg, "--json")}
        assert rows["research"]["budget"] == "100" and rows["research"]["keys"] == 1
        assert rows["cfg-team"]["source"] == "config"
        shown = cli("tenants", "show", "--config", cfg, "research", "--json")
        assert shown["reset"] == "monthly"
        r = httpx.get(gw.url + "/admin/tenants/research", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.json()["limits"]["budget_micros"] == 100_000_000
        from click.testing import CliRunner

        from qiao.cli.main import main

        res = CliRunner().invoke(
            main, ["keys", "create", "--config", cfg, "--tenant", "nobody", "--no-create-tenant"]
        )
        assert res.exit_code == 1 and "qiao tenants create nobody" in res.output


def test_grants_drawn_first_and_reported(emu: ThreadServer, tmp_path: Path) -> None:
    soon = (dt.date.today() + dt.timedelta(days=5)).isoformat()
    accounts = [
        {
            "provider": "zhipu",
            "base_url": emu.url + "/api/paas/v4",
            "credential": "emulatorid.emulatorsecret",
            "balance": "100",
            "grants": [
                {"name": "move-150m", "tokens": 150, "models": ["glm-4-plus"], "expires": "2099-12-31"},
                {"name": "trial", "amount": "0.0005", "expires": soon},
                {"name": "flash-only", "tokens": 10**6, "models": ["glm-4-flash"], "expires": soon},
            ],
        }
    ]
    with _gw(emu, tmp_path, accounts=accounts) as gw:
        cfg = str(gw.config_path)
        for _ in range(6):
            assert chat(gw.url, STATIC).status_code == 200
        recs = _records(gw, 6)
        assert (
            recs[0]["grant_name"].startswith("trial") and recs[0]["grant_micros"] == recs[0]["cost_micros"]
        )  # soonest expiry first
        assert any(r["grant_name"] and "move-150m" in r["grant_name"] for r in recs)
        assert recs[-1]["grant_name"] is None and recs[-1]["paid_micros"] == recs[-1]["cost_micros"] > 0
        rep = cli("grants", "--config", cfg, "--json")
        g = {x["grant"]: x for x in rep["grants"]}
        assert (
            g["move-150m"]["used"] == 150
            and g["move-150m"]["left"] == 0
            and g["move-150m"]["unit"] == "tokens"
        )
        assert g["flash-only"]["days_left"] == 5 and g["flash-only"]["warnings"] == ["expires in 5 days"]
        assert g["flash-only"]["used"] == 0  # covers another model
        assert "100% used" in g["move-150m"]["warnings"] and "100% used" in g["trial"]["warnings"]
        assert any("move-150m" in w for w in rep["warnings"])
        [acc] = rep["accounts"]
        paid = sum(r["paid_micros"] for r in recs)
        assert acc["balance_cny"] == "100" and acc["paid_used_cny"] == micros_text(paid)
        metrics = httpx.get(gw.url + "/admin/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text
        assert 'qiao_grant_warning{account="zhipu",grant="flash-only"} 1' in metrics
        api = httpx.get(gw.url + "/admin/grants", headers={"Authorization": f"Bearer {ADMIN}"}).json()
        assert api["warnings"] == rep["warnings"]
        [acct] = httpx.get(gw.url + "/admin/accounts", headers={"Authorization": f"Bearer {ADMIN}"}).json()[
            "data"
        ]
        assert acct["credential"] == "set (…cret)" and "emulatorsecret" not in str(acct)
        assert acct["balance_cny"] == "100" and len(acct["grants"]) == 3


def test_a_repeated_client_request_id_neither_hides_records_nor_skips_the_budget(
    emu: ThreadServer, tmp_path: Path
) -> None:
    with _gw(emu, tmp_path) as gw:
        made = _key_with_budget(gw, "0.002")
        codes, ids = [], set()
        for _ in range(30):
            r = httpx.post(
                gw.url + "/v1/chat/completions",
                json={
                    "model": "zhipu/glm-4-plus",
                    "max_tokens": 30,
                    "messages": [{"role": "user", "content": "hi"}],
                },
                headers={"Authorization": f"Bearer {made['key']}", "X-Request-Id": "same-id-1"},
                timeout=30,
            )
            codes.append(r.status_code)
            assert r.headers["x-client-request-id"] == "same-id-1"
            ids.add(r.headers["x-request-id"])
            if r.status_code == 429:
                break
        assert codes[-1] == 429  # the budget still holds: a repeated id is not an already-held reservation
        assert len(ids) == len(codes)  # every request has its own id
        recs = [r for r in _records(gw, len(codes)) if r["key_id"] == made["id"]]
        assert len(recs) == len(codes) and {r["client_request_id"] for r in recs} == {"same-id-1"}
