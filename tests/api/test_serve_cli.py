"""Acceptance 2: ``facewarden serve`` is closed by default.

* any address but 127.0.0.1 without TLS: exit code 2 and a message naming
  FACEWARDEN_TLS_CERT and FACEWARDEN_TLS_KEY (tested with 0.0.0.0, which is
  refused before anything binds, and with the loopback address 127.0.0.2);
* with TLS but no admin yet: exit code 2;
* with a certificate, its key and an admin: HTTPS on 127.0.0.2 (loopback
  only), with HSTS;
* the first start on 127.0.0.1 creates the admin and prints the password and
  an API key once; both work; the second start prints neither.

The server runs as a real subprocess (``python -m facewarden.cli serve``).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from facewarden.config import Settings
from facewarden.service.warden import Warden

OTHER_LOOPBACK = "127.0.0.2"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}


def _facewarden(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "facewarden.cli", *map(str, args)]


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _facewarden(*args), capture_output=True, text=True, env=_env(), timeout=120, check=False
    )


def _certificate(folder: Path, host: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "facewarden test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _wait_for(url: str, process: subprocess.Popen[str], **client: object) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}")
        try:
            return httpx.get(url, timeout=2, **client)  # type: ignore[arg-type]
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer")


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.terminate()
    out, err = process.communicate(timeout=30)
    return out, err


@pytest.mark.parametrize("host", ["0.0.0.0", OTHER_LOOPBACK, "::"])
def test_other_addresses_need_tls(tmp_path: Path, host: str) -> None:
    result = _run("serve", "--host", host, "--data-dir", tmp_path / "data")
    assert result.returncode == 2
    assert "FACEWARDEN_TLS_CERT" in result.stderr and "FACEWARDEN_TLS_KEY" in result.stderr
    assert "admin" in result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_tls_without_an_admin_is_refused(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, OTHER_LOOPBACK)
    result = _run(
        "serve", "--init", "--host", OTHER_LOOPBACK, "--tls-cert", cert, "--tls-key", key,
        "--data-dir", tmp_path / "data",
    )  # fmt: skip
    assert result.returncode == 2
    assert "no admin exists" in result.stderr


def test_a_readable_tls_key_is_refused(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, OTHER_LOOPBACK)
    key.chmod(0o644)
    result = _run(
        "serve", "--host", OTHER_LOOPBACK, "--tls-cert", cert, "--tls-key", key,
        "--data-dir", tmp_path / "data",
    )  # fmt: skip
    assert result.returncode == 2 and "chmod 600" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", OTHER_LOOPBACK])
@pytest.mark.parametrize("problem", ["not-a-certificate", "another-key", "readable-key"])
def test_tls_files_that_cannot_serve_are_refused_before_starting(
    tmp_path: Path, host: str, problem: str
) -> None:
    # Found by hand: a certificate or key that does not load ended `serve` with
    # an ssl.SSLError traceback from uvicorn; and on 127.0.0.1 a key readable by
    # others was served with, since the files were only checked for other hosts.
    cert, key = _certificate(tmp_path, host)
    if problem == "not-a-certificate":
        cert.write_text("this is not a PEM certificate\n")
    elif problem == "another-key":
        other = tmp_path / "other"
        other.mkdir()
        _, key = _certificate(other, host)
    else:
        key.chmod(0o644)
    result = _run(
        "serve", "--init", "--host", host, "--port", str(_free_port(host)),
        "--tls-cert", cert, "--tls-key", key, "--data-dir", tmp_path / "data",
    )  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    expected = "chmod 600" if problem == "readable-key" else "cannot be used"
    assert expected in result.stderr, result.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was created


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # Found by hand: the deployment was opened, "facewarden is serving on ..."
    # printed, and then uvicorn failed to bind and exited with its own code 3.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run("serve", "--init", "--port", str(port), "--data-dir", tmp_path / "data")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"127.0.0.1:{port} is in use" in result.stderr and "--port" in result.stderr
    assert "is serving" not in result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_tls_and_an_admin_serve_https_on_another_address(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, OTHER_LOOPBACK)
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    with Warden.open(settings, create=True, actor="test:setup") as warden:
        boot = warden.access.bootstrap()
    assert boot is not None
    port = _free_port(OTHER_LOOPBACK)
    process = subprocess.Popen(
        _facewarden(
            "serve", "--host", OTHER_LOOPBACK, "--port", str(port), "--tls-cert", cert,
            "--tls-key", key, "--data-dir", settings.data_dir, "--key-dir", settings.key_dir,
        ),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
    )  # fmt: skip
    try:
        base = f"https://{OTHER_LOOPBACK}:{port}"
        trust = ssl.create_default_context(cafile=str(cert))
        health = _wait_for(f"{base}/health", process, verify=trust)
        assert health.json() == {"status": "ok"}
        assert health.headers["strict-transport-security"].startswith("max-age=")
        assert "server" not in health.headers  # no product banner
        with httpx.Client(base_url=base, verify=trust) as client:
            assert client.get("/v1/subjects").status_code == 401
            me = client.get("/v1/auth/me", headers={"X-API-Key": boot.api_key})
            assert me.json()["user"]["role"] == "admin"
            login = client.post(
                "/v1/auth/login", json={"username": boot.username, "password": boot.password}
            )
            cookie = login.headers["set-cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://{OTHER_LOOPBACK}:{port}/health", timeout=5)
    finally:
        out, _ = _stop(process)
    assert "https://" in out and "password" not in out  # the admin existed: nothing printed


def test_first_start_prints_the_admin_credential_once(tmp_path: Path) -> None:
    port = _free_port("127.0.0.1")
    args = ("serve", "--init", "--port", str(port), "--data-dir", tmp_path / "data")
    first = subprocess.Popen(
        _facewarden(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", first)
    finally:
        out, _ = _stop(first)
    password = re.search(r"password: (\S+)", out)
    api_key = re.search(r"API key:\s+(fwk_\S+)", out)
    assert password and api_key and f"http://127.0.0.1:{port}/" in out

    second = subprocess.Popen(
        _facewarden(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env()
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for(f"{base}/health", second)
        with httpx.Client(base_url=base) as client:
            me = client.get("/v1/auth/me", headers={"X-API-Key": api_key.group(1)})
            assert me.json()["user"]["role"] == "admin"
            login = client.post(
                "/v1/auth/login", json={"username": "admin", "password": password.group(1)}
            )
            assert login.status_code == 200 and "Secure" not in login.headers["set-cookie"]
    finally:
        out, _ = _stop(second)
    assert "password" not in out and "fwk_" not in out


def test_ctrl_c_ends_the_server_quietly(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) ends with exit 0, no noise."""
    port = _free_port("127.0.0.1")
    args = ("serve", "--init", "--port", str(port), "--data-dir", tmp_path / "data")
    process = subprocess.Popen(
        _facewarden(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        start_new_session=True,
    )
    try:
        _wait_for(f"http://127.0.0.1:{port}/health", process)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Aborted!" not in out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
