"""Quirks of SGLang, llama.cpp, Xinference and Ollama ``/v1`` (vLLM has its own module), and the gateway's
estimate of streamed usage for servers that send none (reasoning counted as reasoning tokens)."""

from __future__ import annotations

import orjson
import pytest

from qiao.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    InvalidRequest,
    ModelNotFound,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
)
from qiao.gateway.pipeline import _estimate_usage
from qiao.gateway.stream import StreamAssembler
from qiao.providers._registry import get_provider
from qiao.providers.base import SSEEvent, StreamState
from qiao.types import ChatChunk, ChunkChoice, Delta
from tests.providers._compat_helpers import body_of, call_for, req, resp


def _event(obj: object) -> SSEEvent:
    return SSEEvent(orjson.dumps(obj).decode())


# ---- SGLang -------------------------------------------------------------------------------------------------


def test_sglang_flat_errors_and_matched_stop() -> None:
    p = get_provider("sglang")
    call = call_for("sglang", "m")
    flat = {"object": "error", "message": "bad top_p", "type": "BadRequestError", "param": None, "code": 400}
    assert isinstance(p.classify(resp(400, flat), call), InvalidRequest)
    assert isinstance(p.classify(resp(401, {"error": "Unauthorized"}), call), AuthenticationFailed)
    body = {
        "id": "x",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "reasoning_content": "r"},
                "finish_reason": "stop",
                "matched_stop": 151645,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    out = p.parse_chat(resp(200, body), req(model="m"), call)
    assert out.choices[0].message.reasoning_content == "r" and out.choices[0].finish_reason == "stop"


# ---- llama.cpp ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "cls", "retryable"),
    [
        (
            400,
            {
                "code": 400,
                "message": "the request exceeds the available context size",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": 9000,
                "n_ctx": 8192,
            },
            ContextLengthExceeded,
            False,
        ),
        (
            501,
            {
                "code": 501,
                "message": "This server does not support embeddings. Start it with `--embeddings`",
                "type": "not_supported_error",
            },
            InvalidRequest,
            False,
        ),
        (
            503,
            {"code": 503, "message": "Loading model", "type": "unavailable_error"},
            ServiceUnavailable,
            True,
        ),
        (
            401,
            {"code": 401, "message": "Invalid API Key", "type": "authentication_error"},
            AuthenticationFailed,
            False,
        ),
    ],
)
def test_llamacpp_errors(status: int, error: dict[str, object], cls: type, retryable: bool) -> None:
    err = get_provider("llamacpp").classify(resp(status, {"error": error}), call_for("llamacpp", "m"))
    assert type(err) is cls and err is not None and err.retryable is retryable
    if cls is ContextLengthExceeded:
        assert "8192" in err.message


def test_llamacpp_usage_on_the_finish_chunk() -> None:
    p = get_provider("llamacpp")
    st = StreamState(call_for("llamacpp", "m", stream=True), req(model="m"))
    ev = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        "timings": {"prompt_n": 7, "predicted_n": 3},
    }
    (ch,) = p.parse_event(_event(ev), st)
    assert ch.choices[0].finish_reason == "stop" and ch.usage is not None and ch.usage.prompt_tokens == 7


# ---- Xinference ---------------------------------------------------------------------------------------------


def test_xinference_detail_errors() -> None:
    p = get_provider("xinference")
    call = call_for("xinference", "qwen2.5-instruct")
    nf = p.classify(resp(400, {"detail": "Model not found in the model list, uid: nope"}), call)
    assert isinstance(nf, ModelNotFound) and "uid: nope" in nf.message
    rl = p.classify(resp(429, {"detail": "Rate limit reached for the model."}), call)
    assert isinstance(rl, RateLimited)
    v = p.classify(
        resp(422, {"detail": [{"loc": ["body", "temperature"], "msg": "Input should be a valid number"}]}),
        call,
    )
    assert isinstance(v, InvalidRequest) and "temperature: Input should be a valid number" in v.message
    assert isinstance(p.classify(resp(401, {"detail": "Invalid credential"}), call), AuthenticationFailed)
    assert isinstance(p.classify(resp(500, {"detail": "CUDA error"}), call), UpstreamError)


def test_xinference_stream_error_is_a_string_and_no_stream_options() -> None:
    p = get_provider("xinference")
    st = StreamState(call_for("xinference", "m", stream=True), req(model="m"))
    with pytest.raises(UpstreamError) as exc:
        p.parse_event(_event({"error": "Model actor is out of memory"}), st)
    assert "out of memory" in exc.value.message
    b = body_of(
        "xinference",
        req(model="m", stream=True, stream_options={"include_usage": True}),
        call_for("xinference", "m", stream=True),
    )
    assert "stream_options" not in b and b["stream"] is True
    spec = p.spec("any-uid")
    assert spec is not None and not spec.caps.stream_usage and spec.caps.tools
    vspec = get_provider("vllm").spec("any")
    assert vspec is not None and vspec.caps.stream_usage


# ---- Ollama /v1 ---------------------------------------------------------------------------------------------


def test_ollama_reasoning_and_tool_calls_that_say_stop() -> None:
    p = get_provider("ollama_openai")
    call = call_for("ollama_openai", "qwen3:8b")
    body = {
        "id": "chatcmpl-1",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "",
                    "reasoning": "let me think",
                    "tool_calls": [
                        {
                            "id": "call_x",
                            "index": 0,
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    out = p.parse_chat(resp(200, body), req(model="qwen3:8b"), call)
    c = out.choices[0]
    assert c.message.reasoning_content == "let me think" and c.finish_reason == "tool_calls"
    st = StreamState(call_for("ollama_openai", "qwen3:8b", stream=True), req(model="qwen3:8b"))
    p.parse_event(
        _event(
            {"choices": [{"index": 0, "delta": {"tool_calls": body["choices"][0]["message"]["tool_calls"]}}]}
        ),
        st,
    )  # type: ignore[index]
    (ch,) = p.parse_event(_event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}), st)
    assert ch.choices[0].finish_reason == "tool_calls"
    nf = {
        "error": {
            "message": 'model "x" not found, try pulling it first',
            "type": "not_found_error",
            "param": None,
            "code": None,
        }
    }
    assert isinstance(p.classify(resp(404, nf), call), ModelNotFound)


# ---- the gateway's estimate of streamed usage ---------------------------------------------------------------


def test_estimated_stream_usage_counts_reasoning_apart() -> None:
    asm = StreamAssembler("id", 0, "m", True)
    asm.feed(ChatChunk([ChunkChoice(0, Delta(reasoning_content="Let me think about the sky and the sun."))]))
    asm.feed(ChatChunk([ChunkChoice(0, Delta(content="Rayleigh scattering."), "stop")]))
    st = StreamState(
        call_for("xinference", "m", stream=True),
        req(model="m", messages=[{"role": "user", "content": "why is the sky blue"}]),
    )
    u = _estimate_usage(asm, st)
    assert u.estimated and u.prompt_tokens > 0
    assert u.reasoning_tokens > 0 and u.completion_tokens > u.reasoning_tokens
    assert asm.text_of(0) == "Rayleigh scattering."  # reasoning is not answer content
