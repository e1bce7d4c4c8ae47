"""Credentials generated at first start: a CA, a serving certificate and a bearer token.

The files live in the data directory and are reused on restart, so a kubeconfig handed
out once keeps working.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.x509.oid import ExtendedKeyUsageOID

from sliceplane.apiserver.pki import (
    cert_pem,
    certificate,
    host_names,
    key_pem,
    load_ca,
    new_key,
    write_file,
)

CA_DAYS = 3650
SERVING_DAYS = 365


@dataclass(frozen=True, slots=True)
class Credentials:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    token: str


def ensure_credentials(data_dir: Path, hosts: list[str]) -> Credentials:
    """Create (once) and return the CA, serving certificate for ``hosts`` and token.

    The serving certificate is issued again when the set of hosts changes.
    """
    pki = data_dir / "pki"
    pki.mkdir(parents=True, exist_ok=True)
    ca_cert_p, ca_key_p = pki / "ca.crt", pki / "ca.key"
    crt_p, key_p = pki / "apiserver.crt", pki / "apiserver.key"
    token_p = data_dir / "token"
    if not ca_cert_p.exists() or not ca_key_p.exists():
        ca_key = new_key()
        ca = certificate("sliceplane-ca", ca_key, days=CA_DAYS)
        write_file(ca_key_p, key_pem(ca_key))
        write_file(ca_cert_p, cert_pem(ca), 0o644)
        crt_p.unlink(missing_ok=True)
    wanted = sorted(set(hosts) | {"127.0.0.1", "localhost", "::1"})
    sans_p = pki / "apiserver.hosts"
    if not crt_p.exists() or not sans_p.exists() or sans_p.read_text().split() != wanted:
        key = new_key()
        cert = certificate(
            "kube-apiserver",
            key,
            load_ca(ca_cert_p, ca_key_p),
            days=SERVING_DAYS,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=host_names(wanted),
        )
        write_file(key_p, key_pem(key))
        write_file(crt_p, cert_pem(cert), 0o644)
        sans_p.write_text(" ".join(wanted))
    if not token_p.exists():
        write_file(token_p, secrets.token_urlsafe(32))
    return Credentials(ca_cert_p, crt_p, key_p, token_p.read_text().strip())
