"""The agent's enrolment keeps the vault's TLS keys: computed from the certificate of a 0.1.0
enrolment, validated when read, and followed as the vault announces its next key (bounded,
and never undoing the recipient follower's change)."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from agent.settings.fields import AgentSettings
from agent.vault_connection.enrolment import Enrolment, EnrolmentError
from agent.vault_connection.kept_enrolment import KeptEnrolment
from agent.vault_connection.recipient_follower import RecipientFollower
from agent.vault_connection.tls_pin_follower import TlsPinFollower
from protocol.keys import VaultIdentity, VaultRecipient
from protocol.pinned_tls import TrustedPins
from protocol.tls_pins import MAX_KEPT_PINS, pin_of_public_key_info
from vault.tls import TlsFiles, ensure_certificate

RECIPIENT = VaultIdentity.generate().recipient.to_text()


def _pin(n: int) -> str:
    return pin_of_public_key_info(f"key {n}".encode())


@pytest.fixture
def vault_tls(tmp_path: Path) -> TlsFiles:
    return ensure_certificate(tmp_path / "vault-tls")


def _release_0_1_0_enrolment(path: Path, ca_file: Path) -> None:
    """What `callreel-agent enrol` of 0.1.0 wrote: the certificate file, no pins."""
    document = {
        "vault_url": "https://vault.example:8443",
        "ca_file": str(ca_file),
        "device_id": str(uuid.uuid4()),
        "agent": "alice",
        "vault_recipient": RECIPIENT,
    }
    path.write_text(json.dumps(document, indent=2))


def test_a_0_1_0_enrolment_trusts_the_key_of_its_certificate(
    tmp_path: Path, vault_tls: TlsFiles
) -> None:
    path = tmp_path / "enrolment.json"
    _release_0_1_0_enrolment(path, vault_tls.cert_path)
    loaded = Enrolment.load(path)
    assert loaded.pins() == (vault_tls.key_pin,)
    loaded.save(path)
    saved = json.loads(path.read_text())
    assert saved["tls_pins"] == [vault_tls.key_pin]
    assert saved["ca_file"] == str(vault_tls.cert_path), "older agents still find it"
    assert Enrolment.load(path) == loaded


def test_a_0_1_0_enrolment_whose_certificate_is_gone_says_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "enrolment.json"
    _release_0_1_0_enrolment(path, tmp_path / "gone.pem")
    with pytest.raises(EnrolmentError, match=r"names no vault TLS key.*restore .*gone\.pem"):
        Enrolment.load(path)


@pytest.mark.parametrize(
    ("pins", "problem"),
    [
        ([], "not a list of pins"),
        ("one pin", "not a list of pins"),
        (["not a pin"], "TLS key pin 'not a pin' is 9 characters long"),
        ([_pin(n) for n in range(MAX_KEPT_PINS + 1)], f"at most {MAX_KEPT_PINS}"),
    ],
)
def test_damaged_pins_in_the_enrolment_are_refused(
    tmp_path: Path, vault_tls: TlsFiles, pins: object, problem: str
) -> None:
    path = tmp_path / "enrolment.json"
    _release_0_1_0_enrolment(path, vault_tls.cert_path)
    document = json.loads(path.read_text())
    document["tls_pins"] = pins
    path.write_text(json.dumps(document))
    with pytest.raises(EnrolmentError, match="is damaged") as refused:
        Enrolment.load(path)
    assert problem in str(refused.value)
    assert "callreel-agent enrol" in str(refused.value)


def _kept(tmp_path: Path, pins: tuple[str, ...]) -> tuple[KeptEnrolment, Path]:
    path = tmp_path / "enrolment.json"
    enrolment = Enrolment("https://vault", tmp_path / "ca.pem", uuid.uuid4(), "alice",
                          RECIPIENT, pins)  # fmt: skip
    enrolment.save(path)
    return KeptEnrolment(enrolment, path), path


def test_an_announced_key_is_trusted_at_once_and_kept(tmp_path: Path) -> None:
    kept, path = _kept(tmp_path, (_pin(1),))
    trusted = TrustedPins([_pin(1), _pin(50)])
    follower = TlsPinFollower(kept, trusted, policy_pins=[_pin(50)])

    follower([_pin(1), _pin(2)])
    assert trusted.snapshot() == {_pin(1), _pin(2), _pin(50)}, "the policy's pin stays"
    assert Enrolment.load(path).pins() == (_pin(1), _pin(2))

    follower([_pin(2)])  # the vault switched: its old key is still kept a while
    assert Enrolment.load(path).pins() == (_pin(2), _pin(1))
    for n in range(3, 3 + MAX_KEPT_PINS):
        follower([_pin(n)])
    assert len(Enrolment.load(path).pins()) == MAX_KEPT_PINS
    assert _pin(1) not in trusted.snapshot()
    assert _pin(50) in trusted.snapshot()


def test_an_announcement_that_is_not_pins_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kept, path = _kept(tmp_path, (_pin(1),))
    trusted = TrustedPins([_pin(1)])
    follower = TlsPinFollower(kept, trusted, policy_pins=[])
    with caplog.at_level(logging.WARNING):
        follower(["not a pin"])
        follower([_pin(n) for n in range(10)])
    assert trusted.snapshot() == {_pin(1)}
    assert Enrolment.load(path).pins() == (_pin(1),)
    assert len([r for r in caplog.records if "not pins" in r.getMessage()]) == 2


def test_the_pin_and_recipient_followers_keep_each_others_changes(tmp_path: Path) -> None:
    kept, path = _kept(tmp_path, (_pin(1),))
    new_recipient = VaultIdentity.generate().recipient
    applied: list[VaultRecipient] = []
    pins = TlsPinFollower(kept, TrustedPins([_pin(1)]), policy_pins=[])
    RecipientFollower(kept, applied.append)(new_recipient.to_text())
    pins([_pin(1), _pin(2)])
    saved = Enrolment.load(path)
    assert saved.recipient().key_id == new_recipient.key_id
    assert saved.pins() == (_pin(1), _pin(2))
    assert [r.key_id for r in applied] == [new_recipient.key_id]


def test_policy_pins_are_checked_with_a_clear_error() -> None:
    assert AgentSettings(vault_tls_pins=(_pin(1), _pin(2))).vault_tls_pins == (_pin(1), _pin(2))
    with pytest.raises(ValueError, match=r"vault_tls_pins = .*is 6 characters long, not 44"):
        AgentSettings(vault_tls_pins=("abcdef",))
    with pytest.raises(ValueError, match=f"at most {MAX_KEPT_PINS}"):
        AgentSettings(vault_tls_pins=tuple(_pin(n) for n in range(MAX_KEPT_PINS + 1)))
