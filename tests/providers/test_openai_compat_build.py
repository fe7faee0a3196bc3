"""build_chat keeps a plain provider's URL and headers per account object: a new account object (a reloaded
config) under the same name gets its own, headers are a fresh dict per request, and providers overriding
the URL or header hooks are not memoised."""

from __future__ import annotations

from qiao.providers.base import Account, Call
from qiao.providers.openai import OpenAI
from qiao.providers.openai_compat import OpenAICompatible, generic_spec
from qiao.types import ChatRequest

REQ = ChatRequest.from_raw({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


def _call(acct: Account) -> Call:
    return Call(acct, generic_spec("m"), "m", "rid", False)


def test_url_and_headers_follow_the_account_object() -> None:
    p = OpenAICompatible()
    a1 = Account("acct", "openai_compat", "k", "http://one.example/v1/", headers=(("X-A", "1"),))
    w1 = p.build_chat(REQ, _call(a1))
    w1.headers["Authorization"] = "Bearer k"  # as auth does: must not leak into the next request
    w2 = p.build_chat(REQ, _call(a1))
    assert w1.url == w2.url == "http://one.example/v1/chat/completions"
    assert w2.headers == {"Content-Type": "application/json", "X-A": "1"}
    a2 = Account("acct", "openai_compat", "k", "http://two.example/v1", headers=(("X-B", "2"),))
    w3 = p.build_chat(REQ, _call(a2))
    assert w3.url == "http://two.example/v1/chat/completions"
    assert w3.headers == {"Content-Type": "application/json", "X-B": "2"}


def test_providers_with_their_own_hooks_are_not_memoised() -> None:
    assert OpenAICompatible()._wire_memo == {}
    p = OpenAI()
    assert p._wire_memo is None
    acct = Account("o", "openai", "k", "https://api.example/v1", options=(("organization", "org-1"),))
    assert p.build_chat(REQ, _call(acct)).headers["OpenAI-Organization"] == "org-1"
