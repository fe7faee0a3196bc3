"""The ASGI app in-process: auth, body limits, routing and validation errors, all OpenAI-shaped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from qiao.config import Settings
from qiao.server.app import GatewayApp

KEY = "sk-qiao-app-test"


@pytest.fixture()
async def client() -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings.model_validate(
        {
            "server": {"max_body_bytes": 2048},
            "keys": [{"name": "t", "key": KEY}],
            "accounts": [
                {
                    "provider": "openai_compat",
                    "name": "x",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["m"],
                }
            ],
        }
    )
    app = GatewayApp(settings)
    app.ready = True
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c
    await app.gateway.aclose()


def shape(r: httpx.Response) -> dict[str, object]:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert r.headers["x-request-id"]
    return body["error"]  # type: ignore[no-any-return]


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200


async def test_missing_and_wrong_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/models")
    assert r.status_code == 401 and shape(r)["code"] == "missing_api_key"
    r = await client.get("/v1/models", headers={"Authorization": "Bearer sk-nope-123456789"})
    e = shape(r)
    assert r.status_code == 401 and "sk-nope-123456789" not in str(e["message"])
    r = await client.get("/v1/models", headers={"api-key": KEY})  # Azure-style header works too
    assert r.status_code == 200


async def test_unknown_url_and_method(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/nothing")
    assert r.status_code == 404 and shape(r)["code"] == "unknown_url"
    r = await client.get("/v1/chat/completions")
    assert r.status_code == 400 and shape(r)["code"] == "method_not_allowed"


async def test_body_too_large(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, content=b"{" + b" " * 4096 + b"}"
    )
    assert r.status_code == 413 and shape(r)["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "body,param",
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model"),
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": [{"role": "user"}]}, "messages[0].content"),
        (
            {"model": "m", "messages": [{"role": "tool", "content": "r", "tool_call_id": "c1"}]},
            "messages[0].tool_call_id",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "x"}], "top_p": 1.5}, "top_p"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": ["a", "b", "c", "d", "e"]},
            "stop",
        ),
    ],
)
async def test_validation_names_param(client: httpx.AsyncClient, body: dict[str, object], param: str) -> None:
    r = await client.post("/v1/chat/completions", headers={"Authorization": f"Bearer {KEY}"}, json=body)
    assert r.status_code == 400
    assert shape(r)["param"] == param


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "nope", "messages": [{"role": "user", "content": "x"}]},
    )
    assert r.status_code == 404 and shape(r)["code"] == "model_not_found"


async def test_unreachable_upstream_is_502_not_a_trace(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}", "x-request-id": "abc"},
        json={"model": "x/m", "messages": [{"role": "user", "content": "x"}]},
    )
    # the client's id is echoed (and recorded); the request id is always the gateway's own, unique one
    assert r.status_code == 502 and r.headers["x-client-request-id"] == "abc"
    assert r.headers["x-request-id"] != "abc"
    e = shape(r)
    assert "openai_compat" in str(e["message"]) and "Traceback" not in r.text


async def test_embeddings_validation(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/embeddings", headers={"Authorization": f"Bearer {KEY}"}, json={"model": "x/m", "input": ""}
    )
    assert r.status_code == 400 and shape(r)["param"] == "input"
    r = await client.post(
        "/v1/embeddings",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "x/m", "input": "a", "encoding_format": "hex"},
    )
    assert r.status_code == 400 and shape(r)["param"] == "encoding_format"
