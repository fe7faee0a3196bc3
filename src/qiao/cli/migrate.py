"""``qiao migrate``: scan, plan, estimate, rewrite, compare.

Exit codes: 0 success; 1 a usage or input problem (ClickException); ``rewrite`` exits 0 also when
some code could not be rewritten safely (it is listed on stderr).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import click

__all__ = ["migrate"]


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=None)
        yield lambda done, total: prog.update(task, completed=done, total=total)


def _load_settings(config: str | None):  # type: ignore[no-untyped-def]
    if config is None:
        return None
    from ..config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@click.group()
def migrate() -> None:
    """Move an app from OpenAI to qiao: find what to change, what it costs, and change it."""


@migrate.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown", "sarif"]), default="table")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write the report here.")
@click.option("--progress/--no-progress", default=True, help="Progress bar (only on a terminal).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes parsing Python (default: one per CPU on large projects; 1: this process only).",
)
def scan(path: str, fmt: str, output: str | None, progress: bool, workers: int | None) -> None:
    """Find every use of OpenAI's API under PATH, without running any code."""
    from ..migrate.scan import render_markdown, render_sarif, scan_path

    with _progress("scanning", progress) as cb:
        report = scan_path(path, progress=cb, workers=workers)
    if fmt == "json":
        _emit(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n", output)
    elif fmt == "sarif":
        _emit(json.dumps(render_sarif(report), indent=2) + "\n", output)
    elif fmt == "markdown":
        _emit(render_markdown(report), output)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"OpenAI usage in {path}")
        for col in ("location", "kind", "sdk", "model", "features"):
            table.add_column(col)
        for f in report.findings:
            model = f.model or (f"? {f.model_expr}" if f.model_expr else "")
            table.add_row(f"{f.path}:{f.line}", f.kind, f.sdk, model, ", ".join(f.features))
        console = Console(file=open(output, "w", encoding="utf-8") if output else None, width=160)  # noqa: SIM115
        console.print(table)
        s = report.summary()
        console.print(
            f"{s['findings']} findings in {s['files_with_findings']}/{s['files_scanned']} files "
            f"({s['seconds']}s); not scanned: {len(report.issues)}"
        )
        for i in report.issues:
            console.print(f"  [yellow]{i.path}{f':{i.line}' if i.line else ''}[/]: {i.reason}")


