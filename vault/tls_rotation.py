"""Changing the vault's TLS key without cutting agents off: announce first, switch later.

`prepare_rotation` writes the next key and certificate (same names, a new key) beside the
current ones, in `tls/`. While they are there the vault names the next key's pin in its answer
to every heartbeat (vault/tls_announcement.py) and agents add it to the keys they trust.
`rotate` then makes the next pair current (the current one is kept as `previous`); every vault
process serves it from its next start. An agent that sent no heartbeat between the two steps
does not know the new key and refuses it, so `rotate` names those devices and waits for
`--force`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from protocol.atomic_files import atomic_output, fsync_directory
from protocol.pinned_tls import CERT_FILENAME, TlsCertificateError
from vault.tls import (
    KEY_FILENAME,
    TlsFiles,
    certificate_names,
    check_pair,
    locked_tls_directory,
    write_new_pair,
)

NEXT_CERT_FILENAME = "vault-tls-next.crt"
NEXT_KEY_FILENAME = "vault-tls-next.key"
PREVIOUS_CERT_FILENAME = "vault-tls-previous.crt"
PREVIOUS_KEY_FILENAME = "vault-tls-previous.key"


@dataclass(frozen=True, slots=True)
class TlsPair:
    cert: Path
    key: Path

    @classmethod
    def current(cls, directory: Path) -> TlsPair:
        return cls(directory / CERT_FILENAME, directory / KEY_FILENAME)

    @classmethod
    def next(cls, directory: Path) -> TlsPair:
        return cls(directory / NEXT_CERT_FILENAME, directory / NEXT_KEY_FILENAME)

    @classmethod
    def previous(cls, directory: Path) -> TlsPair:
        return cls(directory / PREVIOUS_CERT_FILENAME, directory / PREVIOUS_KEY_FILENAME)

    def check(self, now: datetime.datetime, hint: str) -> TlsFiles:
        """This pair's facts, if it is a matching, current pair (for the names it lists)."""
        dns_names, addresses = certificate_names(self.cert)
        return check_pair(self.cert, self.key, dns_names, addresses, now, hint=hint)


def prepared_next(directory: Path, now: datetime.datetime) -> TlsFiles | None:
    """The prepared next key and certificate, or None; TlsCertificateError if unusable."""
    pair = TlsPair.next(directory)
    if not (pair.cert.exists() or pair.key.exists()):
        return None
    hint = f"delete {pair.cert} and {pair.key} and run callreel-vault tls prepare-rotation again"
    return pair.check(now, hint)


def prepare_rotation(directory: Path, now: datetime.datetime) -> TlsFiles:
    """Write the next key and a certificate for it covering the current one's names; an
    already prepared one is kept (agents may have learnt it)."""
    current = TlsPair.current(directory)
    if not current.cert.exists():
        raise TlsCertificateError(
            f"{current.cert} does not exist: the vault makes its first key at its first start"
        )
    lock = locked_tls_directory(directory)
    try:
        prepared = prepared_next(directory, now)
        if prepared is not None:
            return prepared
        dns_names, addresses = certificate_names(current.cert)
        pair = TlsPair.next(directory)
        write_new_pair(pair.cert, pair.key, dns_names, addresses, now)
        fsync_directory(directory)
        return pair.check(now, "run callreel-vault tls prepare-rotation again")
    finally:
        lock.release()


def rotate(directory: Path, now: datetime.datetime) -> tuple[TlsFiles, TlsFiles]:
    """Make the prepared next pair current, keeping the current one as previous;
    (previous, now current). Run again after a crash, it finishes what it started."""
    lock = locked_tls_directory(directory)
    try:
        current, upcoming, previous = (
            TlsPair.current(directory),
            TlsPair.next(directory),
            TlsPair.previous(directory),
        )
        if not upcoming.cert.exists():
            raise TlsCertificateError(
                f"no next TLS key is prepared ({upcoming.cert} does not exist): run callreel-vault"
                " tls prepare-rotation, and rotate once every device has sent a heartbeat"
            )
        if upcoming.key.exists():
            hint = f"delete {upcoming.cert} and {upcoming.key} and prepare the rotation again"
            upcoming.check(now, hint)
            old = current.check(now, "restore the vault's TLS files from backup")
            # Copies first, synced, so a crash below leaves the old pair recoverable.
            for source, copy, mode in (
                (current.key, previous.key, 0o600),
                (current.cert, previous.cert, 0o644),
            ):
                with atomic_output(copy, mode=mode) as handle:
                    handle.write(source.read_bytes())
            fsync_directory(directory)
            upcoming.key.replace(current.key)
        else:
            # A rotation that stopped between its two renames: the key is already in place.
            old = previous.check(now, "restore the vault's TLS files from backup")
        upcoming.cert.replace(current.cert)
        fsync_directory(directory)
        return old, current.check(now, "restore the vault's TLS files from backup")
    finally:
        lock.release()
