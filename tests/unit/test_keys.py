"""Vault key files: text round trip, clear refusals, safe permissions."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from protocol.keys import (
    IDENTITY_PREFIX,
    RECIPIENT_PREFIX,
    KeyFileError,
    VaultIdentity,
    VaultRecipient,
    write_key_pair,
)


def test_key_pair_round_trips_through_text_and_files(tmp_path: Path) -> None:
    identity = VaultIdentity.generate()
    identity_path, recipient_path = write_key_pair(identity, tmp_path / "keys")
    assert stat.S_IMODE(identity_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    loaded = VaultIdentity.load(identity_path)
    assert loaded == identity
    assert VaultRecipient.load(recipient_path) == identity.recipient
    assert loaded.recipient.key_id == identity.recipient.key_id
    assert len(identity.recipient.key_id) == 8


def test_existing_keys_are_never_overwritten(tmp_path: Path) -> None:
    write_key_pair(VaultIdentity.generate(), tmp_path)
    before = (tmp_path / "vault-identity.key").read_bytes()
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_key_pair(VaultIdentity.generate(), tmp_path)
    assert (tmp_path / "vault-identity.key").read_bytes() == before


def test_identity_readable_by_others_is_refused(tmp_path: Path) -> None:
    identity_path, _ = write_key_pair(VaultIdentity.generate(), tmp_path)
    identity_path.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        VaultIdentity.load(identity_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "exactly one key line"),
        (f"{RECIPIENT_PREFIX}AAAA\n{RECIPIENT_PREFIX}AAAA", "exactly one key line"),
        ("ssh-ed25519 AAAA", "must start with"),
        (f"{RECIPIENT_PREFIX}!!!!", "base64url"),
        (f"{RECIPIENT_PREFIX}AAAA", "must be 1216 bytes"),
    ],
)
def test_malformed_recipient_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        VaultRecipient.from_text(text)


def test_swapped_key_files_are_named_in_the_error() -> None:
    identity = VaultIdentity.generate()
    with pytest.raises(KeyFileError, match="looks like a recipient key"):
        VaultIdentity.from_text(identity.recipient.to_text())
    with pytest.raises(KeyFileError, match="looks like an identity key"):
        VaultRecipient.from_text(identity.to_text())


def test_identity_text_has_comments_and_one_key_line() -> None:
    identity = VaultIdentity.generate()
    text = f"# comment\n\n{identity.to_text()}\n"
    assert VaultIdentity.from_text(text) == identity
    assert identity.to_text().startswith(IDENTITY_PREFIX)
    assert identity.to_text() not in repr(identity)


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read recipient key"):
        VaultRecipient.load(tmp_path / "absent.pub")
