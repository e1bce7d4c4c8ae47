"""The one x509 certificate builder: CAs and the leaves they sign, keys, PEM files.

Both the embedded API server's first-start credentials (``certs``) and the real control
plane's throwaway PKI (``testenv``) need a self-signed CA and leaf certificates it signs
(serving, client). They are built here, in one shape that Go's and OpenSSL's verifiers
both accept: ECDSA P-256 keys (generation takes milliseconds), BasicConstraints and
KeyUsage marked critical, subject and authority key identifiers, an extended key usage on
leaves and their subject alternative names.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey
PEM = serialization.Encoding.PEM


def new_key() -> Key:
    return ec.generate_private_key(ec.SECP256R1())


def certificate(
    common_name: str,
    key: Key,
    issuer: tuple[x509.Certificate, Key] | None = None,
    *,
    days: int,
    usage: x509.ObjectIdentifier | None = None,
    sans: Sequence[x509.GeneralName] = (),
    now: dt.datetime | None = None,
) -> x509.Certificate:
    """A CA certificate when ``issuer`` is None (self-signed), else a leaf it signs.

    Valid from five minutes before ``now`` (clock skew between processes) for ``days``.
    """
    start = now or dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    is_ca = issuer is None
    issuer_name, issuer_key = (name, key) if issuer is None else (issuer[0].subject, issuer[1])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - dt.timedelta(minutes=5))
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def host_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """Subject alternative names for host strings: IP addresses as such, others as DNS."""
    out: list[x509.GeneralName] = []
    for h in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            out.append(x509.DNSName(h))
    return out


def key_pem(key: Key | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(PEM)


def write_file(path: Path, data: bytes | str, mode: int = 0o600) -> Path:
    """Write ``data`` created with ``mode`` (private by default: keys and tokens)."""
    raw = data.encode() if isinstance(data, str) else data
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.chmod(path, mode)  # O_CREAT's mode only applies to a new file
    return path


def load_ca(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, Key]:
    """A CA written by :func:`certificate` and :func:`key_pem`, read back."""
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path}: not an ECDSA private key")
    return x509.load_pem_x509_certificate(cert_path.read_bytes()), key
