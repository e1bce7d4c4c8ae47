"""The one certificate builder (``apiserver.pki``) and the API server's first-start
credentials (``apiserver.certs``): chains verify, names and usages are as asked, files are
reused until the hosts change."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from sliceplane.apiserver import pki
from sliceplane.apiserver.certs import ensure_credentials


@pytest.mark.parametrize(
    ("usage", "sans"),
    [
        pytest.param(
            ExtendedKeyUsageOID.SERVER_AUTH, ["127.0.0.1", "localhost", "::1"], id="serving"
        ),
        pytest.param(ExtendedKeyUsageOID.CLIENT_AUTH, [], id="client"),
    ],
)
def test_leaf_is_signed_by_its_ca(usage: x509.ObjectIdentifier, sans: list[str]) -> None:
    ca_key = pki.new_key()
    ca = pki.certificate("test-ca", ca_key, days=1)
    key = pki.new_key()
    leaf = pki.certificate(
        "leaf", key, (ca, ca_key), days=1, usage=usage, sans=pki.host_names(sans)
    )
    leaf.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign and ku.crl_sign
    assert list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [usage]
    if sans:
        alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert alt.get_values_for_type(x509.DNSName) == ["localhost"]
        assert alt.get_values_for_type(x509.IPAddress) == [
            ipaddress.ip_address("127.0.0.1"),
            ipaddress.ip_address("::1"),
        ]


def test_credentials_are_reused_until_the_hosts_change(tmp_path: Path) -> None:
    first = ensure_credentials(tmp_path, ["127.0.0.1"])
    again = ensure_credentials(tmp_path, ["127.0.0.1"])
    assert again == first
    assert first.serving_cert.read_bytes() == again.serving_cert.read_bytes()
    assert stat.S_IMODE(first.serving_key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600

    before = first.serving_cert.read_bytes()
    moved = ensure_credentials(tmp_path, ["127.0.0.1", "api.example"])
    assert moved.serving_cert.read_bytes() != before
    assert moved.ca_cert.read_bytes() == first.ca_cert.read_bytes()
    assert moved.token == first.token
    cert = x509.load_pem_x509_certificate(moved.serving_cert.read_bytes())
    alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.example" in alt.get_values_for_type(x509.DNSName)
    ca = x509.load_pem_x509_certificate(moved.ca_cert.read_bytes())
    cert.verify_directly_issued_by(ca)
    # A real TLS handshake (OpenSSL, in memory) verifies the chain and the host name.
    assert _handshake(moved.serving_cert, moved.serving_key, moved.ca_cert, "api.example")
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(moved.serving_cert, moved.serving_key, moved.ca_cert, "other.example")


def _handshake(cert: Path, key: Path, ca: Path, hostname: str) -> bool:
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=hostname)
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {"client": False, "server": False}
    for _ in range(10):
        for name, end, out, peer_in in (
            ("client", client, c_out, s_in),
            ("server", server, s_out, c_in),
        ):
            if not done[name]:
                try:
                    end.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(out.read())
        if all(done.values()):
            return True
    return False
