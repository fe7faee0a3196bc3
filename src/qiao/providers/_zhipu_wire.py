"""Zhipu wire helpers: the self-signed JWT, ``user_id`` shaping and client-side stop sequences.

Kept apart from :mod:`qiao.providers.zhipu` so that module stays about the translation itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

__all__ = ["StopFilter", "TokenCache", "b64url", "mint_jwt", "split_key", "user_id_for"]


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
