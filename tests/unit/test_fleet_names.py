"""Which agent account a login name enrols as (fleet enrolment), and that the agent takes the
login from the operating system, not from variables a user could set."""

from __future__ import annotations

import os
import pwd

import pytest

from agent.vault_connection.os_login import os_login
from vault.errors import VaultError
from vault.fleet_enrolment import account_name


@pytest.mark.parametrize(
    ("login", "account"),
    [
        ("alice", "alice"),
        ("ALICE", "alice"),
        (r"CORP\Alice", "alice"),
        ("alice@corp.example", "alice"),
        (r"EU\CORP\alice.smith", "alice.smith"),
        ("Alice_B-2@sub.corp.example", "alice_b-2"),
    ],
)
def test_a_login_maps_to_its_account_without_domain_or_case(login: str, account: str) -> None:
    assert account_name(login) == account


@pytest.mark.parametrize(
    "login", ["", "  ", "CORP\\", "@corp.example", "al ice", "bob\n", "x" * 300, "émile", "a/b"]
)
def test_a_login_that_makes_no_account_name_is_refused_with_the_rule(login: str) -> None:
    with pytest.raises(VaultError, match="login name"):
        account_name(login)


def test_the_agent_takes_the_login_from_the_system_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("USER", "LOGNAME", "USERNAME", "LNAME"):
        monkeypatch.setenv(variable, "someone-else")
    assert os_login() == pwd.getpwuid(os.geteuid()).pw_name != "someone-else"
