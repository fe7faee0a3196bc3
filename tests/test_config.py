"""The config schema: YAML and TOML, ${ENV} secrets, errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from qiao.cli.main import main
from qiao.config import ConfigError, hash_key, load_settings, settings_schema

YAML = """
server: {port: 8123}
keys:
  - name: app
    key: ${APP_KEY}
accounts:
  - provider: openai_compat
    name: local
    base_url: http://127.0.0.1:1/v1
    credential: ${UPSTREAM_KEY:-none}
    models: [m1]
aliases:
  gpt-4o: local/m1
"""


def test_yaml_with_env(tmp_path: Path) -> None:
    p = tmp_path / "q.yaml"
    p.write_text(YAML)
    s = load_settings(p, env={"APP_KEY": "sk-1"})
    assert s.server.port == 8123
    assert s.keys[0].digest == hash_key("sk-1")
    assert s.accounts[0].credential is not None and s.accounts[0].credential.get_secret_value() == "none"
    assert "sk-1" not in repr(s)  # secrets never in reprs/logs
    assert s.route_table()["gpt-4o"].targets[0].target == "local/m1"


def test_toml(tmp_path: Path) -> None:
    p = tmp_path / "q.toml"
    p.write_text('[server]\nport = 9\n[[keys]]\nname = "a"\nkey_sha256 = "' + "a" * 64 + '"\n')
    assert load_settings(p).server.port == 9


def test_missing_env_names_file_and_key(tmp_path: Path) -> None:
    p = tmp_path / "q.yaml"
    p.write_text(YAML)
    with pytest.raises(ConfigError) as ei:
        load_settings(p, env={})
    assert str(p) in str(ei.value) and "keys.0.key" in str(ei.value) and "APP_KEY" in str(ei.value)


@pytest.mark.parametrize(
    "text,where,what",
    [
        ("server: {port: 99999}", "server.port", "less than or equal"),
        ("server: {prot: 1}", "server.prot", "unknown key"),
        ("keys: [{name: a}]", "keys.0", "exactly one"),
        ("accounts: [{provider: Bad-Slug}]", "accounts.0.provider", "pattern"),
        ("- a list", "top level", "mapping"),
        ("server: [", "not valid YAML", ""),
    ],
)
def test_bad_config_message(tmp_path: Path, text: str, where: str, what: str) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_settings(p, env={})
    msg = str(ei.value)
    assert str(p) in msg and where in msg and what in msg


def test_serve_fails_fast_on_bad_config(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("accounts: [{provider: nosuchprovider}]\n")
    r = CliRunner().invoke(main, ["config", "check", "--config", str(p)])
    assert r.exit_code == 1 and "accounts.0.provider" in r.output and "nosuchprovider" in r.output
    p.write_text("aliases: {gpt-4o: nowhere/x}\n")
    r = CliRunner().invoke(main, ["serve", "--config", str(p)])
    assert r.exit_code != 0
    r = CliRunner().invoke(main, ["config", "check", "--config", str(p)])
    assert "aliases.gpt-4o" in r.output


def test_schema_export() -> None:
    schema = settings_schema()
    assert {"server", "keys", "accounts", "aliases", "routes", "tenants"} <= set(schema["properties"])
    r = CliRunner().invoke(main, ["config", "schema"])
    assert r.exit_code == 0 and '"AccountConfig"' in r.output


def test_examples_parse() -> None:
    root = Path(__file__).resolve().parents[1]
    for p in sorted((root / "examples").glob("*.yaml")) + sorted((root / "examples").glob("*.toml")):
        env = {
            k: "x"
            for k in (
                "ZHIPU_API_KEY",
                "ERNIE_API_KEY",
                "QIANFAN_AK",
                "QIANFAN_SK",
                "OPENAI_API_KEY",
                "QIAO_KEY_APP1",
                "DEEPSEEK_API_KEY",
                "BAICHUAN_API_KEY",
                "SENSENOVA_AK",
                "SENSENOVA_SK",
                "QIAO_ADMIN_KEY",
            )
        }
        text = p.read_text()
        assert "sk-" not in text.replace("sk-qiao-", ""), f"{p} must reference secrets via ${{ENV}}"
        load_settings(p, env=env)


def test_hash_key_is_hashlibs_sha256() -> None:
    """hash_key uses CPython's own SHA-256 (not OpenSSL's): the digests must be hashlib's, byte for byte,
    for keys of every length around the block boundaries and for non-ASCII keys."""
    import hashlib
    import random

    rng = random.Random(5)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_密钥é"
    for n in range(300):
        key = "".join(rng.choice(alphabet) for _ in range(n))
        assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert hash_key("sk-qiao-abc") == hashlib.sha256(b"sk-qiao-abc").hexdigest()
