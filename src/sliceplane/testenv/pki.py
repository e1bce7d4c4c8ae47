"""Everything kubeadm would put in /etc/kubernetes/pki that the test control plane uses.

Generated per run with ``apiserver.pki``'s builder, so nothing is shared between runs or
with the machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from sliceplane.apiserver.pki import (
    cert_pem,
    certificate,
    host_names,
    key_pem,
    new_key,
    write_file,
)

FRONT_PROXY_CLIENT = "front-proxy-client"
# Throwaway certificates: a month outlives any test run.
_DAYS = 30


@dataclass(frozen=True, slots=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    front_proxy_ca_cert: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path
    sa_key: Path
    sa_pub: Path


def make_pki(directory: Path, service_ip: str, extra_ips: Sequence[str] = ()) -> Pki:
    """A cluster CA and the API server's serving certificate (every name clients use); a
    front-proxy CA and client, which kube-apiserver publishes in
    ``kube-system/extension-apiserver-authentication`` so that delegated authentication
    in kube-controller-manager finds a complete configuration; and the service-account
    signing pair. ECDSA P-256 keeps generation in milliseconds; the service-account key is
    RSA because every token consumer accepts RS256. ``extra_ips`` are further addresses the
    serving certificate is valid for (a server reached other than by loopback).
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = new_key()
    ca = certificate("sliceplane-testenv-ca", ca_key, days=_DAYS)
    key = new_key()
    serving = certificate(
        "kube-apiserver",
        key,
        (ca, ca_key),
        days=_DAYS,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default"),
            x509.DNSName("kubernetes.default.svc"),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
            *host_names(["127.0.0.1", service_ip, *extra_ips]),
        ],
    )
    fp_ca_key = new_key()
    fp_ca = certificate("sliceplane-testenv-front-proxy-ca", fp_ca_key, days=_DAYS)
    fp_key = new_key()
    fp_client = certificate(
        FRONT_PROXY_CLIENT,
        fp_key,
        (fp_ca, fp_ca_key),
        days=_DAYS,
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sa_pub = sa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Pki(
        ca_cert=write_file(directory / "ca.crt", cert_pem(ca), 0o644),
        serving_cert=write_file(directory / "apiserver.crt", cert_pem(serving), 0o644),
        serving_key=write_file(directory / "apiserver.key", key_pem(key)),
        front_proxy_ca_cert=write_file(directory / "front-proxy-ca.crt", cert_pem(fp_ca), 0o644),
        front_proxy_client_cert=write_file(
            directory / "front-proxy-client.crt", cert_pem(fp_client), 0o644
        ),
        front_proxy_client_key=write_file(directory / "front-proxy-client.key", key_pem(fp_key)),
        sa_key=write_file(directory / "sa.key", key_pem(sa_key)),
        sa_pub=write_file(directory / "sa.pub", sa_pub, 0o644),
    )
