"""``azure``: Azure OpenAI (others.md §11.2), OpenAI's rules on Azure's URLs, auth and content filters.

**Account** (decision): ``base_url`` is the resource endpoint ``https://{resource}.openai.azure.com``.

* Classic style (default): ``POST {endpoint}/openai/deployments/{deployment}/chat/completions
  ?api-version={api_version}`` (and ``…/embeddings``); the body's ``model`` is ignored by Azure.
* v1 style: a ``base_url`` ending in ``/openai/v1`` (GA since Aug 2025) → ``{base_url}/chat/completions``
  without ``api-version``; the body's ``model`` is the deployment name.
* **Deployments:** the account's ``models`` list names the models it serves (catalogue ids such as
  ``gpt-4o``, so prices and capabilities apply, or any deployment name, which gets a generic spec); the
  option ``deployments`` maps a model id to its deployment name (``{"gpt-4o": "prod-gpt4o"}``); without an
  entry the deployment is named like the model.
* Options: ``api_version`` (default ``2024-10-21``, the GA inference version), ``deployments``,
  ``auth`` (``api-key``, the default: the key in the ``api-key`` header; ``bearer``: ``Authorization:
  Bearer`` for an Entra ID token or the v1 style).
* Usage in streams: ``stream_options.include_usage`` is sent for api-version ≥ 2024-09-01 (older
  versions reject the field; the gateway then estimates, marked estimated).
* ``developer`` messages are sent as ``system`` for api-versions before 2024-12-01-preview, whose schema
  has no ``developer`` role [mem: Azure's o1 notes date the role to 2024-12-01-preview].
* Reasoning deployments (o-series, GPT-5 — the catalogue model's rules): as ``openai``
  (``max_completion_tokens``, default sampling only, ``reasoning_effort``).

**Azure's answers:**

* Prompt blocked → 400 ``{"error": {"code": "content_filter", "innererror": {"code":
  "ResponsibleAIPolicyViolation", "content_filter_result": {category: {filtered, severity}}}}}`` →
  ``content_filter`` naming the filtered categories.
* Completion blocked → ``finish_reason: "content_filter"`` (200, or mid-stream) → passed on as such.
* Streams may start with a chunk whose ``choices`` is empty and which only carries
  ``prompt_filter_results`` (``model`` empty); choices carry ``content_filter_results``: ignored.
* Errors: ``{"error": {"code": "<string>", "message": ...}}``; ``DeploymentNotFound`` (404) →
  ``model_not_found``; 401 "Access denied due to invalid subscription key…"; 429 with ``Retry-After`` (and
  ``retry-after-ms``) → ``rate_limit_exceeded``.
* Prices: Azure's global-deployment list prices equal OpenAI's (USD); regional / data-zone deployments
  cost more and are not modelled.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from ..catalogue import ModelSpec, PriceTier
from ..errors import ContentFiltered, ModelNotFound, QiaoError, provider_error
from ..types import ChatRequest, EmbeddingRequest
from .base import Account, AuthScheme, Call, FetchFn, WireRequest, WireResponse
from .openai import MODELS as OPENAI_MODELS
from .openai import OpenAI

__all__ = ["DEFAULT_API_VERSION", "MODELS", "Azure", "AzureAuth", "deployment_for", "provider"]

DEFAULT_API_VERSION = "2024-10-21"
PRICE_SOURCE = "https://azure.microsoft.com/en-us/pricing/details/cognitive-services/openai-service/"

_SERVED = (
    "gpt-5.1",
    "gpt-5",
    "gpt-5-mini",
    "gpt-5-nano",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "gpt-4o",
    "gpt-4o-mini",
    "o3",
    "o4-mini",
    "o3-mini",
    "o1",
    "text-embedding-3-small",
    "text-embedding-3-large",
)


def _azure_price(p: PriceTier | None) -> PriceTier | None:
    if p is None:
        return None
    return PriceTier(p.input, p.output, p.cached_input, p.currency, p.since, PRICE_SOURCE)


MODELS: tuple[ModelSpec, ...] = tuple(
    ModelSpec(
        m.id,
        m.context,
        m.caps,
        _azure_price(m.price),
        max_output=m.max_output,
        dimensions=m.dimensions,
        embedding_batch=m.embedding_batch,
    )
    for m in OPENAI_MODELS
    if m.id in _SERVED
)


def deployment_for(account: Account, spec: ModelSpec) -> str:
    table = account.option("deployments") or {}
    dep = table.get(spec.id) if isinstance(table, dict) else None
    return str(dep or spec.wire_name)


def _is_v1(account: Account) -> bool:
    return account.base_url.rstrip("/").endswith("/openai/v1")


class AzureAuth(AuthScheme):
    """``api-key: <key>`` (default) or ``Authorization: Bearer <key or Entra token>`` (option
    ``auth: bearer``)."""

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        if account.credential:
            if str(account.option("auth", "api-key")).lower() == "bearer":
                wire.headers["Authorization"] = "Bearer " + account.credential
            else:
                wire.headers["api-key"] = account.credential
        return wire


class Azure(OpenAI):
    name = "azure"
    display_name = "Azure OpenAI"
    default_base_url = "https://YOUR-RESOURCE.openai.azure.com"
    credential_format = (
        "Azure OpenAI resource key (sent as `api-key`), or an Entra ID token with `auth: bearer`"
    )
    docs_url = "https://learn.microsoft.com/en-us/azure/ai-foundry/openai/reference"
    emulator = "qiao.emulators.azure:create_app"
    emulator_base_path: ClassVar[str] = ""
    demo_credential: ClassVar[str | None] = "azure-emulator-key-0123456789abcdef"
    demo_aliases: ClassVar[dict[str, tuple[str, int]]] = {
        "gpt-4o": ("gpt-4o", 4),
        "gpt-4o-mini": ("gpt-4o-mini", 4),
        "text-embedding-3-small": ("text-embedding-3-small", 4),
    }
    translations: ClassVar[dict[str, str]] = {
        **{k: v for k, v in OpenAI.translations.items() if not k.startswith("(account)")},
        "model": "→ the deployment (account option `deployments`, default: the model id) in the URL",
        "(account) base_url": (
            "the resource endpoint `https://{resource}.openai.azure.com` (deployment URLs with "
            "`api-version`), or `…/openai/v1` for the v1 API"
        ),
        "(account) options": (
            "`api_version` (default 2024-10-21), `deployments` ({model id: deployment name}), "
            "`auth: bearer` (Entra ID token instead of `api-key`)"
        ),
        "stream_options.include_usage": "requested for api-version ≥ 2024-09-01, else usage is estimated",
        "messages[].role=developer": "forwarded; `system` for api-versions before 2024-12-01-preview",
    }

    def __init__(self) -> None:
        super().__init__()
        self.auth = AzureAuth()
        self.models = MODELS

    def api_version(self, account: Account) -> str:
        return str(account.option("api_version") or DEFAULT_API_VERSION)

    def _url(self, call: Call, op: str) -> str:
        base = self.base_url(call.account)
        if _is_v1(call.account):
            return f"{base}/{op}"
        dep = deployment_for(call.account, call.spec)
        return f"{base}/openai/deployments/{dep}/{op}?api-version={self.api_version(call.account)}"

    def chat_url(self, call: Call) -> str:
        return self._url(call, "chat/completions")

    def adjust_body(self, body: dict[str, Any], req: ChatRequest, call: Call) -> None:
        body["model"] = deployment_for(call.account, call.spec)
        if not _is_v1(call.account) and self.api_version(call.account)[:10] < "2024-09-01":
            body.pop("stream_options", None)
        msgs = body.get("messages")
        if (
            not _is_v1(call.account)
            and self.api_version(call.account)[:10] < "2024-12-01"
            and isinstance(msgs, list)
            and any(isinstance(m, dict) and m.get("role") == "developer" for m in msgs)
        ):
            body["messages"] = [
                {**m, "role": "system"} if isinstance(m, dict) and m.get("role") == "developer" else m
                for m in msgs
            ]
        super().adjust_body(body, req, call)

    def build_embeddings(self, req: EmbeddingRequest, inputs: list[str], call: Call) -> WireRequest:
        wire = super().build_embeddings(req, inputs, call)
        body = orjson.loads(wire.body or b"{}")
        body["model"] = deployment_for(call.account, call.spec)
        wire.body = orjson.dumps(body)
        wire.url = self._url(call, "embeddings")
        return wire

    def classify_body(self, obj: Any, status: int, resp: WireResponse | None, call: Call) -> QiaoError | None:
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            code = str(err.get("code") or "")
            message = str(err.get("message") or "")
            kw: dict[str, Any] = {
                "vendor_code": code or None,
                "upstream_status": status,
                "body": resp.body if resp is not None else None,
            }
            if code == "content_filter" or (err.get("innererror") or {}).get("code") == (
                "ResponsibleAIPolicyViolation"
            ):
                result = (err.get("innererror") or {}).get("content_filter_result") or {}
                hit = [
                    f"{k} ({v.get('severity', 'filtered')})" if isinstance(v, dict) and "severity" in v else k
                    for k, v in result.items()
                    if isinstance(v, dict) and (v.get("filtered") or v.get("detected"))
                ]
                if hit:
                    message += f" [filtered: {', '.join(hit)}]"
                return provider_error(ContentFiltered, self.name, message, **kw)
            if code == "DeploymentNotFound":
                return provider_error(
                    ModelNotFound,
                    self.name,
                    f"{message} (deployment {deployment_for(call.account, call.spec)!r})",
                    param="model",
                    **kw,
                )
        return super().classify_body(obj, status, resp, call)


provider = Azure()
