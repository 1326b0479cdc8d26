"""The benchmark database: where it is, creating it, and the settings the suite runs with.

Run as `python -m bench.database` to create the database when it is missing (`make bench`
does, before migrating it). Django is not needed for that, only psycopg2.
"""

from __future__ import annotations

import os
import secrets
import sys

import dj_database_url
import psycopg2
from psycopg2 import sql

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/pipeline_crm_bench"
# The suite deletes what it imported; it refuses databases that are not meant for it.
NAME_MARKER = "bench"

NOT_POSTGRES = "BENCH_DATABASE_URL must point to PostgreSQL, not {engine}."
NOT_A_BENCH_DATABASE = (
    "Refusing to benchmark in “{name}”: the database name must contain “bench”, "
    "so that the suite never writes into a database that holds real or test data."
)


class BenchDatabaseError(Exception):
    pass


def bench_url() -> str:
    return os.environ.get("BENCH_DATABASE_URL") or DEFAULT_URL


def checked_config(url: str) -> dict:
    """The Django database settings of `url`, refused unless PostgreSQL and named *bench*."""
    config = dj_database_url.parse(url)
    if "postgresql" not in config["ENGINE"]:
        raise BenchDatabaseError(NOT_POSTGRES.format(engine=config["ENGINE"]))
    if NAME_MARKER not in config["NAME"]:
        raise BenchDatabaseError(NOT_A_BENCH_DATABASE.format(name=config["NAME"]))
    return config


def ensure_database(url: str) -> bool:
    """Create the database of `url` when missing; True when it was created."""
    config = checked_config(url)
    server = psycopg2.connect(
        dbname="postgres",
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
    )
    try:
        server.autocommit = True
        with server.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]])
            if cursor.fetchone():
                return False
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))
            return True
    finally:
        server.close()


def configure_environment(url: str) -> None:
    """Point pipeline_crm.settings at the bench database, with DEBUG off.

    DEBUG off keeps Django from recording every query and serves pages as in production.
    The settings then want a real SECRET_KEY: the suite makes a throwaway one per process.
    `testserver` is the host of Django's test client, which the page benchmarks use.
    """
    checked_config(url)
    os.environ["DJANGO_SETTINGS_MODULE"] = "pipeline_crm.settings"
    os.environ["DATABASE_URL"] = url
    os.environ["ENVIRONMENT"] = "development"
    os.environ["DEBUG"] = "false"
    os.environ.pop("SECRET_KEY_FILE", None)
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")


def main() -> int:
    url = bench_url()
    try:
        created = ensure_database(url)
    except (BenchDatabaseError, psycopg2.Error) as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    name = checked_config(url)["NAME"]
    print(f"bench: created the database {name}" if created else f"bench: using {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
