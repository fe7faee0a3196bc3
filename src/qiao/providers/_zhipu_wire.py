"""Zhipu wire helpers: auth (plain key or self-signed JWT), the error-code table, ``user_id`` shaping
and client-side stop sequences.

Kept apart from :mod:`qiao.providers.zhipu` so that module stays about the translation itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    AuthenticationFailed,
    Conflict,
    ContentFiltered,
    ContextLengthExceeded,
    InsufficientQuota,
    InvalidRequest,
    ModelNotFound,
    NotFound,
    PermissionDenied,
    QiaoError,
    RateLimited,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    provider_error,
)
from .base import Account, AuthScheme, FetchFn, WireRequest, WireResponse

__all__ = [
    "StopFilter",
    "TokenCache",
    "ZhipuAuth",
    "b64url",
    "mint_jwt",
    "split_key",
    "user_id_for",
    "zhipu_error",
]


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def split_key(credential: str) -> tuple[str, str] | None:
    """``<id>.<secret>`` → (id, secret); None when the key is not in that form."""
    api_id, dot, secret = credential.partition(".")
    if not dot or not api_id or not secret or "." in secret:
        return None
    return api_id, secret


def mint_jwt(api_id: str, secret: str, now_ms: int, ttl_ms: int) -> str:
    """The token the official SDK signs (``zhipuai/core/_jwt_token.py`` with PyJWT 2.8), byte for byte:
    header ``{"alg":"HS256","sign_type":"SIGN","typ":"JWT"}`` (PyJWT sorts header keys and adds
    ``typ``), payload ``{"api_key", "exp", "timestamp"}`` with both times in **milliseconds**, HMAC-SHA256
    keyed with the secret's UTF-8 bytes."""
    header = b'{"alg":"HS256","sign_type":"SIGN","typ":"JWT"}'
    payload = json.dumps(
        {"api_key": api_id, "exp": now_ms + ttl_ms, "timestamp": now_ms}, separators=(",", ":")
    ).encode()
    signing_input = b64url(header) + "." + b64url(payload)
    sig = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


@dataclass(slots=True)
class TokenCache:
    """JWTs per (account, key digest), reused until ``refresh_before_s`` before they expire."""

    ttl_s: float = 1800.0
    refresh_before_s: float = 60.0
    _tokens: dict[tuple[str, str], tuple[str, float]] = field(default_factory=dict)

    def get(
        self,
        account: str,
        credential: str,
        api_id: str,
        secret: str,
        now: float | None = None,
        ttl_s: float | None = None,
    ) -> str:
        now = time.time() if now is None else now
        ttl = self.ttl_s if ttl_s is None else ttl_s
        key = (account, hashlib.sha256(credential.encode()).hexdigest())
        hit = self._tokens.get(key)
        if hit is not None and hit[1] - min(self.refresh_before_s, ttl / 4) > now:
            return hit[0]
        token = mint_jwt(api_id, secret, int(now * 1000), int(ttl * 1000))
        self._tokens[key] = (token, now + ttl)
        return token

    def forget(self, account: str) -> bool:
        gone = [k for k in self._tokens if k[0] == account]
        for k in gone:
            del self._tokens[k]
        return bool(gone)


def user_id_for(user: str) -> str:
    """Zhipu's ``user_id`` must be 6–128 characters: keep a fitting id, otherwise a stable digest of it
    (so the same end user always maps to the same id, and different users stay apart)."""
    if 6 <= len(user) <= 128:
        return user
    return "qiao-" + hashlib.sha256(user.encode()).hexdigest()[:32]


@dataclass(slots=True)
class StopFilter:
    """Stop sequences Zhipu cannot take (it accepts one): applied to the answer text as it streams.

    Text is held back just long enough to see a stop sequence that straddles two deltas; when one is
    found, the text before it is released and the choice ends with ``stop``, as at OpenAI.
    """

    stops: tuple[str, ...]
    _pending: dict[int, str] = field(default_factory=dict)
    stopped: set[int] = field(default_factory=set)

    @property
    def holdback(self) -> int:
        return max((len(s) for s in self.stops), default=1) - 1

    def cut(self, text: str) -> tuple[str, bool]:
        """Text up to the earliest stop sequence, and whether one was found (whole texts)."""
        best = -1
        for s in self.stops:
            i = text.find(s)
            if i >= 0 and (best < 0 or i < best):
                best = i
        return (text, False) if best < 0 else (text[:best], True)

    def feed(self, index: int, text: str) -> tuple[str, bool]:
        """Text safe to release for choice ``index``, and whether a stop sequence ended the choice."""
        if index in self.stopped:
            return "", True
        buf = self._pending.get(index, "") + text
        out, hit = self.cut(buf)
        if hit:
            self.stopped.add(index)
            self._pending.pop(index, None)
            return out, True
        keep = min(self.holdback, len(buf))
        self._pending[index] = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self, index: int) -> str:
        """The held-back text at the end of a choice (it holds no complete stop sequence)."""
        return self._pending.pop(index, "")


NAME = "zhipu"

