"""HS256 JSON Web Tokens, minted and verified without a JWT library.

Providers mint short-lived HS256 tokens from a key pair (SenseNova, Zhipu's JWT mode); emulators verify
them. The scheme is a few lines of HMAC; owning it keeps us independent of a library's policy changes
(PyJWT ≥ 2.10 warns on HMAC keys shorter than 32 bytes, and providers' secrets are what they are).
Header keys are sorted and JSON is compact, as PyJWT writes them, so tokens are byte-identical.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

__all__ = ["JWTError", "decode_unverified", "encode", "verify"]


class JWTError(ValueError):
    """``reason`` is one of: malformed, algorithm, signature, expired, not_yet_valid, missing_exp."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _dumps(obj: dict[str, Any], sort: bool) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=sort).encode()


def encode(payload: dict[str, Any], secret: str, headers: dict[str, Any] | None = None) -> str:
    header = {"alg": "HS256", "typ": "JWT", **(headers or {})}
    signing_input = _b64(_dumps(header, True)) + "." + _b64(_dumps(payload, False))
    sig = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64(sig)


def decode_unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise JWTError("malformed")
    try:
        header = json.loads(_unb64(parts[0]))
        payload = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise JWTError("malformed") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise JWTError("malformed")
    return header, payload


def verify(
    token: str,
    secret: str,
    now: float | None = None,
    require_exp: bool = True,
    leeway: float = 0.0,
    exp_in_ms: bool = False,
) -> dict[str, Any]:
    """Check alg, signature, ``exp`` and ``nbf``; return the payload or raise :class:`JWTError`."""
    header, payload = decode_unverified(token)
    if header.get("alg") != "HS256":
        raise JWTError("algorithm")
    head, _, sig = token.rpartition(".")
    want = hmac.new(secret.encode(), head.encode("ascii"), hashlib.sha256).digest()
    try:
        got = _unb64(sig)
    except ValueError:
        raise JWTError("malformed") from None
    if not hmac.compare_digest(want, got):
        raise JWTError("signature")
    t = time.time() if now is None else now
    scale = 1000.0 if exp_in_ms else 1.0
    exp = payload.get("exp")
    if exp is None:
        if require_exp:
            raise JWTError("missing_exp")
    elif not isinstance(exp, int | float) or exp / scale + leeway < t:
        raise JWTError("expired")
    nbf = payload.get("nbf")
    if isinstance(nbf, int | float) and nbf / scale - leeway > t:
        raise JWTError("not_yet_valid")
    return payload
