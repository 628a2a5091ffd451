"""The sign-in throttle's delays: free failures, then doubling up to a ceiling."""

from __future__ import annotations

from datetime import timedelta

from vault.sign_in_throttle import ACCOUNT_RULE, MAX_KEY_LENGTH, SOURCE_RULE, keys_for


def test_the_first_failures_cost_nothing_then_each_doubles_the_wait() -> None:
    free = ACCOUNT_RULE.free_failures
    assert [ACCOUNT_RULE.delay_after(n) for n in range(free + 1)] == [timedelta(0)] * (free + 1)
    first = ACCOUNT_RULE.first_delay
    assert ACCOUNT_RULE.delay_after(free + 1) == first
    assert ACCOUNT_RULE.delay_after(free + 2) == 2 * first
    assert ACCOUNT_RULE.delay_after(free + 3) == 4 * first


def test_the_wait_stops_growing_at_the_ceiling_however_many_failures() -> None:
    assert ACCOUNT_RULE.delay_after(10_000) == ACCOUNT_RULE.longest_delay
    assert ACCOUNT_RULE.delay_after(10**9) == ACCOUNT_RULE.longest_delay


def test_an_address_is_allowed_more_failures_than_an_account() -> None:
    assert SOURCE_RULE.free_failures > ACCOUNT_RULE.free_failures


def test_account_and_address_are_separate_bounded_keys() -> None:
    account, source = keys_for("tina", "192.0.2.7")
    assert (account.text, source.text) == ("account:tina", "source:192.0.2.7")
    long_account, _ = keys_for("x" * 500, "::1")
    assert len(long_account.text) == MAX_KEY_LENGTH
