"""``qiao migrate compare``: replay chat requests against candidate models through a running gateway.

Each prompt (one OpenAI chat request per JSONL line) goes to each model, streamed, at most
``concurrency`` at a time. Recorded per answer: text, time to first token, total time, token usage,
cost (from the catalogue price, when the model is ``provider/model``), error, and an optional score
from a judge model. Output: a self-contained HTML report and a JSON of the raw results.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from ..catalogue import PriceTier
from ..money import MICRO

__all__ = ["Result", "load_prompts", "render_html", "run_compare"]

_JUDGE = (
    "You are grading an assistant's answer. Question:\n{q}\n\nAnswer:\n{a}\n\n"
    "Reply with a single integer score from 1 (useless) to 10 (excellent)."
)


@dataclass(slots=True)
class Result:
    prompt_index: int
    model: str
    answer: str = ""
    first_token_ms: float | None = None
    total_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_micros: int | None = None
    currency: str | None = None
    error: str | None = None
    score: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_prompts(path: str | Path) -> list[dict[str, Any]]:
    out = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        req = json.loads(line)
        if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
            raise ValueError(f"{path}:{i}: each line must be an OpenAI chat request with 'messages'")
        out.append(req)
    return out


async def _one(client: Any, req: dict[str, Any], model: str, idx: int, price: PriceTier | None) -> Result:
    res = Result(idx, model)
    body = {k: v for k, v in req.items() if k not in ("model", "stream", "stream_options")}
    t0 = time.perf_counter()
    parts: list[str] = []
    try:
        stream = await client.chat.completions.create(
            model=model, stream=True, stream_options={"include_usage": True}, **body
        )
        async for chunk in stream:
            if chunk.choices:
                delta = chunk.choices[0].delta
                if delta is not None and delta.content:
                    if res.first_token_ms is None:
                        res.first_token_ms = (time.perf_counter() - t0) * 1000
                    parts.append(delta.content)
            if chunk.usage is not None:
                res.prompt_tokens = chunk.usage.prompt_tokens
                res.completion_tokens = chunk.usage.completion_tokens
    except Exception as exc:  # every failure is a result, not a crash
        res.error = f"{type(exc).__name__}: {exc}"[:500]
    res.total_ms = (time.perf_counter() - t0) * 1000
    res.answer = "".join(parts)
    if price is not None and res.prompt_tokens is not None and res.completion_tokens is not None:
        res.cost_micros = price.cost_micros(res.prompt_tokens, res.completion_tokens)
        res.currency = price.currency
    return res


async def _judge(client: Any, judge: str, req: dict[str, Any], res: Result) -> None:
    question = "\n".join(str(m.get("content", "")) for m in req["messages"] if isinstance(m, dict))
    try:
        r = await client.chat.completions.create(
            model=judge, messages=[{"role": "user", "content": _JUDGE.format(q=question, a=res.answer)}]
        )
        m = re.search(r"\b(10|[1-9])\b", r.choices[0].message.content or "")
        res.score = int(m.group(1)) if m else None
    except Exception as exc:
        res.extra["judge_error"] = f"{type(exc).__name__}: {exc}"[:200]


async def run_compare(
    prompts: list[dict[str, Any]],
    models: list[str],
    gateway: str,
    api_key: str = "qiao",
    concurrency: int = 4,
    judge: str | None = None,
    prices: dict[str, PriceTier] | None = None,
    progress: Callable[[int, int], None] | None = None,
    request_timeout: float = 120.0,
) -> list[Result]:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=gateway, api_key=api_key, timeout=request_timeout, max_retries=0)
    sem = asyncio.Semaphore(max(1, concurrency))
    total = len(prompts) * len(models)
    done = 0
    results: list[Result] = []

    async def task(idx: int, req: dict[str, Any], model: str) -> None:
        nonlocal done
        async with sem:
            res = await _one(client, req, model, idx, (prices or {}).get(model))
            if judge and res.error is None:
                await _judge(client, judge, req, res)
        results.append(res)
        done += 1
        if progress is not None:
            progress(done, total)

    try:
        async with asyncio.TaskGroup() as tg:
            for i, req in enumerate(prompts):
                for m in models:
                    tg.create_task(task(i, req, m))
    finally:
        await client.close()
    results.sort(key=lambda r: (r.prompt_index, models.index(r.model)))
    return results


def results_json(results: list[Result], models: list[str], prompts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"models": models, "prompts": prompts, "results": [asdict(r) for r in results]}


def _fmt_cost(r: Result) -> str:
    if r.cost_micros is None:
        return "—"
    return f"{(Decimal(r.cost_micros) / MICRO).normalize():f} {r.currency}"


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.0f} ms"


def render_html(results: list[Result], models: list[str], prompts: list[dict[str, Any]]) -> str:
    """One file, inline CSS, no scripts or external assets."""
    rows = []
    summary = []
    for m in models:
        rs = [r for r in results if r.model == m]
        ok = [r for r in rs if r.error is None]
        ttft = sorted(r.first_token_ms for r in ok if r.first_token_ms is not None)
        scores = [r.score for r in ok if r.score is not None]
        summary.append(
            f"<tr><td>{escape(m)}</td><td>{len(ok)}/{len(rs)}</td>"
            f"<td>{_ms(ttft[len(ttft) // 2] if ttft else None)}</td>"
            f"<td>{sum(r.completion_tokens or 0 for r in ok)}</td>"
            f"<td>{escape(_cost_sum(ok))}</td>"
            f"<td>{f'{sum(scores) / len(scores):.1f}' if scores else '—'}</td></tr>"
        )
    for i, req in enumerate(prompts):
        last = next((m for m in reversed(req["messages"]) if isinstance(m, dict)), {})
        q = last.get("content", "")
        cells = []
        for m in models:
            r = next((x for x in results if x.prompt_index == i and x.model == m), None)
            if r is None:
                cells.append("<td></td>")
                continue
            body = (
                f'<div class="err">{escape(r.error)}</div>' if r.error else f"<pre>{escape(r.answer)}</pre>"
            )
            meta = (
                f"first token {_ms(r.first_token_ms)} · total {_ms(r.total_ms)} · "
                f"tokens {r.prompt_tokens or '—'}/{r.completion_tokens or '—'} · {_fmt_cost(r)}"
                + (f" · score {r.score}" if r.score is not None else "")
            )
            cells.append(f'<td>{body}<div class="meta">{escape(meta)}</div></td>')
        rows.append(f"<tr><th><pre>{escape(str(q))}</pre></th>{''.join(cells)}</tr>")
    heads = "".join(f"<th>{escape(m)}</th>" for m in models)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qiao migrate compare</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.5em;vertical-align:top;text-align:left}}
pre{{white-space:pre-wrap;margin:0;font-family:inherit}} .meta{{color:#666;font-size:.85em;margin-top:.4em}}
.err{{color:#b00020}} th{{background:#f5f5f5}}
</style></head><body>
<h1>Model comparison</h1>
<p>{len(prompts)} prompts × {len(models)} models, replayed through the gateway.</p>
<h2>Summary</h2>
<table><tr><th>Model</th><th>OK</th><th>Median first token</th><th>Completion tokens</th><th>Cost</th>
<th>Mean judge score</th></tr>{"".join(summary)}</table>
<h2>Answers</h2>
<table><tr><th>Prompt</th>{heads}</tr>{"".join(rows)}</table>
</body></html>
"""


def _cost_sum(rs: list[Result]) -> str:
    by: dict[str, int] = {}
    for r in rs:
        if r.cost_micros is not None and r.currency:
            by[r.currency] = by.get(r.currency, 0) + r.cost_micros
    return ", ".join(f"{(Decimal(v) / MICRO).normalize():f} {c}" for c, v in by.items()) or "—"