@migrate.command()
@click.argument("path", type=click.Path(exists=True))
@click.option(
    "--config", type=click.Path(exists=True, dir_okay=False), help="qiao config: your providers, aliases."
)
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "json"]), default="table")
@click.option("--output", "-o", type=click.Path(dir_okay=False))
@click.option("--fallbacks", default=1, show_default=True, help="Fallback targets per suggested alias.")
def plan(path: str, config: str | None, fmt: str, output: str | None, fallbacks: int) -> None:
    """Which providers/models can serve each call site, what has no equivalent, suggested aliases."""
    from ..migrate.plan import fmt_price, load_catalogue, make_plan, render_plan_markdown
    from ..migrate.scan import scan_path

    report = scan_path(path)
    result = make_plan(report.findings, load_catalogue(_load_settings(config)), fallbacks)
    if fmt == "markdown":
        _emit(render_plan_markdown(result, path), output)
        return
    if fmt == "json":
        _emit(json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n", output)
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    t = Table(title="Suggested aliases (price per 1M tokens, input / output)")
    for col in ("OpenAI model", "OpenAI price", "targets", "their prices", "source"):
        t.add_column(col)
    for a in result.aliases:
        prices = "; ".join(f"{k}: {fmt_price(v)}" for k, v in a.prices.items())
        t.add_row(
            a.openai_model, fmt_price(a.openai_price), " → ".join(a.targets) or "none", prices, a.source
        )
    console.print(t)
    s = Table(title="Call sites")
    for col in ("location", "kind", "model", "needs", "served by", "notes"):
        s.add_column(col)
    for fp in result.findings:
        f = fp.finding
        served = ", ".join(c.target for c in fp.candidates[:3]) + (" …" if len(fp.candidates) > 3 else "")
        s.add_row(
            f"{f.path}:{f.line}", f.kind, f.model or "", ", ".join(fp.needed), served or "—", fp.advice or ""
        )
    console.print(s)
    for w in result.catalogue.warnings:
        console.print(f"[yellow]warning:[/] {w}")


@migrate.command()
@click.option(
    "--usage",
    "usage_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="OpenAI usage export (CSV) or organization usage API JSON.",
)
@click.option("--config", type=click.Path(exists=True, dir_okay=False), help="Providers and grants.")
@click.option(
    "--historical-grants",
    is_flag=True,
    help="Apply the mid-2024 switching offers as a worked example (expired; not available today).",
)
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a chart: .svg or .png.")
@click.option("--json", "as_json", is_flag=True)
def estimate(
    usage_file: str, config: str | None, historical_grants: bool, plot: str | None, as_json: bool
) -> None:
    """What the same usage would cost on each candidate provider, before and after free grants."""
    from ..migrate import _chart
    from ..migrate.estimate import (
        HISTORICAL_GRANTS_2024,
        _to_cny,
        grants_from_settings,
        openai_cost_micros,
        read_usage,
    )
    from ..migrate.estimate import estimate as run
    from ..migrate.plan import load_catalogue

    settings = _load_settings(config)
    try:
        usage = read_usage(usage_file)
    except (ValueError, OSError) as exc:
        raise click.ClickException(f"{usage_file}: cannot read usage export: {exc}") from exc
    catalogue = load_catalogue(settings)
    grants = grants_from_settings(settings) if settings else []
    if historical_grants:
        grants += list(HISTORICAL_GRANTS_2024)
    ests = run(usage, catalogue, grants)
    openai_usd, unknown = openai_cost_micros(usage)
    fx = catalogue.fx
    openai_cny = _to_cny(openai_usd, "USD", fx)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "usage": {
                        m: {"input": u.input, "output": u.output, "cached": u.cached, "requests": u.requests}
                        for m, u in usage.items()
                    },
                    "openai": {
                        "usd_micros": openai_usd,
                        "cny_micros": openai_cny,
                        "unpriced_models": unknown,
                    },
                    "providers": [e.to_json(fx) for e in ests],
                    "historical_grants": historical_grants,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    else:

        def yuan(m: int) -> str:
            return f"¥{(Decimal(m) / 1_000_000).quantize(Decimal('0.01'))}"

        click.echo(
            f"OpenAI list price for this usage: ${(Decimal(openai_usd) / 1_000_000).quantize(Decimal('0.01'))}"  # noqa: E501
            f" ≈ {yuan(openai_cny)} (at USD {fx.get('USD', '?')})"
        )
        for e in ests:
            before, after = _to_cny(e.before_micros, e.currency, fx), _to_cny(e.after_micros, e.currency, fx)
            grant = f"  grants: {', '.join(e.grants_used)}" if e.grants_used else ""
            miss = f"  (no model for: {', '.join(e.unmapped)})" if e.unmapped else ""
            click.echo(
                f"{e.provider:<14} before grants {yuan(before):>12}  after {yuan(after):>12}{grant}{miss}"
            )
        if historical_grants:
            click.echo(
                "Grants marked 2024 are the historical switching offers: expired, shown as an example only."
            )
    rows = [("openai", openai_cny, f"¥{Decimal(openai_cny) / 1_000_000:.2f}")]
    rows += [
        (
            e.provider,
            _to_cny(e.after_micros, e.currency, fx),
            f"¥{Decimal(_to_cny(e.after_micros, e.currency, fx)) / 1_000_000:.2f}",
        )
        for e in ests
    ]
    if not as_json:
        click.echo("")
        for line in _chart.text_bars(rows):
            click.echo(line)
    if plot:
        if plot.lower().endswith(".png"):
            Path(plot).write_bytes(_chart.png_bars(rows))
        else:
            Path(plot).write_text(_chart.svg_bars(rows, "Monthly cost after grants (CNY)"), encoding="utf-8")
        click.echo(f"wrote {plot}", err=True)


@migrate.command()
@click.argument("path", type=click.Path(exists=True))
@click.option("--apply", is_flag=True, help="Edit files in place (default: print a unified diff).")
@click.option("--rename", multiple=True, metavar="OLD=NEW", help="Rename a model literal (repeatable).")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False),
    help="Check the models left in code against this config's alias table.",
)
def rewrite(path: str, apply: bool, rename: tuple[str, ...], config: str | None) -> None:
    """Point OpenAI clients at the gateway (QIAO_BASE_URL / QIAO_API_KEY), keeping formatting."""
    from ..migrate.rewrite import rewrite_path, unsafe_report

    renames = {}
    for spec in rename:
        old, sep, new = spec.partition("=")
        if not sep or not old or not new:
            raise click.ClickException(f"--rename expects OLD=NEW, got {spec!r}")
        renames[old] = new
    results = rewrite_path(path, renames, apply=apply)
    if not apply:
        for r in results:
            click.echo(r.diff(), nl=False)
    changed = [r for r in results if r.changed]
    click.echo(f"{'rewrote' if apply else 'would rewrite'} {len(changed)} file(s)", err=True)
    for line in unsafe_report(results):
        click.echo(f"not rewritten: {line}", err=True)
    settings = _load_settings(config)
    if settings is not None:
        from ..migrate.scan import scan_path

        table = settings.route_table()
        models = {f.model for f in scan_path(path).findings if f.model and f.kind not in ("config", "client")}
        for m in sorted(models - set(table) - set(renames)):
            click.echo(f"warning: model {m!r} is used in code but has no alias/route in {config}", err=True)


