"""Following the vault's key when it is rotated: the vault names the recipient new recordings
are to be sealed to in its answer to every heartbeat (over the pinned TLS connection), and the
agent takes it for the next recording and keeps it in its enrolment, with no re-enrolment.
Recordings already under way stay sealed to the key they began with; the vault still opens it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from agent.vault_connection.enrolment import Enrolment
from protocol.keys import KeyFileError, VaultRecipient

log = logging.getLogger(__name__)


class RecipientFollower:
    def __init__(
        self,
        enrolment: Enrolment,
        enrolment_file: Path | None,
        apply: Callable[[VaultRecipient], None],
    ) -> None:
        self._enrolment = enrolment
        self._file = enrolment_file
        self._apply = apply
        self._lock = threading.Lock()

    @property
    def enrolment(self) -> Enrolment:
        return self._enrolment

    def __call__(self, recipient_text: str) -> None:
        try:
            recipient = VaultRecipient.from_text(recipient_text)
        except KeyFileError as exc:
            log.warning("the vault named a recipient key that is not one: %s", exc)
            return
        with self._lock:
            if recipient.key_id == self._enrolment.recipient().key_id:
                return
            updated = dataclasses.replace(self._enrolment, vault_recipient=recipient.to_text())
            if self._file is not None:
                updated.save(self._file)
            self._enrolment = updated
            self._apply(recipient)
        log.info(
            "the vault's key is now %s: new recordings are sealed to it", recipient.key_id.hex()
        )
