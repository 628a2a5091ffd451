"""The embedded vault's HTTPS certificate, and the client context that pins it.

On first start `ensure_certificate` makes a self-signed ECDSA P-256 certificate for the vault's
host names and addresses. It is its own CA (basicConstraints CA:TRUE), so the CLI can pin it
by using it as its only CA file (`client_ssl_context`); agents pin its key (`key_pin`). Later
starts reuse the files unchanged: replacing the key silently would cut off every agent that
pinned it, so anything unexpected (SANs that no longer cover the host, a mismatched or expired
pair, a half-present pair) is an error that says how to regenerate on purpose. A new key is
announced first and switched to later: vault/tls_rotation.py.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from filelock import FileLock, Timeout

from protocol.atomic_files import atomic_output
from protocol.keys import KeyFileError, read_private_file
from protocol.pinned_tls import CERT_FILENAME, TlsCertificateError
from protocol.tls_pins import pin_of_public_key_info

KEY_FILENAME = "vault-tls.key"
LOCK_FILENAME = ".vault-tls.lock"
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1")
VALIDITY_DAYS = 825
# Backdate a little so a client whose clock is slightly behind still accepts a new cert.
BACKDATE = datetime.timedelta(minutes=5)
_DNS_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_MAX_FILE_BYTES = 1024 * 1024

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_path: Path
    key_path: Path
    fingerprint_sha256_hex: str
    key_pin: str
    """What agents trust: the pin of the certificate's key (protocol/tls_pins.py)."""
    not_before: datetime.datetime


def certificate_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER encoding, lower-case hex (what operators compare)."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise TlsCertificateError(f"not a PEM certificate: {exc}") from None
    return certificate.fingerprint(hashes.SHA256()).hex()


def _parse_hostnames(hostnames: Sequence[str]) -> tuple[list[str], list[IpAddress]]:
    """Split into DNS names (lower-cased) and IP addresses, refusing anything else."""
    if isinstance(hostnames, str):
        raise TypeError("hostnames must be a sequence of names, not one string")
    dns_names: list[str] = []
    addresses: list[IpAddress] = []
    for hostname in hostnames:
        try:
            address = ipaddress.ip_address(hostname)
        except ValueError:
            pass
        else:
            if address not in addresses:
                addresses.append(address)
            continue
        name = hostname.lower()
        labels = name.split(".")
        if (
            not name
            or len(name) > 253
            or not name.isascii()
            or not all(_DNS_LABEL_RE.fullmatch(label) for label in labels)
        ):
            raise TlsCertificateError(
                f"{hostname!r} is neither an IP address nor a DNS host name"
                " (letters, digits and hyphens in dot-separated labels; write"
                " internationalised names in their xn-- form)"
            )
        if name not in dns_names:
            dns_names.append(name)
    if not dns_names and not addresses:
        raise TlsCertificateError("the vault certificate needs at least one host name or address")
    return dns_names, addresses


def _regenerate_hint(cert_path: Path, key_path: Path) -> str:
    return (
        f"to make a new certificate, stop the vault, delete {cert_path} and {key_path}, and"
        " start it again; then give every agent the new key's pin (the vault_tls_pins policy)"
        " and the CLI the new certificate file. (To change a working key, announce the next"
        " one instead: callreel-vault tls prepare-rotation.)"
    )


def _read_private_file(path: Path) -> bytes:
    try:
        return read_private_file(path, "the vault's TLS key", _MAX_FILE_BYTES)
    except KeyFileError as exc:
        raise TlsCertificateError(str(exc)) from None


