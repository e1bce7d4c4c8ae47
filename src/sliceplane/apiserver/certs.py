"""Credentials generated at first start: a CA, a serving certificate and a bearer token.

The files live in the data directory and are reused on restart, so a kubeconfig handed
out once keeps working.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True, slots=True)
class Credentials:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    token: str


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    os.chmod(path, 0o600)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_credentials(data_dir: Path, hosts: list[str]) -> Credentials:
    """Create (once) and return the CA, serving certificate for ``hosts`` and token."""
    pki = data_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    ca_cert_p, ca_key_p = pki / "ca.crt", pki / "ca.key"
    crt_p, key_p = pki / "apiserver.crt", pki / "apiserver.key"
    token_p = data_dir / "token"
    now = dt.datetime.now(dt.UTC)
    if not ca_cert_p.exists() or not ca_key_p.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sliceplane-ca")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write_private(ca_key_p, _key_pem(ca_key))
        ca_cert_p.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        crt_p.unlink(missing_ok=True)
    wanted = sorted(set(hosts) | {"127.0.0.1", "localhost", "::1"})
    sans_p = pki / "apiserver.hosts"
    if not crt_p.exists() or not sans_p.exists() or sans_p.read_text().split() != wanted:
        ca_key_loaded = serialization.load_pem_private_key(ca_key_p.read_bytes(), None)
        assert isinstance(ca_key_loaded, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_p.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = []
        for h in wanted:
            try:
                alt.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                alt.append(x509.DNSName(h))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key_loaded, hashes.SHA256())
        )
        _write_private(key_p, _key_pem(key))
        crt_p.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        sans_p.write_text(" ".join(wanted))
    if not token_p.exists():
        _write_private(token_p, secrets.token_urlsafe(32).encode())
    return Credentials(ca_cert_p, crt_p, key_p, token_p.read_text().strip())
