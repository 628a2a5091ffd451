"""Following the vault's key when it is rotated: the vault names the recipient new recordings
are to be sealed to in its answer to every heartbeat (over the pinned TLS connection), and the
agent takes it for the next recording and keeps it in its enrolment, with no re-enrolment.
Recordings already under way stay sealed to the key they began with; the vault still opens it.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from agent.vault_connection.kept_enrolment import KeptEnrolment
from protocol.keys import KeyFileError, VaultRecipient

log = logging.getLogger(__name__)


class RecipientFollower:
    def __init__(self, kept: KeptEnrolment, apply: Callable[[VaultRecipient], None]) -> None:
        self._kept = kept
        self._apply = apply

    def __call__(self, recipient_text: str) -> None:
        try:
            recipient = VaultRecipient.from_text(recipient_text)
        except KeyFileError as exc:
            log.warning("the vault named a recipient key that is not one: %s", exc)
            return
        if recipient.key_id == self._kept.current.recipient().key_id:
            return
        before, _ = self._kept.change(
            lambda enrolment: dataclasses.replace(enrolment, vault_recipient=recipient.to_text())
        )
        if before.recipient().key_id == recipient.key_id:
            return  # another heartbeat's answer got there first
        self._apply(recipient)
        log.info(
            "the vault's key is now %s: new recordings are sealed to it", recipient.key_id.hex()
        )
