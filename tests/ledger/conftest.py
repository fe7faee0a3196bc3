"""Real PostgreSQL and Redis for the ledger tests (``scripts/services.sh`` starts them): every test
session gets its own PostgreSQL schema and Redis key prefix, dropped afterwards, so parallel runs never
collide."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import REDIS_URL  # noqa: F401  (imported from here by the ledger tests)

PG_BASE = "postgresql://127.0.0.1:5432/test"


def _need(what: str, exc: Exception) -> None:
    pytest.fail(f"{what} is not reachable ({exc}); run `bash scripts/services.sh` first", pytrace=False)


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh schema in the local PostgreSQL database ``test``; the URL selects it by search_path."""
    import psycopg

    schema = "qiao_t_" + os.urandom(6).hex()
    try:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as con:
            con.execute(f"CREATE SCHEMA {schema}")
    except psycopg.OperationalError:
        try:
            with psycopg.connect("host=127.0.0.1 port=5432 dbname=test", autocommit=True) as con:
                con.execute(f"CREATE SCHEMA {schema}")
        except psycopg.OperationalError as exc:
            _need("PostgreSQL on 127.0.0.1:5432", exc)
    user = _pg_user()
    yield f"postgresql://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    with psycopg.connect(f"host=127.0.0.1 port=5432 dbname=test user={user}", autocommit=True) as con:
        con.execute(f"DROP SCHEMA {schema} CASCADE")


def _pg_user() -> str:
    import psycopg

    try:
        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres"):
            return "postgres"
    except psycopg.OperationalError:
        import getpass

        return getpass.getuser()