@migrate.command()
@click.option(
    "--prompts",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="JSONL, one OpenAI chat request per line.",
)
@click.option("--models", required=True, help="Comma-separated models/aliases to compare.")
@click.option("--gateway", default="http://127.0.0.1:8000/v1", show_default=True)
@click.option("--api-key", envvar="QIAO_API_KEY", default="qiao", show_default=False)
@click.option("--judge", help="Model that scores each answer 1-10.")
@click.option("--concurrency", default=4, show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="HTML report.")
@click.option("--json-out", type=click.Path(dir_okay=False), help="Raw results (default: OUT with .json).")
def compare(
    prompts: str,
    models: str,
    gateway: str,
    api_key: str,
    judge: str | None,
    concurrency: int,
    out: str,
    json_out: str | None,
) -> None:
    """Replay prompts against each model through the gateway; write an HTML report and raw JSON."""
    from ..migrate.compare import load_prompts, render_html, results_json, run_compare
    from ..migrate.plan import load_catalogue

    try:
        reqs = load_prompts(prompts)
    except (ValueError, json.JSONDecodeError) as exc:
        raise click.ClickException(str(exc)) from exc
    names = [m.strip() for m in models.split(",") if m.strip()]
    prices = {c.target: c.spec.price for c in load_catalogue().candidates if c.spec.price is not None}
    with _progress("comparing", True) as cb:
        results = asyncio.run(run_compare(reqs, names, gateway, api_key, concurrency, judge, prices, cb))
    Path(out).write_text(render_html(results, names, reqs), encoding="utf-8")
    jpath = json_out or str(Path(out).with_suffix(".json"))
    Path(jpath).write_text(
        json.dumps(results_json(results, names, reqs), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    errors = sum(1 for r in results if r.error)
    click.echo(f"wrote {out} and {jpath}: {len(results)} answers, {errors} errors", err=True)
