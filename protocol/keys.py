"""The vault's key pair and its text files.

The agent only ever loads a `VaultRecipient` (public key); the `VaultIdentity` (private key)
exists on the vault and in `callreel-vault` commands. Both are one line of text with a
versioned prefix, like age's keys, so they can be pasted into policy files and compared by eye.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hpke
from cryptography.hazmat.primitives.asymmetric import mlkem, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RECIPIENT_PREFIX = "callreel-recipient-1:"
IDENTITY_PREFIX = "callreel-identity-1:"
MLKEM768_PUBLIC_LEN = 1184
MLKEM768_SEED_LEN = 64
X25519_LEN = 32
KEY_ID_LEN = 8
_KEY_ID_CONTEXT = b"callreel/v1/key-id"


class KeyFileError(ValueError):
    """A key file or key text is missing, malformed or unsafe; the message says which."""


def b64url_encode(raw: bytes) -> str:
    """Unpadded base64url, as every Callreel key line writes its key."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def b64url_decode(text: str, what: str) -> bytes:
    try:
        # validate=True: the lenient decoder would silently drop stray characters.
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"{what} is not valid base64url: {exc}") from None


MAX_KEY_FILE_BYTES = 64 * 1024


def read_private_file(path: Path, what: str, limit: int = MAX_KEY_FILE_BYTES) -> bytes:
    """A private key file's bytes, refused (as ssh does) if other users could access it.
    The mode is taken from the opened file, so it is the file that was read."""
    try:
        with path.open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            data = handle.read(limit)
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc}") from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{what} {path} is accessible by other users (mode {stat.S_IMODE(mode):o});"
            f" run: chmod 600 {path}"
        )
    return data


def read_private_text(path: Path, what: str) -> str:
    """`read_private_file` for the one-line text key files."""
    data = read_private_file(path, what)
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc}") from None


def key_line(text: str, prefix: str, what: str, confusable: Mapping[str, str]) -> str:
    """The single key line of a key file, without its prefix; blank lines and `#` comments
    are allowed. `confusable` maps the prefixes of the other kinds of key that could be
    passed by mistake to what to call them in the error."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if len(lines) != 1:
        raise KeyFileError(f"{what} must hold exactly one key line, found {len(lines)}")
    line = lines[0]
    if not line.startswith(prefix):
        hint = next(
            (
                f" (this looks like {kind}; check which file you passed)"
                for other, kind in confusable.items()
                if line.startswith(other)
            ),
            "",
        )
        raise KeyFileError(f"{what} must start with {prefix!r}{hint}")
    return line[len(prefix) :]


@dataclass(frozen=True, slots=True)
class VaultRecipient:
    """The vault's public key: ML-KEM-768 public key followed by an X25519 public key."""

    raw: bytes
    public_key: hpke.MLKEM768X25519PublicKey = field(compare=False, repr=False)

    @classmethod
    def from_raw(cls, raw: bytes) -> VaultRecipient:
        if len(raw) != MLKEM768_PUBLIC_LEN + X25519_LEN:
            raise KeyFileError(
                f"recipient key must be {MLKEM768_PUBLIC_LEN + X25519_LEN} bytes, got {len(raw)}"
            )
        try:
            mlkem_public = mlkem.MLKEM768PublicKey.from_public_bytes(raw[:MLKEM768_PUBLIC_LEN])
            x25519_public = x25519.X25519PublicKey.from_public_bytes(raw[MLKEM768_PUBLIC_LEN:])
        except ValueError as exc:
            raise KeyFileError(f"recipient key is not a valid public key: {exc}") from None
        return cls(raw=raw, public_key=hpke.MLKEM768X25519PublicKey(mlkem_public, x25519_public))

    @classmethod
    def from_text(cls, text: str) -> VaultRecipient:
        body = key_line(
            text, RECIPIENT_PREFIX, "recipient key", {IDENTITY_PREFIX: "an identity key"}
        )
        return cls.from_raw(b64url_decode(body, "recipient key"))

    @classmethod
    def load(cls, path: Path) -> VaultRecipient:
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyFileError(f"cannot read recipient key {path}: {exc}") from None
        return cls.from_text(text)

    @property
    def key_id(self) -> bytes:
        """Names the key in segment headers so a vault with several keys knows which to use."""
        return hashlib.sha256(_KEY_ID_CONTEXT + self.raw).digest()[:KEY_ID_LEN]

    def to_text(self) -> str:
        return RECIPIENT_PREFIX + b64url_encode(self.raw)


