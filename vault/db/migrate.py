"""The vault's schema revisions (Alembic, vault/db/migrations/), checked at every start.

Several vault processes may share one PostgreSQL, so no process upgrades a database on its
own: `open_database` refuses a database behind the code with the command that upgrades it
(`callreel-vault migrate`), and one ahead of it (written by a newer release). An empty
database is the exception: it is created at the latest revision, as the embedded default's
first start needs. Upgrading holds a lock (PostgreSQL's advisory lock, SQLite's write lock),
so two processes that try at once upgrade it once.

A database made by release 0.1.0 (before Alembic) carries `schema_info` version 1 and no
`alembic_version`; it is that release's schema exactly, so migrate stamps it at the baseline
revision and upgrades it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from vault.db.engine import DatabaseError, connect, shown_url

MIGRATIONS = Path(__file__).parent / "migrations"
BASELINE = "0001"
"""Release 0.1.0's schema."""
LEGACY_TABLE = "schema_info"
LEGACY_VERSION = 1
_ADVISORY_LOCK = 0x43524C56  # "CRLV": any fixed number every vault process agrees on


class SchemaBehindError(DatabaseError):
    """The database is at an older revision than this vault; `callreel-vault migrate` fixes it."""


class SchemaAheadError(DatabaseError):
    """A newer vault release wrote this database; this one must not use it."""


@dataclass(frozen=True, slots=True)
class SchemaState:
    revision: str | None
    """Alembic's revision, or None before Alembic (legacy) or in an empty database."""
    legacy: bool
    """Release 0.1.0's `schema_info` and no Alembic table."""
    empty: bool
    """No table at all: a new database."""


def _config(connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _scripts() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:
        raise DatabaseError(f"no migrations found in {MIGRATIONS}: the vault is installed badly")
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in _scripts().walk_revisions()}


def schema_state(connection: Connection) -> SchemaState:
    tables = set(sa.inspect(connection).get_table_names())
    revision = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(
        revision=revision,
        legacy=revision is None and LEGACY_TABLE in tables,
        empty=not tables,
    )


def _refusal(state: SchemaState, where: str, how_to_migrate: str) -> DatabaseError | None:
    head = head_revision()
    if state.revision == head:
        return None
    if state.legacy or state.revision in known_revisions():
        at = "release 0.1.0's schema" if state.legacy else f"schema revision {state.revision}"
        return SchemaBehindError(
            f"the vault database {where} is at {at}, and this vault needs revision {head}:"
            f" run `{how_to_migrate}` once (every vault process on this database stops using"
            " it until then), then start the vault again"
        )
    if state.revision is None:
        return DatabaseError(
            f"the database {where} holds tables but no Callreel schema revision: it is not a"
            " vault database; give the vault an empty database or its own"
        )
    return SchemaAheadError(
        f"the vault database {where} is at schema revision {state.revision}, written by a newer"
        f" Callreel vault than this one (it knows up to {head}): run that release or a newer one"
    )


def check_current(engine: Engine, how_to_migrate: str) -> None:
    """Create an empty database at the latest revision; refuse one behind or ahead of it."""
    try:
        with engine.connect() as connection:
            state = schema_state(connection)
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot open the vault database: {exc.orig}") from None
    if state.empty:
        upgrade(engine)
        return
    refusal = _refusal(state, shown_url(engine), how_to_migrate)
    if refusal is not None:
        raise refusal


def _migration_engine(engine: Engine) -> Engine:
    """An engine whose transactions cover DDL: SQLite's driver would commit each CREATE and
    ALTER on its own, so a migration that fails half-way would leave half a schema."""
    migrating = connect(engine.url.render_as_string(hide_password=False))
    if migrating.dialect.name == "sqlite":

        @sa.event.listens_for(migrating, "connect")
        def _driver_leaves_transactions_to_us(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(migrating, "begin")
        def _begin_writing_at_once(connection: Connection) -> None:
            # IMMEDIATE takes the write lock now: two processes migrate one after the other.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return migrating


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the database to the latest revision; (revision before, revision after)."""
    migrating = _migration_engine(engine)
    try:
        with migrating.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
            state = schema_state(connection)
            before = state.revision
            config = _config(connection)
            if state.legacy:
                _check_legacy(connection)
                before = "release 0.1.0"
                command.stamp(config, BASELINE)
            elif not state.empty and state.revision is None:
                raise DatabaseError(
                    f"the database {shown_url(engine)} holds tables but no Callreel schema"
                    " revision: it is not a vault database"
                )
            elif state.revision is not None and state.revision not in known_revisions():
                raise SchemaAheadError(
                    f"the vault database {shown_url(engine)} is at schema revision"
                    f" {state.revision}, newer than this vault knows: nothing was changed"
                )
            command.upgrade(config, "head")
    except sa.exc.OperationalError as exc:
        raise DatabaseError(f"cannot migrate the vault database: {exc.orig}") from None
    finally:
        migrating.dispose()
    return before, head_revision()


def _check_legacy(connection: Connection) -> None:
    legacy = sa.table(LEGACY_TABLE, sa.column("version", sa.Integer))
    versions = connection.execute(sa.select(legacy.c.version)).scalars().all()
    if list(versions) != [LEGACY_VERSION]:
        raise DatabaseError(
            f"the vault database's {LEGACY_TABLE} says {list(versions)}; only release 0.1.0's"
            f" version {LEGACY_VERSION} can be migrated"
        )
