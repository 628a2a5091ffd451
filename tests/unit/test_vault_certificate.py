"""The vault's self-signed certificate: made once, reused, checked, refused when unsafe or
unsuitable (real TLS handshakes with it: tests/integration/test_vault_tls.py)."""

from __future__ import annotations

import datetime
import ipaddress
import re
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from protocol.pinned_tls import CERT_FILENAME, TlsCertificateError, client_ssl_context
from vault.tls import (
    KEY_FILENAME,
    VALIDITY_DAYS,
    certificate_fingerprint,
    ensure_certificate,
)


def test_first_start_generates_a_pinnable_certificate(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path / "tls", ("localhost", "127.0.0.1", "vault.example", "::1"))
    assert files.cert_path == tmp_path / "tls" / CERT_FILENAME
    assert files.key_path == tmp_path / "tls" / KEY_FILENAME
    assert stat.S_IMODE(files.key_path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    assert not list((tmp_path / "tls").glob("*.partial"))

    cert_pem = files.cert_path.read_bytes()
    assert files.fingerprint_sha256_hex == certificate_fingerprint(cert_pem)
    assert len(files.fingerprint_sha256_hex) == 64
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    assert cert.not_valid_after_utc - cert.not_valid_before_utc >= datetime.timedelta(
        days=VALIDITY_DAYS
    )
    assert cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC) <= datetime.timedelta(
        days=VALIDITY_DAYS
    )
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost", "vault.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert usage.key_cert_sign
    assert not usage.key_encipherment
    extended = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_later_starts_reuse_the_files(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path)
    cert_before = first.cert_path.read_bytes()
    key_before = first.key_path.read_bytes()
    second = ensure_certificate(tmp_path)
    assert second == first
    assert second.cert_path.read_bytes() == cert_before
    assert second.key_path.read_bytes() == key_before
    # A subset of the covered names is fine, in any case.
    assert ensure_certificate(tmp_path, ["LOCALHOST"]).fingerprint_sha256_hex == (
        first.fingerprint_sha256_hex
    )


def test_existing_files_in_a_read_only_directory_are_used(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path / "tls")
    (tmp_path / "tls").chmod(0o500)
    try:
        assert ensure_certificate(tmp_path / "tls") == files
    finally:
        (tmp_path / "tls").chmod(0o700)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o620])
def test_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    files = ensure_certificate(tmp_path)
    files.key_path.chmod(mode)
    with pytest.raises(TlsCertificateError, match=re.escape(f"chmod 600 {files.key_path}")):
        ensure_certificate(tmp_path)


def test_names_not_covered_are_an_error_not_a_silent_replacement(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path)
    before = files.cert_path.read_bytes()
    with pytest.raises(
        TlsCertificateError, match=r"does not cover vault\.example, 10\.0\.0\.5"
    ) as e:
        ensure_certificate(tmp_path, ["localhost", "vault.example", "10.0.0.5"])
    message = str(e.value)
    assert "it covers: localhost, 127.0.0.1" in message
    assert f"delete {files.cert_path} and {files.key_path}" in message
    assert files.cert_path.read_bytes() == before
    # Deleting the two files, as the message says, regenerates for the new names.
    files.cert_path.unlink()
    files.key_path.unlink()
    regenerated = ensure_certificate(tmp_path, ["localhost", "vault.example", "10.0.0.5"])
    assert regenerated.fingerprint_sha256_hex != files.fingerprint_sha256_hex


def test_half_a_pair_is_an_error(tmp_path: Path) -> None:
    files = ensure_certificate(tmp_path)
    files.key_path.unlink()
    with pytest.raises(TlsCertificateError, match=re.escape(f"found {files.cert_path} but not")):
        ensure_certificate(tmp_path)
    assert files.cert_path.exists()


def test_mismatched_pair_is_an_error(tmp_path: Path) -> None:
    first = ensure_certificate(tmp_path / "a")
    second = ensure_certificate(tmp_path / "b")
    second.key_path.write_bytes(first.key_path.read_bytes())
    with pytest.raises(TlsCertificateError, match="is not the key of"):
        ensure_certificate(tmp_path / "b")


def test_expired_certificate_is_an_error(tmp_path: Path) -> None:
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ensure_certificate(tmp_path, now=start)
    later = start + datetime.timedelta(days=VALIDITY_DAYS + 1)
    with pytest.raises(TlsCertificateError, match="expired on"):
        ensure_certificate(tmp_path, now=later)


@pytest.mark.parametrize("hostname", ["", "bad name", "under_score.example", "-x.example", "é.fr"])
def test_invalid_hostnames_are_refused(tmp_path: Path, hostname: str) -> None:
    with pytest.raises(TlsCertificateError, match="neither an IP address nor a DNS host name"):
        ensure_certificate(tmp_path, ["localhost", hostname])
    assert not (tmp_path / CERT_FILENAME).exists()


def test_client_context_refuses_missing_or_empty_ca_file(tmp_path: Path) -> None:
    with pytest.raises(TlsCertificateError, match="does not exist"):
        client_ssl_context(tmp_path / "absent.crt")
    empty = tmp_path / "empty.crt"
    empty.write_text("not a certificate\n")
    with pytest.raises(TlsCertificateError, match=re.escape(str(empty))):
        client_ssl_context(empty)
