"""Following the vault's TLS key when it is rotated: the vault names the keys agents are to
trust (its current one and, once prepared, its next) in its answer to every heartbeat, over a
connection whose key is already trusted. The agent trusts them at once and keeps them in its
enrolment (bounded: protocol/tls_pins.py), so when the vault restarts with its next key the
agent goes on uploading, with no re-enrolment. A key never announced is refused."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from agent.vault_connection.kept_enrolment import KeptEnrolment
from protocol.pinned_tls import TrustedPins
from protocol.tls_pins import MAX_ANNOUNCED_PINS, TlsPinError, parse_pins, remember_pins

log = logging.getLogger(__name__)


class TlsPinFollower:
    def __init__(
        self, kept: KeptEnrolment, trusted: TrustedPins, policy_pins: Sequence[str]
    ) -> None:
        """`trusted` is what this agent's connections check: the kept pins and the policy's."""
        self._kept = kept
        self._trusted = trusted
        self._policy_pins = tuple(policy_pins)

    def __call__(self, announced: Sequence[object]) -> None:
        try:
            pins = parse_pins(announced, MAX_ANNOUNCED_PINS)
        except TlsPinError as exc:
            log.warning("the vault announced TLS keys that are not pins, ignored: %s", exc)
            return
        if not pins:
            return
        before, after = self._kept.change(
            lambda enrolment: dataclasses.replace(
                enrolment, tls_pins=remember_pins(enrolment.pins(), pins)
            )
        )
        self._trusted.replace([*after.pins(), *self._policy_pins])
        learnt = [pin for pin in after.pins() if pin not in before.pins()]
        if learnt:
            log.info(
                "the vault announced the TLS key %s: trusted from now on (it may switch to it"
                " with no re-enrolment)",
                ", ".join(learnt),
            )