_AUTH_CODES = frozenset({"1000", "1001", "1002", "1003", "1004"})
_FORBIDDEN_CODES = frozenset({"1100", "1110", "1111", "1112", "1121", "1220", "1300"})
_RATE_CODES = frozenset({"1302", "1303", "1305"})
_QUOTA_WINDOW_CODES = frozenset({"1304", "1308", "1309", "1310"})
_SERVER_CODES = frozenset({"500", "1230", "1234"})


class ZhipuAuth(AuthScheme):
    """Plain key or self-signed JWT, per account (``options.auth``)."""

    def __init__(self) -> None:
        self.tokens = TokenCache()

    @staticmethod
    def mode(account: Account) -> str:
        mode = str(account.option("auth", "key")).lower()
        if mode not in ("key", "jwt"):
            raise QiaoError(
                f"zhipu account {account.name!r}: options.auth must be 'key' or 'jwt', not {mode!r}",
                provider=NAME,
            )
        return mode

    async def apply(self, wire: WireRequest, account: Account, fetch: FetchFn) -> WireRequest:
        cred = account.credential
        if not cred:
            raise provider_error(
                AuthenticationFailed,
                NAME,
                f"account {account.name!r} has no credential "
                "configured (an API key '<id>.<secret>' from open.bigmodel.cn)",
            )
        if self.mode(account) == "key":
            wire.headers["Authorization"] = "Bearer " + cred
            return wire
        parts = split_key(cred)
        if parts is None:
            raise provider_error(
                AuthenticationFailed,
                NAME,
                f"account {account.name!r}: the API key is not "
                "of the form '<id>.<secret>', so no JWT can be signed with it",
            )
        ttl = float(account.option("jwt_ttl_s", 1800))
        wire.headers["Authorization"] = "Bearer " + self.tokens.get(account.name, cred, *parts, ttl_s=ttl)
        return wire

    def on_auth_error(self, account: Account, error: QiaoError) -> bool:
        # An expired token (1003) is cured by a fresh one; a wrong key or signature is not.
        if error.vendor_code == "1003" and self.mode(account) == "jwt":
            return self.tokens.forget(account.name)
        return False


def zhipu_error(obj: Any, status: int, body: bytes, resp: WireResponse | None) -> QiaoError:
    """The classified error for a Zhipu error body ``{"error": {"code": "<string>", "message"}}``."""
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict):
        code = None if err.get("code") is None else str(err.get("code"))
        message = str(err.get("message") or "")
    else:
        code, message = None, ""
    if not message:
        message = body[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
    retry_after = _retry_after(resp)
    kw: dict[str, Any] = {"vendor_code": code, "upstream_status": status, "body": body}
    low = message.lower()
    if code in _AUTH_CODES or (code is None and status == 401):
        return provider_error(
            AuthenticationFailed, NAME, f"the upstream rejected the gateway's credential: {message}", **kw
        )
    if code == "1113":
        return provider_error(InsufficientQuota, NAME, message, **kw)
    if code in _RATE_CODES:
        return provider_error(RateLimited, NAME, message, retry_after=retry_after, **kw)
    if code in _QUOTA_WINDOW_CODES:
        return provider_error(RateLimited, NAME, message, retry_after=retry_after, retryable=False, **kw)
    if code == "1301":
        return provider_error(ContentFiltered, NAME, message, **kw)
    if code in _FORBIDDEN_CODES:
        return provider_error(PermissionDenied, NAME, message, **kw)
    if code == "1211":
        return provider_error(ModelNotFound, NAME, message, param="model", **kw)
    if code in ("1221", "1222"):
        return provider_error(NotFound, NAME, message, **kw)
    if code == "1231":
        return provider_error(Conflict, NAME, message, **kw)
    if code == "1120":
        return provider_error(ServiceUnavailable, NAME, message, retry_after=retry_after, **kw)
    if code in _SERVER_CODES:
        return provider_error(UpstreamError, NAME, message, **kw)
    if code == "1261" or "too long" in low or "超长" in message or "context" in low and "exceed" in low:
        return provider_error(ContextLengthExceeded, NAME, message, param="messages", **kw)
    if code is not None and code.startswith("12"):
        return provider_error(InvalidRequest, NAME, message, **kw)
    if status == 429:
        return provider_error(RateLimited, NAME, message, retry_after=retry_after, **kw)
    if status == 403:
        return provider_error(PermissionDenied, NAME, message, **kw)
    if status == 404:
        return provider_error(NotFound, NAME, message, **kw)
    if status in (408, 504):
        return provider_error(UpstreamTimeout, NAME, message, **kw)
    if status == 503:
        return provider_error(ServiceUnavailable, NAME, message, retry_after=retry_after, **kw)
    if 400 <= status < 500:
        return provider_error(InvalidRequest, NAME, message, **kw)
    return provider_error(UpstreamError, NAME, message, **kw)


def _retry_after(resp: WireResponse | None) -> float | None:
    if resp is None:
        return None
    v = resp.headers.get("retry-after")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None
