"""A real ACME CA for tests: Debian's pebble, resolving names through pebble-challtestsrv."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.harness.ports import free_port

PEBBLE = "/usr/bin/pebble"
CHALLTESTSRV = "/usr/bin/pebble-challtestsrv"
# Debian package that ships both binaries (the Makefile's DEBIAN_TEST_PACKAGES).
DEBIAN_PACKAGE = "pebble"
_LOG_TAIL = 6000


def available() -> bool:
    """Whether both binaries are installed."""
    return os.access(PEBBLE, os.X_OK) and os.access(CHALLTESTSRV, os.X_OK)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_listener_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a localhost/127.0.0.1 certificate it signed: (ca, cert, key) paths.

    Debian's pebble ships none of upstream's test certificates, and pebble serves ACME over
    HTTPS only.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wharf test pebble listener CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "listener-ca.pem", folder / "listener-cert.pem", folder / "listener-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(_pem_key(key))
    return paths


@dataclass
class Pebble:
    """A running pebble and challtestsrv; pebble resolves every name through challtestsrv."""

    directory_url: str  # the ACME directory
    ca_bundle: Path  # trust root for pebble's HTTPS listener (not for issued certificates)
    http_port: int  # where pebble's validator sends HTTP-01 requests
    management_url: str  # pebble's management API (HTTPS)
    challtestsrv_url: str  # challtestsrv's management API (plain HTTP)
    dns_port: int  # challtestsrv's DNS server on 127.0.0.1 (UDP and TCP), pebble's resolver
    folder: Path
    _processes: tuple[subprocess.Popen[bytes], ...] = ()
    _log_files: tuple[IO[bytes], ...] = ()

    def _ssl(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def _challtestsrv(self, path: str, body: dict[str, Any]) -> None:
        """POST one JSON command to challtestsrv's management API."""
        request = urllib.request.Request(  # noqa: S310 (a loopback http URL built here)
            self.challtestsrv_url + path, data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            assert response.status == 200, (path, response.status)

    def add_a(self, host: str, address: str = "127.0.0.1") -> None:
        """Answer A queries for host with address."""
        self._challtestsrv("/add-a", {"host": _fqdn(host), "addresses": [address]})

    def set_txt(self, host: str, value: str) -> None:
        """Add a TXT value at host (challtestsrv keeps earlier values too)."""
        self._challtestsrv("/set-txt", {"host": _fqdn(host), "value": value})

    def clear_txt(self, host: str) -> None:
        """Drop every TXT value at host."""
        self._challtestsrv("/clear-txt", {"host": _fqdn(host)})

    def root_pem(self) -> str:
        """The root certificate pebble signs issued chains with (it changes every start)."""
        with urllib.request.urlopen(  # noqa: S310 (an https URL built here)
            self.management_url + "/roots/0", timeout=5, context=self._ssl()
        ) as response:
            text: str = response.read().decode()
            return text

    def logs(self) -> str:
        """The tail of both processes' output, for a failing test's report."""
        parts = []
        for name in ("pebble", "challtestsrv"):
            path = self.folder / f"{name}.log"
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"--- {name} log (tail) ---\n{text[-_LOG_TAIL:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop both processes and wait for them."""
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for handle in self._log_files:
            handle.close()


def _fqdn(host: str) -> str:
    return host if host.endswith(".") else host + "."


def _wait_until(
    what: str, check: Callable[[], None], processes: list[subprocess.Popen[bytes]]
) -> None:
    """Call check() until it returns without an OSError, for up to 15 s."""
    deadline = time.monotonic() + 15
    while True:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            check()
            return
        except OSError:  # urllib's URLError and ssl's errors are OSErrors too
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within 15 s") from None
            time.sleep(0.05)


@contextlib.contextmanager
def running_pebble(
    http_port: int, *, tls_port: int | None = None, authz_reuse: int = 0
) -> Iterator[Pebble]:
    """Start challtestsrv and pebble in a temp dir; stop both and delete the dir afterwards.

    `http_port` is the port pebble's validator connects to for HTTP-01 (the test's responder),
    `tls_port` the one for TLS-ALPN-01;
    `authz_reuse` is the percentage of orders that reuse an account's valid authorizations.
    """
    folder = Path(tempfile.mkdtemp(prefix="wharf-pebble-"))
    ca, cert, key = write_listener_certificates(folder)
    acme_port, management_port = free_port(), free_port()
    dns_port, challtest_port = free_port(), free_port()
    (folder / "pebble.json").write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme_port}",
                    "managementListenAddress": f"127.0.0.1:{management_port}",
                    "certificate": str(cert),
                    "privateKey": str(key),
                    "httpPort": http_port,
                    "tlsPort": tls_port or free_port(),
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PEBBLE_VA_NOSLEEP": "1",
        "PEBBLE_VA_ALWAYS_VALID": "0",
        "PEBBLE_WFE_NONCEREJECT": "0",
        "PEBBLE_AUTHZREUSE": str(authz_reuse),
    }
    pebble = Pebble(
        directory_url=f"https://127.0.0.1:{acme_port}/dir",
        ca_bundle=ca,
        http_port=http_port,
        management_url=f"https://127.0.0.1:{management_port}",
        challtestsrv_url=f"http://127.0.0.1:{challtest_port}",
        dns_port=dns_port,
        folder=folder,
    )
    processes: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    try:
        for name, argv in (
            (
                "challtestsrv",
                [
                    CHALLTESTSRV,
                    "-management", f"127.0.0.1:{challtest_port}",
                    "-dns01", f"127.0.0.1:{dns_port}",
                    "-http01", "", "-https01", "", "-tlsalpn01", "",
                    # No AAAA answers: the validator would otherwise try ::1 first.
                    "-defaultIPv6", "",
                ],
            ),
            (
                "pebble",
                [
                    PEBBLE,
                    "-config", str(folder / "pebble.json"),
                    "-dnsserver", f"127.0.0.1:{dns_port}",
                ],
            ),
        ):  # fmt: skip
            log = (folder / f"{name}.log").open("wb")
            logs.append(log)
            processes.append(
                subprocess.Popen(
                    argv,
                    cwd=folder,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        pebble._processes, pebble._log_files = tuple(processes), tuple(logs)

        def pebble_answers() -> None:
            with urllib.request.urlopen(  # noqa: S310 (an https URL built here)
                pebble.directory_url, timeout=2, context=pebble._ssl()
            ) as response:
                json.load(response)

        _wait_until("challtestsrv", lambda: pebble.clear_txt("ready.test"), processes)
        _wait_until("pebble", pebble_answers, processes)
        yield pebble
    finally:
        pebble._processes, pebble._log_files = tuple(processes), tuple(logs)
        pebble.stop()
        shutil.rmtree(folder, ignore_errors=True)
