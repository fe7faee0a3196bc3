"""The official ``zhipuai`` SDK against qiao's Zhipu emulator (served by uvicorn on loopback).

Both auth forms the SDK has: the plain key (its default) and its self-signed JWT
(``disable_token_cache=False``, minted by the SDK with PyJWT 2.8). Every answer must parse.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

zhipuai = pytest.importorskip(
    "zhipuai", reason="the official zhipuai SDK is not installed (pip install zhipuai)"
)
jwt = pytest.importorskip("jwt")

from qiao.emulators.zhipu import DEFAULT_CREDENTIAL  # noqa: E402
from tests.conftest import emulator_in_thread  # noqa: E402

pytestmark = pytest.mark.sdk

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Look up the current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def root() -> Iterator[str]:
    with emulator_in_thread("zhipu") as srv:
        yield srv.url


@pytest.fixture(params=["key", "jwt"])
def client(request: pytest.FixtureRequest, root: str) -> Iterator[zhipuai.ZhipuAI]:
    c = zhipuai.ZhipuAI(
        api_key=DEFAULT_CREDENTIAL,
        base_url=f"{root}/api/paas/v4",
        max_retries=0,
        disable_token_cache=request.param == "key",
    )
    yield c
    c.close()


def test_sdk_jwt_header_is_what_the_notes_say() -> None:
    from zhipuai.core._jwt_token import generate_token

    token = generate_token(DEFAULT_CREDENTIAL)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "sign_type": "SIGN", "typ": "JWT"}
    payload = jwt.decode(token, "emulatorsecret", algorithms=["HS256"], options={"verify_exp": False})
    assert payload["api_key"] == "emulatorid"
    assert payload["exp"] > 10**12  # milliseconds


def test_chat(client: zhipuai.ZhipuAI) -> None:
    r = client.chat.completions.create(
        model="glm-4-plus",
        messages=[{"role": "user", "content": "你好，介绍一下杭州"}],
        temperature=0.5,
        top_p=0.9,
        max_tokens=200,
        user_id="user-000042",
    )
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].message.content and "杭州" in r.choices[0].message.content
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert r.id and r.request_id


def test_chat_temperature_edges_as_the_sdk_clamps_them(client: zhipuai.ZhipuAI) -> None:
    # temperature 0 → do_sample false + 0.01; 1 → 0.99; top_p 1 → 0.99: the emulator must accept all.
    for t in (0, 1):
        r = client.chat.completions.create(
            model="glm-4-flash", messages=[{"role": "user", "content": "hi"}], temperature=t, top_p=1
        )
        assert r.choices[0].message.content


def test_stream(client: zhipuai.ZhipuAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="glm-4-flash", messages=[{"role": "user", "content": "Tell me about Hangzhou"}], stream=True
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Hangzhou" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_tools_round_trip(client: zhipuai.ZhipuAI) -> None:
    msgs: list[dict[str, object]] = [{"role": "user", "content": "What is the weather in Hangzhou?"}]
    r = client.chat.completions.create(
        model="glm-4-plus", messages=msgs, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    assert r.choices[0].finish_reason == "tool_calls"
    call = r.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.id
    msgs.append(r.choices[0].message.model_dump(exclude_none=True))
    msgs.append({"role": "tool", "content": '{"weather": "sunny"}', "tool_call_id": call.id})
    r2 = client.chat.completions.create(model="glm-4-plus", messages=msgs, tools=[WEATHER_TOOL])
    assert r2.choices[0].finish_reason == "stop" and "sunny" in (r2.choices[0].message.content or "")


def test_tools_stream(client: zhipuai.ZhipuAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="glm-4-plus",
            messages=[{"role": "user", "content": "get_weather for Beijing"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    calls = [t for c in chunks for t in (c.choices[0].delta.tool_calls or [])]
    assert calls and calls[0].function.name == "get_weather" and calls[0].id
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_thinking_model(client: zhipuai.ZhipuAI) -> None:
    r = client.chat.completions.create(
        model="glm-4.5",
        messages=[{"role": "user", "content": "why is the sky blue"}],
        thinking={"type": "enabled"},
    )
    assert r.choices[0].message.reasoning_content
    r = client.chat.completions.create(
        model="glm-4.5",
        messages=[{"role": "user", "content": "why is the sky blue"}],
        thinking={"type": "disabled"},
    )
    assert r.choices[0].message.reasoning_content is None
    chunks = list(
        client.chat.completions.create(
            model="glm-4.6", messages=[{"role": "user", "content": "why"}], stream=True
        )
    )
    assert "".join(c.choices[0].delta.reasoning_content or "" for c in chunks)


def test_json_mode(client: zhipuai.ZhipuAI) -> None:
    import json

    r = client.chat.completions.create(
        model="glm-4-plus",
        messages=[{"role": "user", "content": "answer in JSON"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(r.choices[0].message.content or ""), dict)


def test_vision_data_uri_is_stripped_by_the_sdk(client: zhipuai.ZhipuAI) -> None:
    content = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
    r = client.chat.completions.create(model="glm-4v-plus", messages=[{"role": "user", "content": content}])
    assert "1 image" in (r.choices[0].message.content or "")


def test_embeddings(client: zhipuai.ZhipuAI) -> None:
    r = client.embeddings.create(model="embedding-3", input=["first text", "second text"], dimensions=512)
    assert [len(d.embedding) for d in r.data] == [512, 512]
    assert r.usage.prompt_tokens > 0
    r = client.embeddings.create(model="embedding-2", input="one")
    assert len(r.data[0].embedding) == 1024


def test_errors_map_to_sdk_exceptions(root: str, client: zhipuai.ZhipuAI) -> None:
    with pytest.raises(zhipuai.APIRequestFailedError) as e:
        client.chat.completions.create(model="glm-nope", messages=[{"role": "user", "content": "hi"}])
    assert '"1211"' in str(e.value)
    with pytest.raises(zhipuai.APIRequestFailedError) as e:
        client.chat.completions.create(
            model="glm-4-plus", messages=[{"role": "user", "content": "x [[emulate:filtered]]"}]
        )
    assert '"1301"' in str(e.value)
    with pytest.raises(zhipuai.APIReachLimitError) as e:
        client.chat.completions.create(
            model="glm-4-plus", messages=[{"role": "user", "content": "x [[emulate:insufficient_quota]]"}]
        )
    assert '"1113"' in str(e.value)
    with pytest.raises(zhipuai.APIRequestFailedError):
        client.chat.completions.create(
            model="glm-4-plus", messages=[{"role": "user", "content": "hi"}], stop=["a", "b"]
        )
    with pytest.raises(zhipuai.APIRequestFailedError):
        client.chat.completions.create(
            model="glm-4-plus",
            messages=[{"role": "user", "content": "hi"}],
            tool_choice="required",
            tools=[WEATHER_TOOL],
        )


def test_stream_sensitive_finish(client: zhipuai.ZhipuAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="glm-4-flash",
            messages=[{"role": "user", "content": "tell me a long story [[emulate:filtered_midway]]"}],
            stream=True,
        )
    )
    assert chunks[-1].choices[0].finish_reason == "sensitive"


@pytest.mark.parametrize("api_key", ["emulatorid.wrongsecret", "otherid.emulatorsecret"])
@pytest.mark.parametrize("jwt_mode", [False, True])
def test_bad_credentials_are_401(root: str, api_key: str, jwt_mode: bool) -> None:
    c = zhipuai.ZhipuAI(
        api_key=api_key, base_url=f"{root}/api/paas/v4", max_retries=0, disable_token_cache=not jwt_mode
    )
    with pytest.raises(zhipuai.APIAuthenticationError) as e:
        c.chat.completions.create(model="glm-4-flash", messages=[{"role": "user", "content": "hi"}])
    assert '"100' in str(e.value)
    c.close()


def test_expired_jwt_is_401_1003(root: str) -> None:
    import httpx

    now = int(time.time() * 1000)
    token = jwt.encode(
        {"api_key": "emulatorid", "exp": now - 1000, "timestamp": now - 300_000},
        "emulatorsecret",
        algorithm="HS256",
        headers={"alg": "HS256", "sign_type": "SIGN"},
    )
    r = httpx.post(
        f"{root}/api/paas/v4/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "glm-4-flash", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "1003"
    # exp in seconds instead of milliseconds: already expired, as the notes warn
    token = jwt.encode(
        {"api_key": "emulatorid", "exp": int(time.time()) + 3600, "timestamp": now},
        "emulatorsecret",
        algorithm="HS256",
        headers={"alg": "HS256", "sign_type": "SIGN"},
    )
    r = httpx.post(
        f"{root}/api/paas/v4/chat/completions",
        headers={"Authorization": f"Bearer {token}"},
        json={"model": "glm-4-flash", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert r.status_code == 401 and r.json()["error"]["code"] == "1003"


def test_sdk_sends_explicit_nulls_and_they_are_accepted(root: str) -> None:
    import json

    import httpx

    seen: list[dict[str, object]] = []

    def capture(request: httpx.Request) -> None:
        seen.append(json.loads(request.content))

    hc = httpx.Client(event_hooks={"request": [capture]})
    c = zhipuai.ZhipuAI(
        api_key=DEFAULT_CREDENTIAL, base_url=f"{root}/api/paas/v4", max_retries=0, http_client=hc
    )
    r = c.chat.completions.create(model="glm-4-flash", messages=[{"role": "user", "content": "hi"}])
    assert r.choices[0].message.content
    assert seen[0]["response_format"] is None and seen[0]["thinking"] is None
    hc.close()
