"""How every client connects to Kafka: the brokers, the security protocol, SASL and TLS
(PINTEREST_KAFKA_*), as kafka-python's keyword arguments and as the `kafka.` options of Spark's
Kafka source; and what a failed connection means, in words (the API's health check, `make status`).

The password never leaves this object except in `client_config()` and `spark_options()`: its
repr hides it, and `describe()` and `diagnose()` name the user, never the password.
"""

from __future__ import annotations

import socket
import ssl
import struct
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
PROBE_TIMEOUT_S = 5.0
AUTHENTICATION_FAILED = "authentication failed"
# Kafka's protocol, as much as one SASL authentication needs (header v1, non-flexible versions).
SASL_HANDSHAKE, SASL_AUTHENTICATE = (17, 1), (36, 1)  # (api key, version)


def _jaas_value(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap_servers: str  # comma-separated host:port
    security_protocol: str = "PLAINTEXT"  # one of PROTOCOLS
    sasl_mechanism: str = "SCRAM-SHA-512"  # one of JAAS_LOGIN_MODULES; used by the SASL_* protocols
    sasl_username: str = ""
    sasl_password: str = field(default="", repr=False)
    ssl_cafile: str = ""  # PEM file of the CAs to trust; empty: the system's

    def __post_init__(self) -> None:
        if self.security_protocol not in PROTOCOLS:
            raise ValueError(
                f"PINTEREST_KAFKA_SECURITY_PROTOCOL={self.security_protocol!r}: one of {', '.join(PROTOCOLS)}"
            )
        if self.uses_sasl and self.sasl_mechanism not in JAAS_LOGIN_MODULES:
            raise ValueError(
                f"PINTEREST_KAFKA_SASL_MECHANISM={self.sasl_mechanism!r}: one of {', '.join(JAAS_LOGIN_MODULES)}"
            )

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def client_config(self) -> dict[str, Any]:
        """kafka-python's keyword arguments (KafkaProducer, KafkaConsumer, KafkaAdminClient)."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.uses_tls:
            config.update(ssl_check_hostname=True, ssl_cafile=self.ssl_cafile or None)
        if self.uses_sasl:
            config.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        return config

    def spark_options(self) -> dict[str, str]:
        """The `kafka.`-prefixed options of Spark's Kafka source (the Java client's settings)."""
        options = {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            "kafka.security.protocol": self.security_protocol,
        }
        if self.uses_tls and self.ssl_cafile:
            options.update({"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": self.ssl_cafile})
        if self.uses_sasl:
            module = JAAS_LOGIN_MODULES[self.sasl_mechanism]
            options.update(
                {
                    "kafka.sasl.mechanism": self.sasl_mechanism,
                    "kafka.sasl.jaas.config": f"{module} required username={_jaas_value(self.sasl_username)} "
                    f"password={_jaas_value(self.sasl_password)};",
                }
            )
        return options

    def describe(self) -> str:
        """How clients connect, without the password: e.g. `SASL_SSL (SCRAM-SHA-512 as user pinterest)`."""
        if self.uses_sasl:
            return f"{self.security_protocol} ({self.sasl_mechanism} as user {self.sasl_username})"
        return self.security_protocol

    def redact(self, text: str) -> str:
        """`text` with the password masked."""
        return text.replace(self.sasl_password, "***") if self.sasl_password else text

    def diagnose(self, error: BaseException) -> str:
        """What a failed connection attempt means, e.g. `Kafka authentication failed (SASL
        SCRAM-SHA-512 as user pinterest)` or `Kafka at ... requires TLS`, rather than a timeout."""
        from kafka.errors import SaslAuthenticationFailedError

        where = f"Kafka at {self.bootstrap_servers}"
        host, port = self.bootstrap_servers.split(",")[0].strip().rsplit(":", 1)
        speaks_tls = _speaks_tls(host, int(port))
        if speaks_tls and not self.uses_tls:
            return f"{where} requires TLS (PINTEREST_KAFKA_SECURITY_PROTOCOL is {self.security_protocol})"
        if speaks_tls is False and self.uses_tls:
            return f"{where} does not speak TLS (PINTEREST_KAFKA_SECURITY_PROTOCOL is {self.security_protocol})"
        causes = _causes(error)
        sasl_answer = None
        if speaks_tls is not None and self.uses_sasl:
            try:  # kafka-python's bootstrap hides the broker's answer behind a timeout: ask again
                sasl_answer = self._sasl_answer(host, int(port))
            except ssl.SSLCertVerificationError as exc:
                causes.append(exc)
        if sasl_answer or any(isinstance(cause, SaslAuthenticationFailedError) for cause in causes):
            return f"Kafka authentication failed (SASL {self.sasl_mechanism} as user {self.sasl_username})" + (
                "" if sasl_answer in (None, AUTHENTICATION_FAILED) else f": {self.redact(sasl_answer)}"
            )
        untrusted = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
        if untrusted is not None:
            trusted = self.ssl_cafile or "the system's CAs"
            return f"{where}: its TLS certificate is not trusted by {trusted} ({untrusted.verify_message})"
        return self.redact(f"{where} is not reachable as {self.describe()}: {type(error).__name__}: {error}")

    def _sasl_answer(self, host: str, port: int) -> str | None:
        """Why the broker at host:port refuses this user and password (AUTHENTICATION_FAILED, or
        that it does not offer the mechanism); None when it accepts them or does not answer.

        One SASL handshake and authentication by hand: kafka-python's connection drops a broker's
        refusal that arrives together with the connection's close, and its bootstrap then reports
        a timeout only."""
        from kafka.net.sasl.scram import ScramClient

        try:
            sock = socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S)
        except OSError:
            return None
        try:
            if self.uses_tls:
                context = ssl.create_default_context(cafile=self.ssl_cafile or None)
                sock = context.wrap_socket(sock, server_hostname=host)
            error, body = _call(sock, SASL_HANDSHAKE, _string(self.sasl_mechanism))
            if error:
                return f"the broker does not offer {self.sasl_mechanism}"
            if self.sasl_mechanism == "PLAIN":
                error, _ = _call(sock, SASL_AUTHENTICATE, _bytes(_plain_token(self.sasl_username, self.sasl_password)))
                return AUTHENTICATION_FAILED if error else None
            scram = ScramClient(self.sasl_username, self.sasl_password, self.sasl_mechanism)
            error, body = _call(sock, SASL_AUTHENTICATE, _bytes(scram.first_message()))
            if error:
                return AUTHENTICATION_FAILED
            scram.process_server_first_message(_authenticate_bytes(body))
            error, _ = _call(sock, SASL_AUTHENTICATE, _bytes(scram.final_message()))
            return AUTHENTICATION_FAILED if error else None
        except ssl.SSLCertVerificationError:
            raise
        except (OSError, ValueError, struct.error):
            return None
        finally:
            sock.close()


def _string(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">h", len(data)) + data


def _bytes(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _plain_token(user: str, password: str) -> bytes:
    return b"\0" + user.encode() + b"\0" + password.encode()


def _call(sock: socket.socket, api: tuple[int, int], body: bytes) -> tuple[int, bytes]:
    """Send one request, read its response: (error code, the rest of the response body)."""
    header = struct.pack(">hhi", *api, 1) + _string("pinterest-diagnosis")
    request = header + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    (size,) = struct.unpack(">i", _read(sock, 4))
    response = _read(sock, size)
    (error,) = struct.unpack(">h", response[4:6])  # after the correlation id
    return error, response[6:]


def _authenticate_bytes(body: bytes) -> bytes:
    """auth_bytes of a SaslAuthenticate v1 response body (after its error code)."""
    (message_length,) = struct.unpack(">h", body[:2])
    offset = 2 + max(message_length, 0)
    (length,) = struct.unpack(">i", body[offset : offset + 4])
    return body[offset + 4 : offset + 4 + length]


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the broker")
        data += chunk
    return data


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _speaks_tls(host: str, port: int) -> bool | None:
    """Whether the server at host:port completes a TLS handshake; None when it cannot be reached."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        sock = socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S)
    except OSError:
        return None
    try:
        with context.wrap_socket(sock, server_hostname=host):
            return True
    except OSError:  # ssl.SSLError included: a plaintext server answers a ClientHello with garbage or a close
        return False
    finally:
        sock.close()
