"""The official ``sensenova`` SDK (PyPI 1.0.6) against qiao's SenseNova emulator on loopback.

Installing the SDK: ``sensenova`` pins ``PyJWT==2.6.0`` while ``zhipuai`` (and qiao) need a newer PyJWT,
so it is installed **without its dependencies** — ``pip install --no-deps sensenova`` — beside the ones
it really imports at run time (``requests``, ``aiohttp``, ``PyJWT`` ≥ 2.8 works; ``tqdm`` only for file
uploads). pip extras cannot say ``--no-deps``: the pin lives in ``tests/requirements-sdk-nodeps.txt``,
which ``scripts/test.sh`` (and so ``.ci/run``) installs with ``--no-deps``; ``requests`` is in the
``test`` extra. Never let pip downgrade PyJWT for it.

Pointing it here: ``api_base=ROOT/v1`` and the key pair on every call (the SDK signs a fresh JWT per
request: ``iss`` = key id, ``exp`` = now + 1800, ``nbf`` = now − 5). A console API key goes in through
``headers={"Authorization": "Bearer <key>"}``, which the SDK lets override its own JWT header (it still
wants a key pair, any non-empty one).

What the SDK taught the emulator (where it and the notes could have disagreed, the SDK wins):

* it sends no ``Accept`` header on streams and only treats a reply as a stream if ``Content-Type``
  contains ``text/event-stream`` — otherwise it parses the whole SSE body as one JSON document and fails;
* it matches the terminator as the exact bytes ``data:[DONE]`` (no space) and strips ``data:`` without
  a space; a ``data: {...}`` line would still parse, but ``data: [DONE]`` would be parsed as JSON;
* it ``eval()``s any body that is not JSON (including error bodies), so the emulator never answers
  plain text; a 503 raises ``ServiceUnavailableError`` before the body is read;
* errors are chosen by HTTP status (400/404 → ``InvalidRequestError``, 401 → ``AuthenticationError``,
  429 → ``RateLimitError``, 403 → ``PermissionError``, 409 → ``TryAgain``), the body must have an
  ``error`` object, and in a stream any line whose JSON has a top-level ``error`` key raises;
* embeddings come back as a top-level ``embeddings`` list (``resp.embeddings[0].embedding``), not in
  a ``data`` envelope.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import emulator_in_thread

sensenova = pytest.importorskip(
    "sensenova", reason="install with `pip install --no-deps -r tests/requirements-sdk-nodeps.txt`"
)

pytestmark = pytest.mark.sdk

AK, SK = "EMUAKID", "emulatorsecret"
CONSOLE = "emulator-console-key"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with emulator_in_thread("sensenova", credential=f"{AK}:{SK},{CONSOLE}") as emu:
        yield emu.url + "/v1"


def kw(base: str, **extra: Any) -> dict[str, Any]:
    return {"access_key_id": AK, "secret_access_key": SK, "api_base": base, **extra}


def test_chat_non_stream(base: str) -> None:
    resp = sensenova.ChatCompletion.create(
        model="SenseChat-5",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say this is a test!"},
        ],
        max_new_tokens=256,
        temperature=0.8,
        top_p=0.7,
        repetition_penalty=1.05,
        user="sdk-test-user",
        **kw(base),
    )
    choice = resp["data"]["choices"][0]
    assert isinstance(choice["message"], str) and "Say this is a test!" in choice["message"]
    assert choice["finish_reason"] == "stop" and choice["role"] == "assistant"
    usage = resp["data"]["usage"]
    assert (
        usage["total_tokens"]
        == usage["prompt_tokens"] + usage["completion_tokens"] + usage["knowledge_tokens"]
    )
    assert resp._headers["x-request-id"]


def test_chat_stream(base: str) -> None:
    parts = list(
        sensenova.ChatCompletion.create(
            model="SenseChat-Turbo",
            messages=[{"role": "user", "content": "你好，长江有多长？"}],
            stream=True,
            **kw(base),
        )
    )
    assert len(parts) > 3
    text = "".join(p["data"]["choices"][0]["delta"] for p in parts)
    assert "长江" in text
    assert [p["data"]["choices"][0]["finish_reason"] for p in parts][-1] == "stop"
    assert all(p["data"]["choices"][0]["finish_reason"] == "" for p in parts[:-1])
    assert parts[-1]["data"]["usage"]["completion_tokens"] > 0


def test_chat_n_and_length(base: str) -> None:
    resp = sensenova.ChatCompletion.create(
        model="SenseChat-5",
        messages=[{"role": "user", "content": "tell me a long story"}],
        n=2,
        max_new_tokens=3,
        **kw(base),
    )
    assert [c["index"] for c in resp["data"]["choices"]] == [0, 1]
    assert {c["finish_reason"] for c in resp["data"]["choices"]} == {"length"}


async def test_async_chat_stream_and_non_stream(base: str) -> None:
    resp = await sensenova.ChatCompletion.acreate(
        model="SenseChat-5", messages=[{"role": "user", "content": "hello async"}], **kw(base)
    )
    assert "hello async" in resp["data"]["choices"][0]["message"]
    gen = await sensenova.ChatCompletion.acreate(
        model="SenseChat-5", messages=[{"role": "user", "content": "hello async"}], stream=True, **kw(base)
    )
    text = "".join([p["data"]["choices"][0]["delta"] async for p in gen])
    assert text == resp["data"]["choices"][0]["message"]


def test_tools_round_trip(base: str) -> None:
    first = sensenova.ChatCompletion.create(
        model="SenseChat-5",
        messages=[{"role": "user", "content": "What is the weather in Beijing? use get_weather"}],
        tools=TOOLS,
        tool_choice="auto",
        **kw(base),
    )
    choice = first["data"]["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["tool_calls"][0]
    assert call["id"] and call["type"] == "function" and call["function"]["name"] == "get_weather"
    second = sensenova.ChatCompletion.create(
        model="SenseChat-5",
        messages=[
            {"role": "user", "content": "What is the weather in Beijing? use get_weather"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 25C"},
        ],
        tools=TOOLS,
        **kw(base),
    )
    assert "sunny, 25C" in second["data"]["choices"][0]["message"]
    streamed = list(
        sensenova.ChatCompletion.create(
            model="SenseChat-5",
            messages=[{"role": "user", "content": "What is the weather in Beijing? use get_weather"}],
            tools=TOOLS,
            stream=True,
            **kw(base),
        )
    )
    assert streamed[-1]["data"]["choices"][0]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_vision_base64(base: str) -> None:
    resp = sensenova.ChatCompletion.create(
        model="SenseChat-Vision",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in the picture"},
                    {"type": "image_base64", "image_base64": "iVBORw0KGgo="},
                ],
            }
        ],
        **kw(base),
    )
    assert "image" in resp["data"]["choices"][0]["message"]


def test_embeddings(base: str) -> None:
    resp = sensenova.Embedding.create(
        model="nova-embedding-stable", input=["今天天气怎么样", "hello"], **kw(base)
    )
    assert [e.index for e in resp.embeddings] == [0, 1]
    assert len(resp.embeddings[0].embedding) == 1536
    assert resp.usage.prompt_tokens > 0


def test_console_api_key(base: str) -> None:
    resp = sensenova.ChatCompletion.create(
        model="SenseChat-5",
        messages=[{"role": "user", "content": "hi"}],
        headers={"Authorization": f"Bearer {CONSOLE}"},
        **kw(base, access_key_id="unused", secret_access_key="unused"),
    )
    assert resp["data"]["choices"][0]["message"]
    with pytest.raises(sensenova.AuthenticationError):
        sensenova.ChatCompletion.create(
            model="SenseChat-5",
            messages=[{"role": "user", "content": "hi"}],
            headers={"Authorization": "Bearer not-a-key"},
            **kw(base),
        )


@pytest.mark.parametrize(
    ("marker", "cls", "stream"),
    [
        ("bad_key", "AuthenticationError", False),
        ("rate_limited", "RateLimitError", True),
        ("insufficient_quota", "RateLimitError", False),
        ("filtered", "InvalidRequestError", False),
        ("server_error", "APIError", False),
        ("overloaded", "ServiceUnavailableError", True),
    ],
)
def test_errors_are_parsed(base: str, marker: str, cls: str, stream: bool) -> None:
    with pytest.raises(getattr(sensenova.error, cls)) as ei:
        r = sensenova.ChatCompletion.create(
            model="SenseChat-5",
            messages=[{"role": "user", "content": f"[[emulate:{marker}]]"}],
            stream=stream,
            **kw(base),
        )
        list(r) if stream else None
    if marker != "overloaded":
        assert isinstance(ei.value.json_body["error"]["code"], int)


def test_wrong_secret_and_unknown_model(base: str) -> None:
    with pytest.raises(sensenova.AuthenticationError):
        sensenova.ChatCompletion.create(
            model="SenseChat-5",
            messages=[{"role": "user", "content": "hi"}],
            **kw(base, secret_access_key="nope"),
        )
    with pytest.raises(sensenova.InvalidRequestError) as ei:
        sensenova.ChatCompletion.create(
            model="SenseChat-99", messages=[{"role": "user", "content": "hi"}], **kw(base)
        )
    assert ei.value.code == 5 and ei.value.http_status == 404


def test_models_list_and_retrieve(base: str) -> None:
    ids = [m["id"] for m in sensenova.Model.list(**kw(base))["data"]]
    assert "SenseChat-5" in ids and "nova-embedding-stable" in ids
    assert sensenova.Model.retrieve(id="SenseChat-Turbo", **kw(base))["id"] == "SenseChat-Turbo"
    with pytest.raises(sensenova.InvalidRequestError):
        sensenova.Model.retrieve(id="SenseChat-99", **kw(base))
