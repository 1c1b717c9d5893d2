"""`serve`'s TLS context from --tls-cert/--tls-key, and what is said of files OpenSSL refuses (its
"PEM lib"), an encrypted key (refused, not prompted for) and dates browsers would refuse."""

from __future__ import annotations

import datetime
import re
import ssl
from pathlib import Path

from realtime_adain.errors import UserError
from realtime_adain.serve.settings import MAX_TLS_FILE_BYTES, ServeSettings, check_tls_file


class EncryptedKey(Exception):
    """Raised for OpenSSL's passphrase request, which would otherwise prompt on the terminal and wait."""


def refuse_passphrase() -> bytes:
    raise EncryptedKey()


PEM_CERTIFICATE = re.compile(rb"-----BEGIN (?:X509 |TRUSTED )?CERTIFICATE-----")
PEM_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----")


def pem_problem(path: Path, block: re.Pattern, what: str, der_tool: str) -> str | None:
    """Why the file holds no PEM `what`, or None (OpenSSL would only say "PEM lib")."""
    data = path.read_bytes()[:MAX_TLS_FILE_BYTES]
    if not data.strip():
        return f"{path} is empty"
    if b"-----BEGIN " not in data:
        return (f"{path} is not PEM (no -----BEGIN line; DER or PKCS#12?): convert it with `openssl {der_tool} -inform "
                f"der -in {path} -out converted.pem` or `openssl pkcs12 -in {path} -nodes -out converted.pem`")
    if not block.search(data):
        return f"{path} holds no PEM {what}"
    return None


def damaged_pem(cert: Path, key: Path) -> str:
    """Which file's PEM block holds no certificate or key (damaged, cut short, or only the
    armour): OpenSSL says "PEM lib" for either."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        x509.load_pem_x509_certificate(cert.read_bytes()[:MAX_TLS_FILE_BYTES])
    except ValueError:
        return f"{cert}'s -----BEGIN CERTIFICATE----- block holds no certificate (damaged or cut short?)"
    try:
        serialization.load_pem_private_key(key.read_bytes()[:MAX_TLS_FILE_BYTES], password=None)
    except ValueError:
        return f"{key}'s -----BEGIN PRIVATE KEY----- block holds no private key (damaged or cut short?)"
    except (TypeError, UnsupportedAlgorithm):  # (encrypted, or a type cryptography lacks)
        pass
    return "OpenSSL cannot read them (PEM lib): check that both are whole PEM files"


def chain_order_hint(cert: Path) -> str:
    """For a key that does not match: where the file holds a chain, that the server's own certificate
    comes first (a chain with its CA first was refused as a key of another certificate)."""
    count = len(PEM_CERTIFICATE.findall(cert.read_bytes()[:MAX_TLS_FILE_BYTES]))
    if count < 2:
        return ""
    return f" (the file holds {count} certificates: the first must be the server's own, then its chain)"


def date_problem(path: Path) -> str | None:
    """Why browsers would refuse the certificate for its dates, or None: said at the start, not by each browser."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())  # the first: the server's own, before its chain
    except ValueError:  # OpenSSL took it: leave the dates to the browsers
        return None
    now = datetime.datetime.now(datetime.timezone.utc)
    if now > cert.not_valid_after_utc:
        return f"it expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC (browsers refuse it): renew it"
    if now < cert.not_valid_before_utc:
        return (f"it is valid only from {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC (browsers refuse it until "
                "then; is this machine's clock right?)")
    return None


def tls_context(settings: ServeSettings) -> ssl.SSLContext | None:
    """The server's TLS context from --tls-cert/--tls-key (checked before anything loads). Files
    are PEM; an encrypted key is refused, not prompted for."""
    cert, key = settings.tls_cert, settings.tls_key
    if cert is None or key is None:
        return None
    check_tls_file(cert, "--tls-cert")  # not a pipe, a device or a huge file, which would hang OpenSSL
    check_tls_file(key, "--tls-key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        problem = (pem_problem(cert, PEM_CERTIFICATE, "certificate (-----BEGIN CERTIFICATE-----)", "x509")
                   or pem_problem(key, PEM_PRIVATE_KEY, "private key (-----BEGIN PRIVATE KEY-----)", "pkey"))
        if problem is None:
            context.load_cert_chain(cert, key, password=refuse_passphrase)
            problem = date_problem(cert)
    except EncryptedKey:
        problem = (f"the private key is encrypted and serve cannot ask for its passphrase: decrypt it "
                   f"(openssl pkey -in {key} -out plain-key.pem) and keep that file private")
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None)
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        if reason in ("KEY_VALUES_MISMATCH", "NO_CERTIFICATE_ASSIGNED"):  # (the latter: a key of another type)
            problem = "the private key does not belong to this certificate" + chain_order_hint(cert)
        elif reason in ("EE_KEY_TOO_SMALL", "CA_KEY_TOO_SMALL"):
            problem = ("its key is too small for OpenSSL's security level (RSA or DSA under 2048 bits): make a new "
                       "certificate with an RSA key of 2048 bits or more, or an EC key (P-256)")
        elif isinstance(exc, ssl.SSLError) and "PEM lib" in str(exc):  # a PEM block whose contents OpenSSL refused
            problem = damaged_pem(cert, key)
        else:
            problem = reason or where + (exc.strerror or str(exc)).lower()
    if problem:
        raise UserError(f"{cert}: cannot use this certificate with {key}: {problem}")
    return context
