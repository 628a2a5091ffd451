"""TLS contexts that trust the vault alone: by its key's pin (the agent: the key it enrolled
with, and the next ones the vault announces), or by its certificate file (the vault's
command line, tests).

Shared by the agent and the vault's command line; the vault makes the certificate
(vault/tls.py), everyone else only pins it. Pin syntax: protocol/tls_pins.py.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from protocol.tls_pins import parse_pin, pin_of_public_key_info

CERT_FILENAME = "vault-tls.crt"
MAX_CERTIFICATE_FILE_BYTES = 1024 * 1024


class TlsCertificateError(RuntimeError):
    """The vault's certificate files are missing, unsafe or unsuitable; the message says how."""


def _missing_certificate(path: Path) -> TlsCertificateError:
    return TlsCertificateError(
        f"vault certificate file {path} does not exist; copy the vault's {CERT_FILENAME} to"
        " this machine and point the agent at it"
    )


def client_ssl_context(ca_file: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the certificates in `ca_file`, not the system's.

    Host names are checked against the certificate's SANs as usual, so connect with a name or
    address the vault certificate lists. Works as `httpx.Client(verify=context)`.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # check_hostname, CERT_REQUIRED
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    try:
        context.load_verify_locations(cafile=ca_file)
    except FileNotFoundError:
        raise _missing_certificate(ca_file) from None
    except (OSError, ssl.SSLError) as exc:
        raise TlsCertificateError(
            f"cannot load the vault certificate {ca_file} as a PEM CA file: {exc}"
        ) from None
    if not context.get_ca_certs():
        raise TlsCertificateError(f"{ca_file} holds no certificate")
    return context


class VaultKeyNotTrustedError(ssl.SSLCertVerificationError):
    """The server's key is not one of the pinned ones; raised during the handshake, before a
    byte of the request is sent. `seen` is its pin."""

    def __init__(self, seen: str, trusted: Iterable[str]) -> None:
        self.seen = seen
        self.trusted = tuple(sorted(trusted))
        super().__init__(
            f"the vault presented the TLS key {seen}, which this machine does not trust"
            f" (it trusts {', '.join(self.trusted) or 'no key'}). If IT replaced the vault's"
            " TLS key, they announce the next one first (callreel-vault tls prepare-rotation,"
            " then rotate once every device has sent a heartbeat) or add its pin to the"
            " vault_tls_pins policy; otherwise something between this machine and the vault"
            " intercepts the connection: tell IT"
        )
        self.verify_message = "TLS key not pinned"

    def __str__(self) -> str:
        # SSLCertVerificationError (OSError and ValueError) would show the args tuple.
        return str(self.args[0])


class TrustedPins:
    """The vault keys a client trusts, shared by every connection it makes and updated while
    they run (when the vault announces its next key)."""

    def __init__(self, pins: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._pins = frozenset(parse_pin(pin) for pin in pins)

    def replace(self, pins: Iterable[str]) -> None:
        checked = frozenset(parse_pin(pin) for pin in pins)
        with self._lock:
            self._pins = checked

    def snapshot(self) -> frozenset[str]:
        with self._lock:
            return self._pins

    def check(self, certificate_der: bytes | None) -> str:
        """The pin of the server's certificate; VaultKeyNotTrustedError if not trusted."""
        if not certificate_der:
            raise VaultKeyNotTrustedError("(no certificate)", self.snapshot())
        seen = certificate_pin(certificate_der)
        trusted = self.snapshot()
        if seen not in trusted:
            raise VaultKeyNotTrustedError(seen, trusted)
        return seen


def certificate_pin(certificate_der: bytes) -> str:
    """The pin of a DER certificate's key (its SubjectPublicKeyInfo)."""
    try:
        certificate = x509.load_der_x509_certificate(certificate_der)
    except ValueError as exc:
        raise TlsCertificateError(f"not a DER certificate: {exc}") from None
    return _key_pin(certificate)


def certificate_file_pin(cert_file: Path) -> str:
    """The pin of the key of the (first) certificate in a PEM file."""
    try:
        pem = cert_file.read_bytes()[:MAX_CERTIFICATE_FILE_BYTES]
    except FileNotFoundError:
        raise _missing_certificate(cert_file) from None
    except OSError as exc:
        raise TlsCertificateError(
            f"cannot read the vault certificate {cert_file}: {exc.strerror or exc}"
        ) from None
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise TlsCertificateError(f"{cert_file} is not a PEM certificate: {exc}") from None
    return _key_pin(certificate)


def _key_pin(certificate: x509.Certificate) -> str:
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pin_of_public_key_info(spki)


class _KeyPinningContext(ssl.SSLContext):
    pins: TrustedPins


def _check_peer(context: ssl.SSLContext, certificate_der: bytes | None) -> None:
    if not isinstance(context, _KeyPinningContext):
        raise TypeError("a pin-checking socket needs the context key_pinning_context made")
    context.pins.check(certificate_der)


class _PinCheckingSocket(ssl.SSLSocket):
    """What `wrap_socket` makes: httpcore's sync path for HTTPS, direct and through an HTTP
    CONNECT tunnel alike."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_peer(self.context, self.getpeercert(binary_form=True))


class _PinCheckingObject(ssl.SSLObject):
    """What `wrap_bio` makes: TLS to the vault inside TLS to an https:// proxy, and asyncio."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_peer(self.context, self.getpeercert(binary_form=True))


def key_pinning_context(pins: TrustedPins) -> ssl.SSLContext:
    """A client context that accepts a server whose certificate's key is in `pins`, whatever
    signed the certificate and whichever names it lists: the pin is the trust, checked at the
    end of the handshake, before the caller can send anything. (The handshake itself proves
    the server holds that key's private half.) Works as `httpx.Client(verify=context)`."""
    context = _KeyPinningContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.pins = pins
    context.sslsocket_class = _PinCheckingSocket
    context.sslobject_class = _PinCheckingObject
    return context
