"""Our HS256 tokens are byte-identical to PyJWT's and verified the way providers verify them."""

from __future__ import annotations

import jwt
import pytest

from qiao.providers import _jwt


def test_byte_identical_to_pyjwt() -> None:
    payload = {"iss": "AK", "exp": 2_000_000_000, "nbf": 1_000}
    ours = _jwt.encode(payload, "short", {"sign_type": "SIGN"})
    theirs = jwt.encode(payload, "short", algorithm="HS256", headers={"sign_type": "SIGN"})
    assert ours == theirs
    assert jwt.decode(ours, "short", algorithms=["HS256"]) == payload


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "signature"),
        (lambda t: "x.y", "malformed"),
    ],
)
def test_rejects(mutate: object, reason: str) -> None:
    tok = _jwt.encode({"exp": 2_000_000_000}, "s")
    with pytest.raises(_jwt.JWTError) as ei:
        _jwt.verify(mutate(tok), "s")  # type: ignore[operator]
    assert ei.value.reason == reason


def test_expiry_and_not_before() -> None:
    assert _jwt.verify(_jwt.encode({"exp": 100}, "s"), "s", now=99)["exp"] == 100
    with pytest.raises(_jwt.JWTError, match="expired"):
        _jwt.verify(_jwt.encode({"exp": 100}, "s"), "s", now=101)
    with pytest.raises(_jwt.JWTError, match="not_yet_valid"):
        _jwt.verify(_jwt.encode({"exp": 300, "nbf": 200}, "s"), "s", now=150)
    with pytest.raises(_jwt.JWTError, match="missing_exp"):
        _jwt.verify(_jwt.encode({}, "s"), "s")
    assert _jwt.verify(_jwt.encode({"exp": 100_000}, "s"), "s", now=99, exp_in_ms=True)
    with pytest.raises(_jwt.JWTError, match="algorithm"):
        _jwt.verify(jwt.encode({"exp": 10**10}, "s", algorithm="HS384"), "s")
