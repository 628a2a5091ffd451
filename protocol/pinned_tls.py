"""The TLS context that trusts exactly the vault's own certificate (pinned at enrolment).

Shared by the agent and the vault's command line; the vault makes the certificate
(vault/tls.py), everyone else only pins it.
"""

from __future__ import annotations

import ssl
from pathlib import Path

CERT_FILENAME = "vault-tls.crt"


class TlsCertificateError(RuntimeError):
    """The vault's certificate files are missing, unsafe or unsuitable; the message says how."""


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
        raise TlsCertificateError(
            f"vault certificate file {ca_file} does not exist; copy the vault's"
            f" {CERT_FILENAME} to this machine and point the agent at it"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise TlsCertificateError(
            f"cannot load the vault certificate {ca_file} as a PEM CA file: {exc}"
        ) from None
    if not context.get_ca_certs():
        raise TlsCertificateError(f"{ca_file} holds no certificate")
    return context