def check_pair(
    cert_path: Path,
    key_path: Path,
    dns_names: list[str],
    addresses: list[IpAddress],
    now: datetime.datetime,
    *,
    hint: str | None = None,
) -> TlsFiles:
    """The pair's facts, once it is a matching, current pair covering these names."""
    key_pem = _read_private_file(key_path)
    hint = hint or _regenerate_hint(cert_path, key_path)
    try:
        cert_pem = cert_path.read_bytes()
    except OSError as exc:
        raise TlsCertificateError(
            f"cannot read the vault's certificate {cert_path}: {exc}"
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise TlsCertificateError(f"{cert_path} is not a PEM certificate ({exc}); {hint}") from None
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise TlsCertificateError(
            f"{key_path} is not an unencrypted PEM private key ({exc}); {hint}"
        ) from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if certificate.public_key().public_bytes(*spki) != private_key.public_key().public_bytes(*spki):
        raise TlsCertificateError(f"{key_path} is not the key of {cert_path}; {hint}")

    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    have_dns = {name.lower() for name in san.get_values_for_type(x509.DNSName)}
    have_ips = set(san.get_values_for_type(x509.IPAddress))
    missing = [name for name in dns_names if name not in have_dns]
    missing += [str(address) for address in addresses if address not in have_ips]
    if missing:
        covered = sorted(have_dns) + sorted(str(address) for address in have_ips)
        raise TlsCertificateError(
            f"the vault certificate {cert_path} does not cover {', '.join(missing)}"
            f" (it covers: {', '.join(covered) or 'nothing'}); {hint}"
        )

    if now >= certificate.not_valid_after_utc:
        raise TlsCertificateError(
            f"the vault certificate {cert_path} expired on"
            f" {certificate.not_valid_after_utc:%Y-%m-%d}; {hint}"
        )
    if now < certificate.not_valid_before_utc:
        raise TlsCertificateError(
            f"the vault certificate {cert_path} is not valid until"
            f" {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; check this machine's"
            f" clock, or {hint}"
        )
    return TlsFiles(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint_sha256_hex=certificate.fingerprint(hashes.SHA256()).hex(),
        key_pin=pin_of_public_key_info(certificate.public_key().public_bytes(*spki)),
        not_before=certificate.not_valid_before_utc,
    )


def certificate_names(cert_path: Path) -> tuple[list[str], list[IpAddress]]:
    """The DNS names and addresses a certificate covers (a next one covers the same)."""
    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes()[:_MAX_FILE_BYTES])
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound) as exc:
        raise TlsCertificateError(f"cannot read the names {cert_path} covers: {exc}") from None
    addresses = [
        address
        for address in san.get_values_for_type(x509.IPAddress)
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return list(san.get_values_for_type(x509.DNSName)), addresses


def write_new_pair(
    cert_path: Path,
    key_path: Path,
    dns_names: list[str],
    addresses: list[IpAddress],
    now: datetime.datetime,
) -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    public_key = private_key.public_key()
    first = dns_names[0] if dns_names else str(addresses[0])
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Callreel"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Callreel vault {first}"[:64]),
        ]
    )
    general_names: list[x509.GeneralName] = [x509.DNSName(dns) for dns in dns_names]
    general_names += [x509.IPAddress(address) for address in addresses]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(general_names), critical=False)
        # Key identifiers: OpenSSL's strict verification (Python 3.13's default) wants them.
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False
        )
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # Both temp files are complete before either is renamed into place, so a crash leaves
    # at most a moment where one exists without the other (reported, not papered over).
    with (
        atomic_output(key_path, mode=0o600) as key_out,
        atomic_output(cert_path, mode=0o644) as cert_out,
    ):
        key_out.write(key_pem)
        cert_out.write(certificate.public_bytes(serialization.Encoding.PEM))


def locked_tls_directory(directory: Path) -> FileLock:
    """The TLS directory's lock, acquired: held while a vault makes its first pair and while a
    rotation writes or swaps pairs, so that no one reads or writes half of a pair."""
    lock = FileLock(directory / LOCK_FILENAME, timeout=60, mode=0o600)
    try:
        lock.acquire()
    except Timeout:
        raise TlsCertificateError(
            f"another process has held {lock.lock_file} for 60 s; is another vault starting,"
            " or a TLS rotation running, in the same directory?"
        ) from None
    return lock


def ensure_certificate(
    directory: Path,
    hostnames: Sequence[str] = DEFAULT_HOSTNAMES,
    *,
    now: datetime.datetime | None = None,
) -> TlsFiles:
    """The vault's certificate and key in `directory`, generated on first start.

    Later starts reuse the files after checking they are a matching, current pair, that the
    key is private to its owner, and that the certificate covers every name in `hostnames`.
    """
    dns_names, addresses = _parse_hostnames(hostnames)
    if now is None:
        now = datetime.datetime.now(datetime.UTC)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    cert_path = directory / CERT_FILENAME
    key_path = directory / KEY_FILENAME
    if not (cert_path.exists() and key_path.exists()):
        # First start. The lock stops two vaults starting together from each writing half of
        # a pair; it is only taken here, so a read-only directory of existing files works.
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = locked_tls_directory(directory)
        try:
            cert_exists, key_exists = cert_path.exists(), key_path.exists()
            if cert_exists != key_exists:
                present, absent = (cert_path, key_path) if cert_exists else (key_path, cert_path)
                raise TlsCertificateError(
                    f"found {present} but not {absent}; restore {absent} from backup, or"
                    f" delete {present} so the vault makes a new certificate (agents must then"
                    " be given the new certificate file to pin)"
                )
            if not cert_exists:
                write_new_pair(cert_path, key_path, dns_names, addresses, now)
        finally:
            lock.release()
    return check_pair(cert_path, key_path, dns_names, addresses, now)


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context serving the vault certificate (TLS 1.2 or later)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=files.cert_path, keyfile=files.key_path)
    return context
