"""Connecting to the vault's database (SQLite on the embedded default, PostgreSQL when several
vault processes share one), and writing to it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

SUPPORTED_URLS = "sqlite:///FILE or postgresql://USER@HOST:PORT/DB"


class DatabaseError(Exception):
    """The database cannot be used as it is; the message says why and what to do."""


_sqlite_writer = threading.RLock()


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """`engine.begin()`, queued in process for SQLite. SQLite has one write lock; threads that
    lose the race for it sleep in its busy handler for up to 100 ms a try, which the ingest
    benchmark measured as most of the time spent on a busy vault. Waiting here is a queue."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with _sqlite_writer, engine.begin() as connection:
        yield connection


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def database_url(url: str) -> str:
    """`url` as SQLAlchemy takes it; DatabaseError for a database the vault does not support."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith(("sqlite:///", "postgresql+psycopg://")):
        raise DatabaseError(
            f"unsupported database URL {url.split(':', 1)[0]!r}: use {SUPPORTED_URLS}"
        )
    return url


def connect(url: str) -> Engine:
    """An engine for `url`, schema untouched (see vault.db.migrate)."""
    url = database_url(url)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def shown_url(engine: Engine) -> str:
    """The database's URL for messages and logs: without its password."""
    return engine.url.render_as_string(hide_password=True).replace("+psycopg", "")


def utc_now() -> datetime:
    return datetime.now(UTC)
