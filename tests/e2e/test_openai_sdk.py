"""End to end: the official ``openai`` SDK → ``qiao serve`` (a real process) → the OpenAI-shaped emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.conftest import QiaoProcess, emulator_in_thread

pytestmark = pytest.mark.e2e

KEY = "sk-qiao-e2e-test-key"
RESTRICTED = "sk-qiao-e2e-restricted"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Get the current weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    }
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("e2e")
    with emulator_in_thread("openai_compat") as emu:
        cfg = {
            "keys": [
                {"name": "test", "key": KEY},
                {"name": "restricted", "key": RESTRICTED, "models": ["gpt-4o-mini"]},
            ],
            "accounts": [
                {
                    "provider": "openai_compat",
                    "name": "emu",
                    "base_url": emu.url + "/v1",
                    "credential": "sk-emulator",
                    "models": ["gpt-4o", "gpt-4o-mini", "o3-mini", "text-embedding-3-small"],
                },
                {
                    "provider": "openai_compat",
                    "name": "badcred",
                    "base_url": emu.url + "/v1",
                    "credential": "wrong",
                    "models": ["gpt-4o"],
                },
                {
                    "provider": "openai_compat",
                    "name": "down",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["gpt-4o"],
                },
            ],
            "aliases": {
                "gpt-4o": "emu/gpt-4o",
                "text-embedding-3-small": "emu/text-embedding-3-small",
                "with-fallback": ["down/gpt-4o", "emu/gpt-4o"],
            },
            "routes": {"impatient": {"targets": [{"target": "emu/gpt-4o"}], "first_byte_timeout_s": 0.5}},
        }
        with QiaoProcess(cfg, tmp) as gw:
            yield gw.url + "/v1"


@pytest.fixture()
def client(gateway: str) -> OpenAI:
    return OpenAI(base_url=gateway, api_key=KEY, max_retries=0)


def test_chat_non_streaming(client: OpenAI) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello to Beijing"},
        ],
    )
    assert r.headers["x-qiao-provider"] == "openai_compat"
    assert r.headers["x-qiao-upstream-model"] == "gpt-4o"
    assert float(r.headers["x-qiao-overhead-ms"]) >= 0
    assert r.headers["x-request-id"]
    c = r.parse()
    assert c.object == "chat.completion" and c.model == "gpt-4o"
    assert c.choices[0].message.role == "assistant"
    assert "Beijing" in (c.choices[0].message.content or "")
    assert c.choices[0].finish_reason == "stop"
    assert c.usage and c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens
    assert c._request_id == r.headers["x-request-id"]


def test_provider_model_name_and_max_tokens(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="openai_compat/gpt-4o-mini",
        max_tokens=3,
        messages=[{"role": "user", "content": "tell me a long story please"}],
    )
    assert c.model == "openai_compat/gpt-4o-mini"
    assert c.choices[0].finish_reason == "length"
    assert c.usage is not None and c.usage.completion_tokens <= 3


def test_n_and_stop(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="gpt-4o", n=2, stop=["banana"], messages=[{"role": "user", "content": "apple banana cherry"}]
    )
    assert [ch.index for ch in c.choices] == [0, 1]
    assert all("banana" not in (ch.message.content or "") for ch in c.choices)


def test_stream_with_usage(client: OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hello there"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("You said: hello there")
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert all(c.id == chunks[0].id for c in chunks)


def test_tools_round_trip(client: OpenAI) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "What's the weather in Beijing?"}]
    c = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert c.choices[0].finish_reason == "tool_calls"
    call = c.choices[0].message.tool_calls[0]  # type: ignore[index]
    args = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert args["unit"] in ("c", "f") and isinstance(args["city"], str)
    messages.append(c.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 25C"})
    c2 = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS)  # type: ignore[arg-type]
    assert c2.choices[0].finish_reason == "stop"
    assert "sunny, 25C" in (c2.choices[0].message.content or "")


def test_tools_streaming(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Shanghai"}],
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    args = ""
    name = None
    ids = set()
    finish = None
    for ch in stream:
        if not ch.choices:
            continue
        for t in ch.choices[0].delta.tool_calls or []:
            assert t.index == 0
            if t.id:
                ids.add(t.id)
            if t.function and t.function.name:
                name = t.function.name
            if t.function and t.function.arguments:
                args += t.function.arguments
        finish = ch.choices[0].finish_reason or finish
    assert name == "get_weather" and len(ids) == 1 and finish == "tool_calls"
    assert set(json.loads(args)) == {"city", "unit"}


def test_json_schema_mode(client: OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    }
    c = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "Extract: Li Lei is 12"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": schema, "strict": True},
        },
    )
    obj = json.loads(c.choices[0].message.content or "")
    import jsonschema

    jsonschema.validate(obj, schema)


def test_embeddings_float_and_base64(client: OpenAI) -> None:
    e = client.embeddings.create(model="text-embedding-3-small", input=["你好", "hello", "你好"])
    assert [d.index for d in e.data] == [0, 1, 2]
    assert len(e.data[0].embedding) == 1536
    assert e.data[0].embedding == e.data[2].embedding != e.data[1].embedding
    # the SDK asks for base64 by default when numpy is absent? force both explicitly
    b = client.embeddings.create(model="text-embedding-3-small", input="hello", encoding_format="base64")
    assert isinstance(b.data[0].embedding, str) and len(b.data[0].embedding) > 100
    d = client.embeddings.create(model="text-embedding-3-small", input="hello", dimensions=256)
    assert len(d.data[0].embedding) == 256


def test_models(client: OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids and "openai_compat/gpt-4o" in ids and "emu/gpt-4o" not in ids
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_legacy_completions(client: OpenAI) -> None:
    c = client.completions.create(model="gpt-4o", prompt="Say this is a test", max_tokens=50)
    assert c.object == "text_completion" and "Say this is a test" in c.choices[0].text
    s = list(client.completions.create(model="gpt-4o", prompt="hi", stream=True))
    assert "".join(x.choices[0].text for x in s if x.choices).startswith("You said: hi")


def test_fallback_to_next_target(client: OpenAI) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="with-fallback", messages=[{"role": "user", "content": "hi"}]
    )
    # the unreachable target is retried once (routing.retry.per_target), then the next one answers
    assert r.headers["x-qiao-account"] == "emu" and r.headers["x-qiao-attempts"] == "3"
    tried = r.headers["x-qiao-tried"].split(", ")
    assert tried == ["down/gpt-4o=upstream_connect_error"] * 2 + ["emu/gpt-4o=ok"]
    assert r.headers["x-qiao-route"] == "with-fallback"


# ---- every error class the SDK raises -------------------------------------------------------------------


def test_error_authentication(gateway: str) -> None:
    bad = OpenAI(base_url=gateway, api_key="sk-wrong-key-123456", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as ei:
        bad.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert ei.value.status_code == 401 and ei.value.code == "invalid_api_key"
    assert "sk-wrong-key-123456" not in str(ei.value)


def test_error_permission(gateway: str) -> None:
    c = OpenAI(base_url=gateway, api_key=RESTRICTED, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    ok = c.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert ok.choices[0].message.content


def test_error_not_found(client: OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as ei:
        client.chat.completions.create(model="gpt-5-turbo", messages=[{"role": "user", "content": "x"}])
    assert ei.value.code == "model_not_found"


@pytest.mark.parametrize(
    "kwargs,param",
    [
        ({"temperature": 3}, "temperature"),
        ({"n": 0}, "n"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": []}, "messages"),
        ({"max_tokens": "many"}, "max_tokens"),
        ({"tool_choice": "auto"}, "tool_choice"),
    ],
)
def test_error_bad_request_names_param(client: OpenAI, kwargs: dict[str, object], param: str) -> None:
    args: dict[str, object] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], **kwargs}
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(**args)  # type: ignore[call-overload]
    assert ei.value.status_code == 400
    body = ei.value.body
    assert isinstance(body, dict) and body.get("param") == param, body


def test_error_context_length(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model="gpt-4o", max_tokens=8192, messages=[{"role": "user", "content": "word " * 130_000}]
        )
    assert ei.value.code == "context_length_exceeded"


def test_error_rate_limited_with_retry_after(client: OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi [[emulate:rate_limited]]"}]
        )
    assert ei.value.response.headers.get("retry-after") == "1"
    with pytest.raises(openai.RateLimitError) as ei2:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:insufficient_quota]]"}]
        )
    assert ei2.value.code == "insufficient_quota"


def test_error_upstream_server_error(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:server_error]]"}]
        )
    assert ei.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as ei2:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:overloaded]]"}]
        )
    assert ei2.value.status_code == 503


def test_error_upstream_credential_is_not_leaked(client: OpenAI) -> None:
    with pytest.raises(openai.AuthenticationError) as ei:
        client.chat.completions.create(model="badcred/gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert "wrong" not in json.dumps(ei.value.body)


def test_error_content_filter(client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as ei:
        client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:filtered]]"}]
        )
    assert ei.value.code == "content_filter"


def test_error_mid_stream_cut(client: OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "a b c d e f g [[emulate:cut_stream]]"}],
        stream=True,
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_error_connection(gateway: str) -> None:
    c = OpenAI(base_url="http://127.0.0.1:9/v1", api_key=KEY, max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError):
        c.models.list()


def test_error_malformed_json(gateway: str) -> None:
    import httpx

    r = httpx.post(
        gateway + "/chat/completions",
        content=b"{not json",
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}


async def test_async_client(gateway: str) -> None:
    c = AsyncOpenAI(base_url=gateway, api_key=KEY, max_retries=0)
    r = await c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "async hi"}])
    assert "async hi" in (r.choices[0].message.content or "")
    text = ""
    async for ch in await c.chat.completions.create(
        model="gpt-4o", stream=True, messages=[{"role": "user", "content": "async stream"}]
    ):
        if ch.choices:
            text += ch.choices[0].delta.content or ""
    assert "async stream" in text
    e = await c.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(e.data[0].embedding) == 1536
    with pytest.raises(openai.NotFoundError):
        await c.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    await c.close()


def test_vision_image_parts(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is in this picture?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
                    },
                ],
            }
        ],
    )
    assert "1 image" in (c.choices[0].message.content or "")


def test_seed_user_and_max_completion_tokens_pass_through(client: OpenAI) -> None:
    c = client.chat.completions.create(
        model="gpt-4o",
        seed=42,
        user="user-1",
        max_completion_tokens=5,
        messages=[{"role": "user", "content": "a long question about many things"}],
    )
    assert c.choices[0].finish_reason == "length"


def test_error_upstream_timeout_is_504(client: OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as ei:
        client.chat.completions.create(
            model="impatient", messages=[{"role": "user", "content": "[[emulate:slow_first_byte=3]]"}]
        )
    assert ei.value.status_code == 504 and ei.value.code == "upstream_timeout"


def test_error_client_side_timeout(gateway: str) -> None:
    c = OpenAI(base_url=gateway, api_key=KEY, max_retries=0, timeout=0.5)
    with pytest.raises(openai.APITimeoutError):
        c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "[[emulate:slow_first_byte=3]]"}]
        )


def test_several_workers_share_the_port(tmp_path: Path) -> None:
    with emulator_in_thread("openai_compat") as emu:
        cfg = {
            "keys": [{"name": "t", "key": KEY}],
            "accounts": [
                {
                    "provider": "openai_compat",
                    "base_url": emu.url + "/v1",
                    "credential": "sk-emulator",
                    "models": ["gpt-4o"],
                }
            ],
        }
        with QiaoProcess(cfg, tmp_path, workers=2) as gw:
            c = OpenAI(base_url=gw.url + "/v1", api_key=KEY, max_retries=0)
            for _ in range(6):
                assert c.chat.completions.create(
                    model="openai_compat/gpt-4o", messages=[{"role": "user", "content": "hi"}]
                ).choices
            assert gw.proc is not None
            children = Path(f"/proc/{gw.proc.pid}/task/{gw.proc.pid}/children").read_text().split()
            assert len(children) >= 2  # two workers (plus, with spawn, possibly a resource tracker)
