"""The one exception tree. Every error a client can see is a :class:`QiaoError`.

::

    QiaoError                       500 server_error
    ├── InvalidRequest              400 invalid_request_error
    │   ├── UnsupportedParameter    400 code=unsupported_parameter
    │   ├── ContextLengthExceeded   400 code=context_length_exceeded
    │   └── ContentFiltered         400 code=content_filter
    ├── AuthenticationFailed        401 code=invalid_api_key
    ├── PermissionDenied            403
    ├── NotFound                    404
    │   └── ModelNotFound           404 code=model_not_found
    ├── Conflict                    409
    ├── PayloadTooLarge             413
    ├── RateLimited                 429 code=rate_limit_exceeded (+ Retry-After)
    ├── InsufficientQuota           429 code=insufficient_quota
    ├── UpstreamError               502  (a provider failed; carries provider, vendor code, retryable)
    ├── ServiceUnavailable          503
    ├── UpstreamTimeout             504
    └── AllProvidersFailed          status of the last attempt, lists every attempt

Provider modules never invent statuses: they *classify* a vendor answer into one of these classes with
:func:`provider_error`, which keeps the provider name, vendor code and upstream status for logs and
routing, and a redacted excerpt of the body. The status we answer with always comes from the class.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import orjson

__all__ = [
    "AllProvidersFailed",
    "AuthenticationFailed",
    "Conflict",
    "ContentFiltered",
    "ContextLengthExceeded",
    "InsufficientQuota",
    "InvalidRequest",
    "ModelNotFound",
    "NotFound",
    "PayloadTooLarge",
    "PermissionDenied",
    "QiaoError",
    "RateLimited",
    "ServiceUnavailable",
    "UnsupportedParameter",
    "UpstreamError",
    "UpstreamTimeout",
    "provider_error",
    "redact",
]


class QiaoError(Exception):
    """Base error: knows its HTTP status, OpenAI error type and code, and whether a retry may help."""

    status: int = 500
    type: ClassVar[str] = "server_error"
    default_code: ClassVar[str | None] = None
    retryable_default: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        provider: str | None = None,
        vendor_code: str | None = None,
        upstream_status: int | None = None,
        retryable: bool | None = None,
        excerpt: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after
        self.provider = provider
        self.vendor_code = vendor_code
        self.upstream_status = upstream_status
        self.retryable = self.retryable_default if retryable is None else retryable
        self.excerpt = excerpt

    def to_openai(self) -> dict[str, Any]:
        """OpenAI's error envelope: ``{"error": {"message", "type", "param", "code"}}``."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def body(self) -> bytes:
        return orjson.dumps(self.to_openai())

    def headers(self) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        if self.retry_after is not None:
            out.append((b"retry-after", str(max(1, int(self.retry_after + 0.999))).encode()))
        if self.provider:
            out.append((b"x-qiao-error-provider", self.provider.encode()))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, provider={self.provider!r})"


class InvalidRequest(QiaoError):
    status = 400
    type = "invalid_request_error"


class UnsupportedParameter(InvalidRequest):
    default_code = "unsupported_parameter"


class ContextLengthExceeded(InvalidRequest):
    default_code = "context_length_exceeded"


class ContentFiltered(InvalidRequest):
    default_code = "content_filter"


class AuthenticationFailed(QiaoError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(QiaoError):
    status = 403
    type = "invalid_request_error"
    default_code = "permission_denied"


class NotFound(QiaoError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class Conflict(QiaoError):
    status = 409
    type = "invalid_request_error"
    default_code = "conflict"


class PayloadTooLarge(QiaoError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(QiaoError):
    status = 429
    type = "requests"
    default_code = "rate_limit_exceeded"
    retryable_default = True


class InsufficientQuota(QiaoError):
    status = 429
    type = "insufficient_quota"
    default_code = "insufficient_quota"


class UpstreamError(QiaoError):
    status = 502
    type = "server_error"
    default_code = "upstream_error"
    retryable_default = True


class ServiceUnavailable(QiaoError):
    status = 503
    type = "server_error"
    default_code = "service_unavailable"
    retryable_default = True


class UpstreamTimeout(QiaoError):
    status = 504
    type = "server_error"
    default_code = "upstream_timeout"
    retryable_default = True


class AllProvidersFailed(QiaoError):
    """Every target of a route failed; answers with the status of the last attempt's class."""

    def __init__(self, attempts: list[QiaoError]) -> None:
        last = attempts[-1]
        summary = "; ".join(f"{a.provider or '?'}: {a.message}" for a in attempts)
        super().__init__(
            f"all {len(attempts)} attempts failed: {summary}",
            code=last.code,
            retry_after=last.retry_after,
            provider=last.provider,
        )
        self.attempts = attempts
        self._last = last
        self.status = last.status  # the client sees the status of the last attempt's class
        self.retryable = last.retryable

    def to_openai(self) -> dict[str, Any]:
        body = super().to_openai()
        body["error"]["type"] = self._last.type
        return body


_SECRETISH = re.compile(
    r"(?i)(bearer\s+[A-Za-z0-9._\-/+=]{6,}|sk-[A-Za-z0-9_\-]{6,}|bce-v3/[A-Za-z0-9_\-/]+|"
    r"access_token=[^&\s\"']+|client_secret=[^&\s\"']+|api[_-]?key[\"'=:\s]+[A-Za-z0-9._\-]{6,}|"
    r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,})"
)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove anything that looks like a credential, and every known secret verbatim."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return _SECRETISH.sub("***", text)


def provider_error(
    cls: type[QiaoError],
    provider: str,
    message: str,
    *,
    vendor_code: str | int | None = None,
    upstream_status: int | None = None,
    body: bytes | None = None,
    retry_after: float | None = None,
    retryable: bool | None = None,
    code: str | None = None,
    param: str | None = None,
) -> QiaoError:
    """Build a classified provider error; the message names the provider and never a credential."""
    excerpt = redact(body[:300].decode("utf-8", "replace")) if body else None
    vc = None if vendor_code is None else str(vendor_code)
    prefix = f"{provider} upstream error"
    if vc is not None:
        prefix += f" {vc}"
    return cls(
        redact(f"{prefix}: {message}"),
        provider=provider,
        vendor_code=vc,
        upstream_status=upstream_status,
        excerpt=excerpt,
        retry_after=retry_after,
        retryable=retryable,
        code=code,
        param=param,
    )
