"""A refreshable credential (ERNIE v1's OAuth token) that expires is refreshed and the call retried once,
for streams as well (before the first byte reaches the client)."""

from __future__ import annotations

from qiao.config import Settings
from qiao.gateway.pipeline import Gateway, RequestContext
from qiao.types import ChatRequest
from tests.conftest import emulator_in_thread


async def test_stream_refreshes_an_expired_token() -> None:
    with emulator_in_thread("ernie_v1") as emu:
        from qiao.providers._registry import get_provider

        settings = Settings.model_validate(
            {
                "accounts": [
                    {
                        "provider": "ernie_v1",
                        "base_url": emu.url,
                        "credential": get_provider("ernie_v1").demo_credential,
                    }
                ]
            }
        )
        gw = Gateway(settings)
        req = ChatRequest.from_raw(
            {
                "model": "ernie_v1/ernie-speed-8k",
                "stream": True,
                "messages": [{"role": "user", "content": "hi"}],
            }
        )
        out: list[bytes] = []

        async def start(status: int, headers: list[tuple[bytes, bytes]]) -> None:
            assert status == 200

        async def send(data: bytes, more: bool) -> None:
            out.append(data)

        await gw.chat_stream(req, RequestContext("a", None), start, send)
        assert b"".join(out).endswith(b"data: [DONE]\n\n")
        for tok in list(emu.app.tokens):  # type: ignore[attr-defined]
            emu.app.tokens[tok] = 0.0  # type: ignore[attr-defined]  # Baidu expired it
        out.clear()
        ctx = RequestContext("b", None)
        await gw.chat_stream(req, ctx, start, send)
        assert b"".join(out).endswith(b"data: [DONE]\n\n") and ctx.upstream_calls == 2
        await gw.aclose()
