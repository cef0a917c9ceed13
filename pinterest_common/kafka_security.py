"""How every client connects to Kafka: the brokers, the security protocol, SASL and TLS
(PINTEREST_KAFKA_*), as kafka-python's keyword arguments and as the `kafka.` options of Spark's
Kafka source; and what a failed connection means, in words (the API's health check, `make status`).

The password never leaves this object except in `client_config()` and `spark_options()`: its
repr hides it, and `describe()` and `diagnose()` name the user, never the password.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
JAAS_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
PROBE_TIMEOUT_S = 3.0
PROBE_DEADLINE_S = 15.0  # bootstrap attempts until one fails for a reason that explains it


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
        deadline = time.monotonic() + PROBE_DEADLINE_S
        while speaks_tls is not None and time.monotonic() < deadline and not _explained(causes):
            failures = self._bootstrap_failures()  # a bootstrap timeout hides its causes
            if not failures:
                break  # connected this time
            causes += failures
        if any(isinstance(cause, SaslAuthenticationFailedError) for cause in causes):
            return f"Kafka authentication failed (SASL {self.sasl_mechanism} as user {self.sasl_username})"
        untrusted = next((c for c in causes if isinstance(c, ssl.SSLCertVerificationError)), None)
        if untrusted is not None:
            trusted = self.ssl_cafile or "the system's CAs"
            return f"{where}: its TLS certificate is not trusted by {trusted} ({untrusted.verify_message})"
        return self.redact(f"{where} is not reachable as {self.describe()}: {type(error).__name__}: {error}")

    def _bootstrap_failures(self) -> list[BaseException]:
        """The errors of one bootstrap attempt: kafka-python logs each failed connection (an
        authentication failure, an untrusted certificate) and raises only a timeout in the end.
        (It may also drop a broker's refusal that arrives with the connection's close: then the
        attempt shows a disconnection only, and the next one tells.)"""
        from kafka import KafkaAdminClient

        failures: list[BaseException] = []
        handler = _KeepErrors(failures)
        logger = logging.getLogger("kafka.net.manager")
        logger.addHandler(handler)
        timeout_ms = int(PROBE_TIMEOUT_S * 1000)
        try:
            KafkaAdminClient(
                **self.client_config(),
                request_timeout_ms=timeout_ms,
                # kafka-python 3's option, missing from typeshed's stubs of kafka-python (2.3)
                bootstrap_timeout_ms=timeout_ms,  # pyright: ignore[reportCallIssue]
            ).close()
        except Exception:  # noqa: BLE001 - the failure wanted is the one logged
            pass
        finally:
            logger.removeHandler(handler)
        return [cause for failure in failures for cause in _causes(failure)]


class _KeepErrors(logging.Handler):
    """Keeps the exceptions that log records carry as arguments."""

    def __init__(self, into: list[BaseException]):
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.into.extend(arg for arg in args if isinstance(arg, BaseException))


def _explained(causes: list[BaseException]) -> bool:
    from kafka.errors import SaslAuthenticationFailedError

    return any(isinstance(cause, SaslAuthenticationFailedError | ssl.SSLCertVerificationError) for cause in causes)


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
