"""Rotating the vault's key: new recordings are sealed to a new identity while every older one
still opens with the retired identity it was sealed to.

The retired identities live in `DATA/retired-keys/<key id>.key` (mode 0600; back them up with
the rest, `callreel-vault backup` carries them). Agents learn the new recipient from the
vault's answer to their heartbeat, without re-enrolment; until then, and for whatever their
spools still hold, the vault accepts segments sealed to a retired key too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from protocol.atomic_files import fsync_directory
from protocol.keys import KeyFileError, VaultIdentity, write_key_pair

IDENTITY_FILE = "vault-identity.key"
RECIPIENT_FILE = "vault-recipient.pub"
RETIRED_DIRECTORY = "retired-keys"
_STAGING = ".rotating"


def retired_identities(data: Path) -> dict[bytes, VaultIdentity]:
    """Every retired identity in `data`, by key id."""
    directory = data / RETIRED_DIRECTORY
    if not directory.is_dir():
        return {}
    found = {}
    for path in sorted(directory.glob("*.key")):
        identity = VaultIdentity.load(path)
        if path.stem != identity.recipient.key_id.hex():
            raise KeyFileError(f"{path} holds key {identity.recipient.key_id.hex()}, not its name")
        found[identity.recipient.key_id] = identity
    return found


def rotate(data: Path) -> tuple[VaultIdentity, VaultIdentity]:
    """Retire the current identity and make a new one; (retired, new). The retired copy is
    written and synced before the current one is replaced, so a crash loses neither."""
    current = VaultIdentity.load(data / IDENTITY_FILE)
    retired_dir = data / RETIRED_DIRECTORY
    retired_dir.mkdir(mode=0o700, exist_ok=True)
    retired_path = retired_dir / f"{current.recipient.key_id.hex()}.key"
    if not retired_path.exists():
        fd = os.open(retired_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write((data / IDENTITY_FILE).read_bytes())
            handle.flush()
            os.fsync(handle.fileno())
    staging = data / _STAGING
    shutil.rmtree(staging, ignore_errors=True)  # a rotation that crashed before
    new = VaultIdentity.generate()
    write_key_pair(new, staging)
    (staging / IDENTITY_FILE).replace(data / IDENTITY_FILE)
    (staging / RECIPIENT_FILE).replace(data / RECIPIENT_FILE)
    staging.rmdir()
    fsync_directory(data)
    return current, new
