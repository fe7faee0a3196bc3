from __future__ import annotations

import json
from pathlib import Path

from qiao.catalogue import PriceTier
from qiao.migrate.compare import load_prompts, render_html, run_compare

from .fake_openai import serve


def _prompts(tmp_path: Path) -> Path:
    p = tmp_path / "prompts.jsonl"
    p.write_text(
        json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "你好 <b>bold</b>"}]})
        + "\n\n"
        + json.dumps(
            {
                "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"}],
                "temperature": 0,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    return p


async def test_replays_each_prompt_on_each_model(tmp_path: Path) -> None:
    prompts = load_prompts(_prompts(tmp_path))
    seen: list[tuple[int, int]] = []
    price = PriceTier.per_mtok("5", "5")
    with serve() as url:
        results = await run_compare(
            prompts,
            ["zhipu/glm-4-plus", "broken"],
            url,
            concurrency=2,
            judge="judge",
            prices={"zhipu/glm-4-plus": price},
            progress=lambda d, t: seen.append((d, t)),
        )
    assert [(r.prompt_index, r.model) for r in results] == [
        (0, "zhipu/glm-4-plus"),
        (0, "broken"),
        (1, "zhipu/glm-4-plus"),
        (1, "broken"),
    ]
    ok = results[0]
    assert ok.answer == "zhipu/glm-4-plus says: 你好 <b>bold</b>" and ok.error is None
    assert ok.first_token_ms is not None and ok.total_ms is not None and ok.first_token_ms <= ok.total_ms
    assert (ok.prompt_tokens, ok.completion_tokens) == (10, 4)
    assert ok.cost_micros == 70 and ok.currency == "CNY"  # 14 tokens × 5 CNY / 1M
    assert ok.score == 8
    bad = results[1]
    assert bad.error and "500" in bad.error and bad.score is None
    assert seen[-1] == (4, 4)
    html = render_html(results, ["zhipu/glm-4-plus", "broken"], prompts)
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "<b>bold</b>" not in html
    assert "<script" not in html and "http" not in html.split("<body>")[1].split("</table>")[0]
    assert "upstream exploded" in html
