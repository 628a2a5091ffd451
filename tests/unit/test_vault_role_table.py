"""The role table (vault.roles.ROLE_TABLE) is the one docs/roles.md shows (the API enforcing
every cell of it: tests/integration/test_vault_roles.py)."""

from __future__ import annotations

from tests.helpers.data import REPO_ROOT
from vault.roles import render_markdown_table


def test_docs_show_the_role_table_of_the_code() -> None:
    docs = (REPO_ROOT / "docs" / "roles.md").read_text()
    assert render_markdown_table() in docs
