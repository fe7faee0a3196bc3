"""vLLM quirks: ``reasoning`` (and the older ``reasoning_content``) → ``reasoning_content``; integer error
codes, the flat legacy error body and the plain-string 401; ``abort`` / ``repetition`` finish reasons;
``developer`` → ``system``; refused ``guided_*`` fields; mid-stream error frames."""

from __future__ import annotations

import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.gateway.params import unsupported_params
from qiao.providers.base import SSEEvent, StreamState
from qiao.providers.vllm import provider
from tests.providers._compat_helpers import body_of, call_for, req, resp

MODEL = "qwen2.5-7b-instruct"


def _completion(message: dict[str, object], finish: str = "stop") -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 9,
            "total_tokens": 14,
            "completion_tokens_details": {"reasoning_tokens": 4},
        },
    }


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_field_both_names(field: str) -> None:
    out = provider.parse_chat(
        resp(200, _completion({"content": "42", field: "think"})), req(model=MODEL), call_for("vllm", MODEL)
    )
    m = out.choices[0].message
    assert m.content == "42" and m.reasoning_content == "think"
    assert out.usage.reasoning_tokens == 4
    st = StreamState(call_for("vllm", MODEL, stream=True), req(model=MODEL))
    ch = provider.parse_event(
        SSEEvent(
            orjson.dumps({"choices": [{"index": 0, "delta": {field: "th"}, "finish_reason": None}]}).decode()
        ),
        st,
    )
    assert ch[0].choices[0].delta.reasoning_content == "th" and ch[0].choices[0].delta.content is None


@pytest.mark.parametrize(
    ("raw", "expected"), [("abort", "stop"), ("repetition", "stop"), ("length", "length")]
)
def test_finish_reasons(raw: str, expected: str) -> None:
    out = provider.parse_chat(
        resp(200, _completion({"content": "x"}, raw)), req(model=MODEL), call_for("vllm", MODEL)
    )
    assert out.choices[0].finish_reason == expected


def test_request_is_forwarded_with_usage_and_system_role() -> None:
    r = req(
        model="vllm/" + MODEL,
        messages=[{"role": "developer", "content": "be brief"}, {"role": "user", "content": "hi"}],
        stream=True,
        top_k=20,
    )
    b = body_of("vllm", r, call_for("vllm", MODEL, stream=True))
    assert b["model"] == MODEL and b["messages"][0]["role"] == "system" and b["top_k"] == 20
    assert b["stream_options"] == {"include_usage": True}
    assert r.raw_body()["messages"][0]["role"] == "developer"  # the client's request is not mutated


def test_guided_fields_are_refused_not_silently_ignored() -> None:
    spec = call_for("vllm", MODEL).spec
    assert unsupported_params(req(model=MODEL, guided_json={"type": "object"}), provider, spec) == [
        "guided_json"
    ]
    assert unsupported_params(req(model=MODEL, min_p=0.1, include_reasoning=True), provider, spec) == []


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, {"error": "Unauthorized"}, AuthenticationFailed),
        (
            404,
            {
                "error": {
                    "message": "The model `x` does not exist.",
                    "type": "NotFoundError",
                    "param": "model",
                    "code": 404,
                }
            },
            ModelNotFound,
        ),
        (
            400,
            {
                "object": "error",
                "message": "temperature must be >= 0",
                "type": "BadRequestError",
                "param": None,
                "code": 400,
            },
            InvalidRequest,
        ),
        (
            400,
            {
                "error": {
                    "message": "This model's maximum context length is 4096 tokens. However, your request has 5000 "
                    "input tokens.",
                    "type": "BadRequestError",
                    "param": None,
                    "code": 400,
                }
            },
            ContextLengthExceeded,
        ),
        (
            503,
            {"error": {"message": "busy", "type": "ServiceUnavailableError", "code": 503}},
            ServiceUnavailable,
        ),
        (500, b"Internal Server Error", UpstreamError),
    ],
)
def test_classify(status: int, body: object, cls: type) -> None:
    err = provider.classify(resp(status, body), call_for("vllm", MODEL, credential="secret-key"))
    assert type(err) is cls
    assert err is not None and err.provider == "vllm" and "secret-key" not in err.message
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        assert err.vendor_code == str(body["error"]["code"])  # integer code kept as text


def test_midstream_error_frame() -> None:
    st = StreamState(call_for("vllm", MODEL, stream=True), req(model=MODEL))
    frame = {
        "error": {"message": "CUDA out of memory", "type": "InternalServerError", "param": None, "code": 500}
    }
    with pytest.raises(UpstreamError) as exc:
        provider.parse_event(SSEEvent(orjson.dumps(frame).decode()), st)
    assert "CUDA out of memory" in exc.value.message


def test_no_catalogue_and_no_credential_needed() -> None:
    assert provider.models == () and provider.demo_credential is None and provider.demo_models
