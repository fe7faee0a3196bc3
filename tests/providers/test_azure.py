"""Azure OpenAI: deployment URLs with api-version, the v1 style, deployments map, ``api-key`` vs Bearer,
``stream_options`` by api-version, content-filter errors and ``finish_reason: content_filter``, the
empty-choices first chunk, DeploymentNotFound."""

from __future__ import annotations

import asyncio

import orjson

from qiao.errors import AuthenticationFailed, ContentFiltered, ModelNotFound, RateLimited
from qiao.providers.azure import provider
from qiao.providers.base import SSEEvent, StreamState
from qiao.types import EmbeddingRequest
from tests.providers._compat_helpers import call_for, req, resp

ROOT = "https://res.openai.azure.com"


def _wire(
    model: str, base: str = ROOT, stream: bool = False, **options: object
) -> tuple[dict[str, object], object]:
    call = call_for("azure", model, stream=stream, base=base, credential="azkey", options=options)
    w = provider.build_chat(req(model=model, stream=stream, max_tokens=20), call)
    w = asyncio.run(provider.auth.apply(w, call.account, None))  # type: ignore[arg-type]
    return orjson.loads(w.body or b"{}"), w


def test_classic_url_deployments_and_api_key() -> None:
    b, w = _wire("gpt-4o")
    assert w.url == f"{ROOT}/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"  # type: ignore[attr-defined]
    assert w.headers["api-key"] == "azkey" and "Authorization" not in w.headers  # type: ignore[attr-defined]
    b, w = _wire("gpt-4o", deployments={"gpt-4o": "prod-4o"}, api_version="2025-04-01-preview")
    assert w.url == f"{ROOT}/openai/deployments/prod-4o/chat/completions?api-version=2025-04-01-preview"  # type: ignore[attr-defined]
    assert b["model"] == "prod-4o"


def test_v1_style_and_bearer() -> None:
    b, w = _wire("gpt-4o-mini", base=ROOT + "/openai/v1", auth="bearer", deployments={"gpt-4o-mini": "mini"})
    assert w.url == f"{ROOT}/openai/v1/chat/completions" and b["model"] == "mini"  # type: ignore[attr-defined]
    assert w.headers["Authorization"] == "Bearer azkey"  # type: ignore[attr-defined]


def test_stream_usage_by_api_version_and_reasoning_rules() -> None:
    b, _ = _wire("gpt-4o", stream=True)
    assert b["stream_options"] == {"include_usage": True}
    b, _ = _wire("gpt-4o", stream=True, api_version="2024-06-01")
    assert "stream_options" not in b
    b, _ = _wire("o4-mini")
    assert b["max_completion_tokens"] == 20 and "max_tokens" not in b


def test_embeddings_url() -> None:
    call = call_for(
        "azure",
        "text-embedding-3-small",
        base=ROOT,
        options={"deployments": {"text-embedding-3-small": "emb"}},
    )
    w = provider.build_embeddings(EmbeddingRequest(model="x", input="hi"), ["hi"], call)
    assert w.url == f"{ROOT}/openai/deployments/emb/embeddings?api-version=2024-10-21"
    assert orjson.loads(w.body or b"")["model"] == "emb"


def test_content_filter_error_names_categories() -> None:
    body = {
        "error": {
            "message": "The response was filtered",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {
                "code": "ResponsibleAIPolicyViolation",
                "content_filter_result": {
                    "hate": {"filtered": False, "severity": "safe"},
                    "violence": {"filtered": True, "severity": "medium"},
                    "jailbreak": {"filtered": True, "detected": True},
                },
            },
        }
    }
    err = provider.classify(resp(400, body), call_for("azure", "gpt-4o", base=ROOT))
    assert isinstance(err, ContentFiltered) and err.status == 400 and err.code == "content_filter"
    assert "violence (medium)" in err.message and "jailbreak" in err.message and "hate" not in err.message


def test_other_errors() -> None:
    call = call_for("azure", "gpt-4o", base=ROOT, options={"deployments": {"gpt-4o": "prod"}})
    nf = provider.classify(
        resp(
            404,
            {
                "error": {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                }
            },
        ),
        call,
    )
    assert isinstance(nf, ModelNotFound) and "'prod'" in nf.message
    a = provider.classify(
        resp(401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key"}}),
        call,
    )
    assert isinstance(a, AuthenticationFailed)
    rl = provider.classify(
        resp(
            429,
            {"error": {"code": "429", "message": "Please retry after 6 seconds."}},
            {"retry-after": "6", "retry-after-ms": "6000"},
        ),
        call,
    )
    assert isinstance(rl, RateLimited) and rl.retry_after == 6


def test_stream_filter_chunks() -> None:
    st = StreamState(call_for("azure", "gpt-4o", stream=True, base=ROOT), req(model="gpt-4o"))
    head = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    (ch,) = provider.parse_event(SSEEvent(orjson.dumps(head).decode()), st)
    assert ch.choices == [] and ch.usage is None
    stop = {
        "choices": [
            {
                "index": 0,
                "delta": {},
                "finish_reason": "content_filter",
                "content_filter_results": {"violence": {"filtered": True}},
            }
        ]
    }
    (ch,) = provider.parse_event(SSEEvent(orjson.dumps(stop).decode()), st)
    assert ch.choices[0].finish_reason == "content_filter"


def test_developer_role_by_api_version() -> None:
    def roles(**options: object) -> list[str]:
        call = call_for("azure", "gpt-4o", base=ROOT, options=options)
        r = req(
            model="gpt-4o", messages=[{"role": "developer", "content": "x"}, {"role": "user", "content": "y"}]
        )
        b = orjson.loads(provider.build_chat(r, call).body or b"")
        return [m["role"] for m in b["messages"]]

    assert roles() == ["system", "user"]  # 2024-10-21
    assert roles(api_version="2025-04-01-preview") == ["developer", "user"]
