"""Rotating the vault key on disk, and the agent following the vault's new recipient."""

from __future__ import annotations

import uuid
from pathlib import Path

from agent.vault_connection.enrolment import Enrolment
from agent.vault_connection.kept_enrolment import KeptEnrolment
from agent.vault_connection.recipient_follower import RecipientFollower
from protocol.keys import VaultIdentity, VaultRecipient, write_key_pair
from protocol.tls_pins import pin_of_public_key_info
from vault.key_rotation import IDENTITY_FILE, retired_identities, rotate


def test_rotation_retires_the_key_before_replacing_it(tmp_path: Path) -> None:
    first = VaultIdentity.generate()
    write_key_pair(first, tmp_path)
    retired, new = rotate(tmp_path)
    assert retired.recipient.key_id == first.recipient.key_id
    assert VaultIdentity.load(tmp_path / IDENTITY_FILE).recipient.key_id == new.recipient.key_id
    _, newer = rotate(tmp_path)
    assert set(retired_identities(tmp_path)) == {first.recipient.key_id, new.recipient.key_id}
    assert newer.recipient.key_id not in retired_identities(tmp_path)
    assert (tmp_path / "retired-keys").stat().st_mode & 0o077 == 0


def test_the_agent_follows_a_new_recipient_once_and_keeps_it(tmp_path: Path) -> None:
    old, new = VaultIdentity.generate().recipient, VaultIdentity.generate().recipient
    path = tmp_path / "enrolment.json"
    enrolment = Enrolment("https://vault", tmp_path / "ca.crt", uuid.uuid4(), "alice",
                          old.to_text(), (pin_of_public_key_info(b"a vault key"),))  # fmt: skip
    enrolment.save(path)
    applied: list[VaultRecipient] = []
    follower = RecipientFollower(KeptEnrolment(enrolment, path), applied.append)
    follower(old.to_text())
    follower("not a key")
    assert applied == []
    follower(new.to_text())
    follower(new.to_text())
    assert [r.key_id for r in applied] == [new.key_id]
    assert Enrolment.load(path).recipient().key_id == new.key_id
