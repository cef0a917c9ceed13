"""The local stack's TLS material: a CA of its own and one server certificate (for 127.0.0.1 and
localhost) signed by it, for Kafka's SASL_SSL listener and PostgreSQL's `ssl=on`. Made once per
state directory with the `openssl` command; the keys are mode 0600.

    <state>/tls/ca.pem       the CA certificate: PINTEREST_KAFKA_SSL_CAFILE, PINTEREST_PG_SSLROOTCERT
    <state>/tls/server.pem   the server certificate
    <state>/tls/server.key   its key (PKCS#8, unencrypted)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .jars import SetupError, require_tool

DAYS = 825
SERVER_NAMES = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"


@dataclass(frozen=True)
class LocalTls:
    dir: Path

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def certificate(self) -> Path:
        return self.dir / "server.pem"

    @property
    def key(self) -> Path:
        return self.dir / "server.key"

    def ensure(self) -> LocalTls:
        """Create the CA and the server certificate unless they exist."""
        if self.ca.exists() and self.certificate.exists() and self.key.exists():
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        ca_key = self.dir / "ca.key"
        openssl = require_tool("openssl", "Install OpenSSL (Debian: apt-get install openssl).")
        with tempfile.TemporaryDirectory(dir=self.dir) as work:
            csr, names = Path(work) / "server.csr", Path(work) / "names.ext"
            names.write_text(SERVER_NAMES)
            old_umask = os.umask(0o077)  # keys are written 0600
            try:
                _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(DAYS),
                     "-subj", "/CN=pinterest local stack CA", "-keyout", str(ca_key), "-out", str(self.ca))  # fmt: skip
                _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                     "-keyout", str(self.key), "-out", str(csr))  # fmt: skip
            finally:
                os.umask(old_umask)
            _run(openssl, "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-days", str(DAYS), "-extfile", str(names), "-out", str(self.certificate))  # fmt: skip
        self.ca.chmod(0o644)
        self.certificate.chmod(0o644)
        return self


def _run(*cmd: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SetupError(f"{' '.join(cmd[:3])} failed: {result.stderr.strip()[-1000:]}")


def local_tls(state_dir: Path) -> LocalTls:
    return LocalTls(state_dir / "tls")


def secure_environment(state_dir: Path) -> dict[str, str]:
    """The client settings of `make up KAFKA_SECURITY=sasl_ssl PG_TLS=on` for the stack in
    `state_dir`: Kafka over SASL_SSL with SCRAM-SHA-512, PostgreSQL verify-full, both trusting its CA."""
    ca = str(local_tls(state_dir).ca)
    return {
        "PINTEREST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PINTEREST_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PINTEREST_KAFKA_SSL_CAFILE": ca,
        "PINTEREST_PG_SSLMODE": "verify-full",
        "PINTEREST_PG_SSLROOTCERT": ca,
    }