@dataclass(frozen=True, slots=True)
class VaultIdentity:
    """The vault's private key: the ML-KEM-768 seed followed by the X25519 private key."""

    raw: bytes = field(repr=False)
    private_key: hpke.MLKEM768X25519PrivateKey = field(compare=False, repr=False)
    recipient: VaultRecipient = field(compare=False)

    @classmethod
    def generate(cls) -> VaultIdentity:
        mlkem_private = mlkem.MLKEM768PrivateKey.generate()
        x25519_private = x25519.X25519PrivateKey.generate()
        return cls.from_raw(mlkem_private.private_bytes_raw() + x25519_private.private_bytes_raw())

    @classmethod
    def from_raw(cls, raw: bytes) -> VaultIdentity:
        if len(raw) != MLKEM768_SEED_LEN + X25519_LEN:
            raise KeyFileError(
                f"identity key must be {MLKEM768_SEED_LEN + X25519_LEN} bytes, got {len(raw)}"
            )
        try:
            mlkem_private = mlkem.MLKEM768PrivateKey.from_seed_bytes(raw[:MLKEM768_SEED_LEN])
            x25519_private = x25519.X25519PrivateKey.from_private_bytes(raw[MLKEM768_SEED_LEN:])
        except ValueError as exc:
            raise KeyFileError(f"identity key is not a valid private key: {exc}") from None
        recipient_raw = (
            mlkem_private.public_key().public_bytes_raw()
            + x25519_private.public_key().public_bytes_raw()
        )
        return cls(
            raw=raw,
            private_key=hpke.MLKEM768X25519PrivateKey(mlkem_private, x25519_private),
            recipient=VaultRecipient.from_raw(recipient_raw),
        )

    @classmethod
    def from_text(cls, text: str) -> VaultIdentity:
        body = key_line(
            text, IDENTITY_PREFIX, "identity key", {RECIPIENT_PREFIX: "a recipient key"}
        )
        return cls.from_raw(b64url_decode(body, "identity key"))

    @classmethod
    def load(cls, path: Path) -> VaultIdentity:
        """Read an identity file, refusing one that other users could read (as ssh does)."""
        return cls.from_text(read_private_text(path, "identity key"))

    def to_text(self) -> str:
        return IDENTITY_PREFIX + b64url_encode(self.raw)

    def derived_secret(self, purpose: bytes) -> bytes:
        """A 32-byte secret for `purpose`, the same in every process holding this identity
        and telling nothing about the key itself (HKDF-SHA256)."""
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(self.raw)


def write_key_pair(identity: VaultIdentity, directory: Path) -> tuple[Path, Path]:
    """Write `vault-identity.key` (mode 0600) and `vault-recipient.pub` into `directory`.

    Refuses to overwrite an existing identity: losing it makes every recording unreadable.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    identity_path = directory / "vault-identity.key"
    recipient_path = directory / "vault-recipient.pub"
    for existing in (identity_path, recipient_path):
        if existing.exists():
            raise KeyFileError(
                f"{existing} already exists; refusing to overwrite a vault key"
                " (choose another --out directory or move the old keys away first)"
            )
    identity_text = (
        "# Callreel vault identity (private key). Keep it secret and backed up:\n"
        "# without it no recording sealed to its recipient key can be opened.\n"
        f"# recipient key id: {identity.recipient.key_id.hex()}\n"
        f"{identity.to_text()}\n"
    )
    fd = os.open(identity_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(identity_text)
        handle.flush()
        os.fsync(handle.fileno())
    recipient_text = (
        "# Callreel vault recipient (public key): give this to agents.\n"
        f"# key id: {identity.recipient.key_id.hex()}\n"
        f"{identity.recipient.to_text()}\n"
    )
    fd = os.open(recipient_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(recipient_text)
        handle.flush()
        os.fsync(handle.fileno())
    return identity_path, recipient_path
