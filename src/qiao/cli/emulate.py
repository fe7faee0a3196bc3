"""``qiao emulate PROVIDER``: one emulator, standalone, on loopback."""

from __future__ import annotations

import click

__all__ = ["run_emulator"]


def run_emulator(
    provider: str, host: str, port: int, credential: str | None, scenario: str | None, chunk_delay: float
) -> int:
    import uvicorn

    from ..emulators import EmulatorOptions, load_emulator
    from ..providers._registry import get_provider, provider_names

    try:
        p = get_provider(provider)
    except KeyError:
        raise click.ClickException(
            f"unknown provider {provider!r}; known: {', '.join(provider_names())}"
        ) from None
    opts = EmulatorOptions(
        credential=credential if credential is not None else p.demo_credential,
        scenario=scenario,
        chunk_delay=chunk_delay,
    )
    app = load_emulator(provider, opts)
    shown = "none (no auth)" if not opts.credential else opts.credential
    click.echo(
        f"{p.display_name or p.name} emulator on http://{host}:{port}{p.emulator_base_path}  "
        f"credential: {shown}",
        err=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", loop="uvloop", http="httptools")
    return 0
