"""Every table of the vault's schema is either carried by a backup or left out for a stated
reason: a new table cannot be forgotten silently (coaching notes once were)."""

from __future__ import annotations

from vault.backup_rows import LEFT_OUT, TABLES
from vault.db.tables import metadata


def test_every_table_is_backed_up_or_left_out_for_a_reason() -> None:
    carried = {table.name for table in TABLES}
    assert not carried & set(LEFT_OUT)
    assert carried | set(LEFT_OUT) == set(metadata.tables)
    assert all(reason.strip() for reason in LEFT_OUT.values())


def test_tables_come_after_the_tables_they_point_at() -> None:
    seen: set[str] = set()
    for table in TABLES:
        for key in table.foreign_keys:
            assert key.column.table.name in seen, (table.name, key.column.table.name)
        seen.add(table.name)
