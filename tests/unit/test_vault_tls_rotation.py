"""The vault's TLS key rotation on disk: the next pair is prepared beside the current one for
the same names, announced with the current key, and made current by `rotate` (which finishes
a rotation a crash interrupted). Served to agents: tests/integration/test_vault_tls_rotation.py."""

from __future__ import annotations

import datetime
import stat
from pathlib import Path

import pytest

from protocol.pinned_tls import TlsCertificateError, certificate_file_pin
from vault.tls import certificate_names, ensure_certificate
from vault.tls_announcement import AnnouncedTlsPins
from vault.tls_rotation import TlsPair, prepare_rotation, prepared_next, rotate

NAMES = ("vault.example", "localhost", "127.0.0.1")


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def test_the_next_key_is_new_covers_the_same_names_and_is_kept_once_made(
    tmp_path: Path,
) -> None:
    current = ensure_certificate(tmp_path, NAMES)
    assert prepared_next(tmp_path, _now()) is None
    upcoming = prepare_rotation(tmp_path, _now())
    assert upcoming.key_pin != current.key_pin
    assert certificate_names(upcoming.cert_path) == certificate_names(current.cert_path)
    assert stat.S_IMODE(upcoming.key_path.stat().st_mode) == 0o600
    again = prepare_rotation(tmp_path, _now())
    assert again.key_pin == upcoming.key_pin, "agents may already trust it"
    assert certificate_file_pin(current.cert_path) == current.key_pin, "current untouched"


def test_rotate_makes_the_next_key_current_and_keeps_the_old_one(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, NAMES)
    upcoming = prepare_rotation(tmp_path, _now())
    previous, current = rotate(tmp_path, _now())
    assert (previous.key_pin, current.key_pin) == (first.key_pin, upcoming.key_pin)
    assert ensure_certificate(tmp_path, NAMES).key_pin == upcoming.key_pin, "served next start"
    assert certificate_file_pin(TlsPair.previous(tmp_path).cert) == first.key_pin
    assert stat.S_IMODE(TlsPair.previous(tmp_path).key.stat().st_mode) == 0o600
    assert prepared_next(tmp_path, _now()) is None
    with pytest.raises(TlsCertificateError, match=r"no next TLS key is prepared.*prepare-rotation"):
        rotate(tmp_path, _now())


def test_rotate_finishes_a_rotation_stopped_between_its_renames(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path, NAMES)
    upcoming = prepare_rotation(tmp_path, _now())
    current, nxt, previous = (
        TlsPair.current(tmp_path),
        TlsPair.next(tmp_path),
        TlsPair.previous(tmp_path),
    )
    # What the first run left when it stopped after moving the key only.
    previous.key.write_bytes(current.key.read_bytes())
    previous.key.chmod(0o600)
    previous.cert.write_bytes(current.cert.read_bytes())
    nxt.key.replace(current.key)
    with pytest.raises(TlsCertificateError, match="is not the key of"):
        ensure_certificate(tmp_path, NAMES)
    old, now_current = rotate(tmp_path, _now())
    assert (old.key_pin, now_current.key_pin) == (first.key_pin, upcoming.key_pin)
    assert ensure_certificate(tmp_path, NAMES).key_pin == upcoming.key_pin


def test_heartbeats_announce_the_served_key_and_the_ones_on_disk(tmp_path: Path) -> None:
    served = ensure_certificate(tmp_path, NAMES)
    announced = AnnouncedTlsPins(tmp_path, served.key_pin)
    assert announced() == [served.key_pin]
    upcoming = prepare_rotation(tmp_path, _now())
    assert announced() == [served.key_pin, upcoming.key_pin], "prepared while serving"
    rotate(tmp_path, _now())
    assert announced() == [served.key_pin, upcoming.key_pin], "rotated, not restarted yet"
    TlsPair.current(tmp_path).cert.write_text("damaged")
    assert announced() == [served.key_pin], "a file that is not a certificate is not announced"
