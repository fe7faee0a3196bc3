"""``qiao demo``: the real gateway plus every provider's emulator, offline, in one process.

It writes ``DIR/qiao.yaml`` (one account per provider, pointing at its emulator on a free loopback port;
the gateway key stored only as its SHA-256) and uses ``DIR/qiao.db`` as its SQLite database, so every
other ``qiao`` command can act on the running demo with ``--config DIR/qiao.yaml``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import uvicorn
import yaml

__all__ = ["build_demo_config", "run_demo"]


class _QuietServer(uvicorn.Server):
    """An emulator's server: signals belong to the gateway's server, which stops us."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_socket(host: str, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1024)
    return s


def build_demo_config(
    emulator_urls: dict[str, str],
    key: str,
    data_dir: Path,
    host: str,
    port: int,
    admin_key: str | None = None,
) -> dict[str, Any]:
    """The demo's config: one account per provider with an emulator, aliases to the best candidates."""
    from ..config import hash_key
    from ..providers._registry import get_provider

    accounts: list[dict[str, Any]] = []
    candidates: dict[str, list[tuple[int, str]]] = {}
    for slug, url in sorted(emulator_urls.items()):
        p = get_provider(slug)
        acc: dict[str, Any] = {"provider": slug, "base_url": url + p.emulator_base_path}
        if p.demo_credential:
            acc["credential"] = p.demo_credential  # an emulator's credential: not a secret
        if not p.models and p.demo_models:
            acc["models"] = list(p.demo_models)
        accounts.append(acc)
        for name, (model, prio) in p.demo_aliases.items():
            candidates.setdefault(name, []).append((prio, f"{slug}/{model}"))
    chat = [t for _, t in sorted(candidates.get("gpt-4o", []), key=lambda x: (-x[0], x[1]))]
    return {
        "server": {"host": host, "port": port},
        "database": {"url": f"sqlite:///{(data_dir / 'qiao.db').resolve()}"},
        "keys": [{"name": "demo", "key_sha256": hash_key(key), "tenant": "demo"}],
        **({"admin": {"key_sha256": hash_key(admin_key)}} if admin_key else {}),
        "accounts": accounts,
        # Each alias lists every provider that can stand in, best first: the rest are its fallbacks.
        "aliases": {
            name: [t for _, t in sorted(c, key=lambda x: (-x[0], x[1]))]
            for name, c in sorted(candidates.items())
        },
        # The other strategies over the same providers, to try offline (docs/routing.md).
        "routes": {
            name: {"strategy": strategy, "targets": [{"target": t} for t in chat]}
            for name, strategy in (("chat-cheapest", "cheapest"), ("chat-fastest", "least_latency"))
        }
        if len(chat) > 1
        else {},
    }


def run_demo(host: str, port: int, key: str | None, data_dir: str | None) -> int:
    from ..config import load_settings
    from ..emulators import EmulatorOptions, load_emulator
    from ..obs.logging import setup_logging
    from ..providers._registry import all_providers
    from ..server.app import GatewayApp
    from ..server.run import QiaoServer, uvicorn_config

    key = key or "sk-qiao-" + secrets.token_urlsafe(24)
    admin_key = "sk-qiao-admin-" + secrets.token_urlsafe(24)
    tmp = None
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="qiao-demo-")
        data_dir = tmp
    ddir = Path(data_dir)
    ddir.mkdir(parents=True, exist_ok=True)

    emulators: list[tuple[str, Any, socket.socket]] = []
    urls: dict[str, str] = {}
    for p in all_providers():
        if not p.emulator:
            continue
        sock = _free_socket("127.0.0.1")
        app = load_emulator(p.name, EmulatorOptions(credential=p.demo_credential))
        emulators.append((p.name, app, sock))
        urls[p.name] = f"http://127.0.0.1:{sock.getsockname()[1]}"

    gw_sock = _free_socket(host, port)
    real_port = gw_sock.getsockname()[1]
    cfg = build_demo_config(urls, key, ddir, host, real_port, admin_key)
    cfg_path = ddir / "qiao.yaml"
    header = (
        "# Written by `qiao demo`. Credentials here belong to the built-in emulators, not to real "
        "providers.\n# The gateway key is stored only as its SHA-256.\n"
    )
    cfg_path.write_text(header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    settings = load_settings(cfg_path)
    setup_logging(settings.server.log_level)
    from ..ledger.store import open_store

    store = open_store(settings.database.url)  # the demo's database, ready for `qiao keys` at once
    store.upgrade()
    store.close()

    gw_app = GatewayApp(settings)
    gw = QiaoServer(uvicorn_config(gw_app, settings, host, real_port), gw_app)
    emu_servers = [
        _QuietServer(
            uvicorn.Config(
                app, log_level="warning", lifespan="on", loop="uvloop", http="httptools", access_log=False
            )
        )
        for _, app, _ in emulators
    ]

    base = f"http://{host}:{real_port}/v1"
    aliases = ", ".join([*sorted(cfg["aliases"]), *sorted(cfg["routes"])])

    async def main() -> None:
        tasks = [
            asyncio.ensure_future(s.serve(sockets=[sock]))
            for s, (_, _, sock) in zip(emu_servers, emulators, strict=True)
        ]
        gw_task = asyncio.ensure_future(gw.serve(sockets=[gw_sock]))
        while not gw.started and not gw_task.done():  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
            await asyncio.sleep(0.05)
        if gw.started:
            _banner(base, key, ddir, cfg_path, [n for n, _, _ in emulators], aliases, admin_key)
        await gw_task
        for s in emu_servers:
            s.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)

    try:
        import uvloop

        uvloop.run(main())
    except KeyboardInterrupt:  # pragma: no cover
        pass
    return 0


def _banner(
    base: str, key: str, ddir: Path, cfg_path: Path, providers: list[str], aliases: str, admin_key: str = ""
) -> None:
    lines = [
        "",
        "qiao demo is running (offline: every provider below is a built-in emulator)",
        f"  base URL : {base}",
        f"  API key  : {key}",
        f"  config   : {cfg_path}    (other qiao commands: --config {cfg_path})",
        f"  data dir : {ddir}",
        f"  admin key: {admin_key}   (/admin/ API; or: qiao keys create --config {cfg_path} --tenant NAME)",
        f"  providers: {', '.join(providers)}",
        f"  aliases  : {aliases}   (and every model as PROVIDER/MODEL: GET {base}/models)",
        f"  routes   : qiao routes --config {cfg_path}   (live state: GET {base[:-3]}/admin/health)",
        "",
        "curl:",
        f"  curl {base}/chat/completions -H 'Authorization: Bearer {key}' \\",
        "    -H 'Content-Type: application/json' \\",
        '    -d \'{"model": "gpt-4o", "messages": [{"role": "user", "content": "你好"}]}\'',
        "",
        "Python (openai SDK):",
        "  from openai import OpenAI",
        f'  client = OpenAI(base_url="{base}", api_key="{key}")',
        '  r = client.chat.completions.create(model="gpt-4o",',
        '                                     messages=[{"role": "user", "content": "你好"}])',
        "  print(r.choices[0].message.content)",
        "",
        "Press Ctrl+C to stop.",
        "",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()
