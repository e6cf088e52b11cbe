"""The api: section: listen address, TLS files and token defaults, checked at load with errors naming the key."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from controlplane.api.settings import uvicorn_options
from controlplane.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "yunguan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_listen_on_loopback_without_tls(tmp_path: Path) -> None:
    """No api: section: 127.0.0.1:8443, plain HTTP (loopback only), tokens valid 90 days."""
    api = load_settings(write(tmp_path, "")).api
    assert (api.host, api.port, api.tls.enabled, api.token_days) == ("127.0.0.1", 8443, False, 90)
    assert uvicorn_options(api) == {"host": "127.0.0.1", "port": 8443}


def test_tls_files_and_client_ca_reach_uvicorn(tmp_path: Path) -> None:
    """cert, key and client CA are passed on; a client CA makes client certificates required."""
    for name in ("cert.pem", "key.pem", "ca.pem"):
        (tmp_path / name).write_text("PEM", encoding="utf-8")
    path = write(
        tmp_path,
        f"api:\n  host: 0.0.0.0\n  port: 9443\n  tls:\n    cert_file: {tmp_path}/cert.pem\n"
        f"    key_file: {tmp_path}/key.pem\n    client_ca_file: {tmp_path}/ca.pem\n",
    )
    options = uvicorn_options(load_settings(path).api)
    assert options == {
        "host": "0.0.0.0",  # noqa: S104 - the point of the test
        "port": 9443,
        "ssl_certfile": f"{tmp_path}/cert.pem",
        "ssl_keyfile": f"{tmp_path}/key.pem",
        "ssl_ca_certs": f"{tmp_path}/ca.pem",
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
    }


@pytest.mark.parametrize(
    ("text", "key", "why"),
    [
        ("api:\n  port: 70000\n", "api.port", "less than or equal to 65535"),
        ("api:\n  tls:\n    cert_file: /nonexistent/cert.pem\n", "api.tls.cert_file", "no such file"),
        ("api:\n  host: 10.0.0.5\n", "api", "api.tls.cert_file"),
        ("api:\n  token_days: 500\n", "api", "token_max_days"),
        ("api:\n  tsl: {}\n", "api.tsl", "Extra inputs are not permitted"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, why: str) -> None:
    """A bad port, a missing file, clear text off loopback, a default above the maximum, a typo: each named."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert f"{path}: {key}:" in message
    assert why in message


def test_key_without_cert_is_refused(tmp_path: Path) -> None:
    """cert_file and key_file go together."""
    (tmp_path / "key.pem").write_text("PEM", encoding="utf-8")
    path = write(tmp_path, f"api:\n  tls:\n    key_file: {tmp_path}/key.pem\n")
    with pytest.raises(ConfigError, match=r"api\.tls: .*cert_file and key_file go together"):
        load_settings(path)
