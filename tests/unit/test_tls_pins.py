"""Pins of the vault's TLS key: computed from the key, checked for syntax, kept bounded, and
checked at the end of a real TLS handshake held in memory (over sockets, through a proxy and
across a key rotation: tests/integration/test_vault_tls_rotation.py)."""

from __future__ import annotations

import base64
import hashlib
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from protocol.pinned_tls import (
    TrustedPins,
    VaultKeyNotTrustedError,
    certificate_file_pin,
    certificate_pin,
    key_pinning_context,
)
from protocol.tls_pins import (
    MAX_KEPT_PINS,
    TlsPinError,
    parse_pin,
    parse_pins,
    pin_of_public_key_info,
    pin_problem,
    remember_pins,
)
from vault.tls import TlsFiles, ensure_certificate, server_ssl_context

# DER SubjectPublicKeyInfo of a P-256 key up to its point (RFC 5480): SEQUENCE { SEQUENCE {
# id-ecPublicKey, prime256v1 }, BIT STRING { 0x04 || X || Y } }.
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def _pin(n: int) -> str:
    return pin_of_public_key_info(f"key {n}".encode())


def test_the_pin_is_the_sha256_of_the_certificates_subject_public_key_info(
    tmp_path: Path,
) -> None:
    files = ensure_certificate(tmp_path / "tls")
    certificate = x509.load_pem_x509_certificate(files.cert_path.read_bytes())
    public_key = certificate.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    numbers = public_key.public_numbers()
    point = b"\x04" + numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
    expected = base64.b64encode(hashlib.sha256(P256_SPKI_PREFIX + point).digest()).decode()
    assert certificate_file_pin(files.cert_path) == expected
    assert certificate_pin(ssl.PEM_cert_to_DER_cert(files.cert_path.read_text())) == expected
    assert files.key_pin == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is 0 characters long, not 44"),
        ("A" * 43, "is 43 characters long, not 44"),
        ("!" * 43 + "=", "is not base64"),
        ("A" * 42 + "B=", "is not the base64 of 32 bytes"),  # stray bits: not canonical
        ("A" * 40 + "AA==", "is not the base64 of 32 bytes"),  # 31 bytes
    ],
)
def test_text_that_is_not_a_pin_says_what_a_pin_is(text: str, problem: str) -> None:
    found = pin_problem(text)
    assert found is not None
    assert found.startswith(problem)
    with pytest.raises(TlsPinError, match="TLS key pin"):
        parse_pin(text)


def test_a_pin_is_accepted_as_it_is() -> None:
    pin = _pin(1)
    assert len(pin) == 44
    assert pin_problem(pin) is None
    assert parse_pin(pin) == pin
    assert pin_problem(123) == "is not text"


def test_lists_of_pins_are_bounded_and_deduplicated() -> None:
    assert parse_pins([_pin(1), _pin(2), _pin(1)], 4) == (_pin(1), _pin(2))
    with pytest.raises(TlsPinError, match="at most 2"):
        parse_pins([_pin(1), _pin(2), _pin(3)], 2)
    with pytest.raises(TlsPinError, match="at most"):
        parse_pins(_pin(1), 4)  # one string is not a list of pins


def test_announced_pins_come_first_and_the_oldest_fall_off() -> None:
    kept = (_pin(1),)
    after_prepare = remember_pins(kept, [_pin(1), _pin(2)])
    assert after_prepare == (_pin(1), _pin(2))
    after_rotate = remember_pins(after_prepare, [_pin(2)])
    assert after_rotate == (_pin(2), _pin(1)), "the old key stays a while"
    later: tuple[str, ...] = after_rotate
    for n in range(3, 3 + MAX_KEPT_PINS):
        later = remember_pins(later, [_pin(n - 1), _pin(n)])
        assert len(later) <= MAX_KEPT_PINS
    assert _pin(1) not in later, "a key retired long ago is no longer trusted"
    assert later[:2] == (_pin(2 + MAX_KEPT_PINS - 1), _pin(2 + MAX_KEPT_PINS))


def _handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> None:
    """A whole TLS handshake between two SSLObjects over memory buffers (no socket)."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_in, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    near = client.wrap_bio(to_client, to_server, server_hostname="vault.example")
    far = server.wrap_bio(server_in, server_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(20):
        for name, side in (("client", near), ("server", far)):
            if not done[name]:
                try:
                    side.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        server_in.write(to_server.read())
        to_client.write(server_out.read())
        if all(done.values()):
            return
    raise AssertionError("the handshake did not finish")


@pytest.fixture
def vault_tls(tmp_path: Path) -> TlsFiles:
    return ensure_certificate(tmp_path / "vault")


def test_a_handshake_with_a_pinned_key_completes(vault_tls: TlsFiles) -> None:
    context = key_pinning_context(TrustedPins([_pin(9), vault_tls.key_pin]))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    _handshake(context, server_ssl_context(vault_tls))


def test_a_handshake_with_another_key_is_refused_naming_both_and_what_to_do(
    vault_tls: TlsFiles, tmp_path: Path
) -> None:
    other = ensure_certificate(tmp_path / "impostor")  # same names, another key
    pins = TrustedPins([vault_tls.key_pin])
    with pytest.raises(VaultKeyNotTrustedError) as refused:
        _handshake(key_pinning_context(pins), server_ssl_context(other))
    message = str(refused.value)
    assert refused.value.seen == other.key_pin
    assert other.key_pin in message
    assert vault_tls.key_pin in message
    assert "vault_tls_pins" in message
    assert "tls prepare-rotation" in message

    pins.replace([vault_tls.key_pin, other.key_pin])  # announced meanwhile: trusted at once
    _handshake(key_pinning_context(pins), server_ssl_context(other))
