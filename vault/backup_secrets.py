"""The secret part of a vault backup (its identity key and TLS key), never written in clear:
sealed to an operator's passphrase (scrypt, then AES-256-GCM) or to an operator's backup key
pair made with `callreel-vault keygen` (HPKE, the suite segments use). Losing the vault's
identity loses every recording, so the backup carries it; whoever opens the backup can open
every recording, so only its sealed form leaves the vault."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from protocol.keys import KEY_ID_LEN, VaultIdentity, VaultRecipient
from protocol.segments.format import HPKE_SUITE

PASSPHRASE_MAGIC = b"callreel-backup-passphrase-1\n"
RECIPIENT_MAGIC = b"callreel-backup-recipient-1\n"
_SALT_LEN = 16
_NONCE_LEN = 12
_SCRYPT_N = 2**16  # 64 MiB with r=8: slow to guess offline, a second to open
_HPKE_INFO = b"callreel vault backup v1"
MIN_PASSPHRASE_LENGTH = 16


class BackupSecretError(ValueError):
    """The sealed secrets cannot be opened; the message says with what, or why not."""


def _key_from(passphrase: str, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1).derive(passphrase.encode())


def seal_to_passphrase(secrets: bytes, passphrase: str) -> bytes:
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise BackupSecretError(
            f"the backup passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters"
        )
    salt, nonce = os.urandom(_SALT_LEN), os.urandom(_NONCE_LEN)
    sealed = AESGCM(_key_from(passphrase, salt)).encrypt(nonce, secrets, PASSPHRASE_MAGIC)
    return PASSPHRASE_MAGIC + salt + nonce + sealed


def seal_to_recipient(secrets: bytes, recipient: VaultRecipient) -> bytes:
    sealed = HPKE_SUITE.encrypt(secrets, recipient.public_key, info=_HPKE_INFO)
    return RECIPIENT_MAGIC + recipient.key_id + sealed


def open_sealed(
    blob: bytes, *, passphrase: str | None = None, identity: VaultIdentity | None = None
) -> bytes:
    if blob.startswith(PASSPHRASE_MAGIC):
        if passphrase is None:
            raise BackupSecretError("this backup's secrets are sealed to a passphrase: give it")
        rest = blob[len(PASSPHRASE_MAGIC) :]
        salt, nonce = rest[:_SALT_LEN], rest[_SALT_LEN : _SALT_LEN + _NONCE_LEN]
        try:
            return AESGCM(_key_from(passphrase, salt)).decrypt(
                nonce, rest[_SALT_LEN + _NONCE_LEN :], PASSPHRASE_MAGIC
            )
        except InvalidTag:
            raise BackupSecretError(
                "the passphrase does not open this backup (or the backup is damaged)"
            ) from None
    if blob.startswith(RECIPIENT_MAGIC):
        rest = blob[len(RECIPIENT_MAGIC) :]
        key_id = rest[:KEY_ID_LEN]
        if identity is None or identity.recipient.key_id != key_id:
            raise BackupSecretError(
                f"this backup's secrets are sealed to backup key {key_id.hex()}: give its"
                " identity file"
            )
        try:
            return HPKE_SUITE.decrypt(rest[KEY_ID_LEN:], identity.private_key, info=_HPKE_INFO)
        except InvalidTag:
            raise BackupSecretError("the backup's sealed secrets are damaged") from None
    raise BackupSecretError("not a Callreel backup's sealed secrets")
