"""The API over TLS as the agent serves it (uvicorn with ``uvicorn_options(settings.api)``), on loopback with a
throw-away CA: the server's certificate verifies, and with ``client_ca_file`` a client without a certificate of that
CA is refused at the handshake while one with it gets through (and still needs its token)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from api_fixtures import make_token
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controlplane.api.app import create_app
from controlplane.api.settings import uvicorn_options
from controlplane.api.tokens import Role
from controlplane.config import load_settings
from controlplane.runtime import Runtime

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    subject: str, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None, *, ca: bool = False, server: bool = False
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_name, issuer_key = issuer or (_name(subject), key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return path


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca, ca_key = _issue("yunguan test CA", None, ca=True)
    server, server_key = _issue("127.0.0.1", (ca.subject, ca_key), server=True)
    client, client_key = _issue("vendor-gateway", (ca.subject, ca_key))
    other_ca, other_key = _issue("someone else's CA", None, ca=True)
    stranger, stranger_key = _issue("stranger", (other_ca.subject, other_key))
    return {
        "ca": _write(tmp_path / "ca.pem", ca),
        "server": _write(tmp_path / "server.pem", server, server_key),
        "client": _write(tmp_path / "client.pem", client, client_key),
        "stranger": _write(tmp_path / "stranger.pem", stranger, stranger_key),
    }


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(runtime: Runtime, pki: dict[str, Path], tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = _port()
    config = tmp_path / "api.yaml"
    config.write_text(
        f"api:\n  host: 127.0.0.1\n  port: {port}\n  tls:\n    cert_file: {pki['server']}\n"
        f"    key_file: {pki['server'].with_suffix('.key')}\n    client_ca_file: {pki['ca']}\n",
        encoding="utf-8",
    )
    api = load_settings(config).api
    server = uvicorn.Server(
        uvicorn.Config(create_app(lambda: runtime, routers=[]), log_level="warning", **uvicorn_options(api))
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):  # uvicorn's own flag while it binds
        if server.started or not thread.is_alive():
            break
    assert server.started
    try:
        yield f"https://127.0.0.1:{port}", make_token(runtime, Role.AUDITOR)
    finally:
        server.should_exit = True
        thread.join(30)


def _context(pki: dict[str, Path], cert: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert is not None:
        context.load_cert_chain(str(pki[cert]), str(pki[cert].with_suffix(".key")))
    return context


def test_tls_with_client_certificates(served: tuple[str, str], pki: dict[str, Path]) -> None:
    """The server's certificate verifies; a client certificate of the configured CA is required, and a token too."""
    base, token = served
    with httpx.Client(verify=_context(pki, "client")) as client:
        assert client.get(f"{base}/livez").status_code == 200
        assert client.get(f"{base}/v1/audit/verify").status_code == 401
        answer = client.get(f"{base}/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and answer.json()["ok"] is True
    for cert in (None, "stranger"):
        with httpx.Client(verify=_context(pki, cert)) as client, pytest.raises(httpx.TransportError):
            client.get(f"{base}/livez")
