"""`open_database`: the vault's database, connected and checked to be at this code's schema."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from vault.db.engine import connect
from vault.db.migrate import check_current

HOW_TO_MIGRATE = "callreel-vault migrate --db URL"


def open_database(url: str, *, how_to_migrate: str = HOW_TO_MIGRATE) -> Engine:
    """Connect to `url` (sqlite:///FILE or postgresql://...). An empty database is created at
    the latest schema; one at another revision is refused, naming `how_to_migrate`."""
    engine = connect(url)
    try:
        check_current(engine, how_to_migrate)
    except BaseException:
        engine.dispose()
        raise
    return engine
