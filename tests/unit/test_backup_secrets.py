"""A backup's sealed keys open with the passphrase or backup key they were sealed to, only."""

from __future__ import annotations

import pytest

from protocol.keys import VaultIdentity
from vault.backup_secrets import (
    BackupSecretError,
    open_sealed,
    seal_to_passphrase,
    seal_to_recipient,
)

SECRETS = b'{"identity": "callreel-identity-1:..."}'
PASSPHRASE = "sixteen or more characters"  # noqa: S105


def test_a_passphrase_seal_opens_with_that_passphrase_only() -> None:
    sealed = seal_to_passphrase(SECRETS, PASSPHRASE)
    assert SECRETS not in sealed
    assert open_sealed(sealed, passphrase=PASSPHRASE) == SECRETS
    with pytest.raises(BackupSecretError, match="passphrase does not open"):
        open_sealed(sealed, passphrase=PASSPHRASE + "!")
    with pytest.raises(BackupSecretError, match="sealed to a passphrase"):
        open_sealed(sealed)
    damaged = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(BackupSecretError, match="does not open"):
        open_sealed(damaged, passphrase=PASSPHRASE)


def test_a_short_passphrase_is_refused() -> None:
    with pytest.raises(BackupSecretError, match="at least 16"):
        seal_to_passphrase(SECRETS, "too short")


def test_a_backup_key_seal_opens_with_that_identity_only() -> None:
    backup_key = VaultIdentity.generate()
    sealed = seal_to_recipient(SECRETS, backup_key.recipient)
    assert open_sealed(sealed, identity=backup_key) == SECRETS
    with pytest.raises(BackupSecretError, match=backup_key.recipient.key_id.hex()):
        open_sealed(sealed, identity=VaultIdentity.generate())
    with pytest.raises(BackupSecretError, match="not a Callreel backup"):
        open_sealed(b"garbage", passphrase=PASSPHRASE)
