"""The Kafka, PostgreSQL and Spark driver settings of issue 21, without services: what each client
is given, and that no password shows in a repr, a description or a diagnosis."""

from __future__ import annotations

import socket
import ssl
import struct
import threading

import dagster as dg
import pytest
from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError

from pinterest_assets.instance import instance_environment
from pinterest_assets.resources import KAFKA_SASL_PASSWORD, build_resources
from pinterest_common.config import LOCAL_SECRETS, Settings
from pinterest_common.kafka_security import KafkaConnection
from pinterest_common.spark import spark_conf

PASSWORD = 'p"ss\\word-42'


def settings_with(tmp_path, **overrides: str) -> Settings:
    return Settings.from_env({"PINTEREST_HOME": str(tmp_path), **{n: "x" for n in LOCAL_SECRETS}, **overrides})


def scram(**overrides: str) -> KafkaConnection:
    fields = {"bootstrap_servers": "127.0.0.1:9", "security_protocol": "SASL_SSL", "sasl_username": "alice"}
    return KafkaConnection(**{**fields, "sasl_password": PASSWORD, **overrides})


def test_plaintext_is_the_default_and_adds_nothing(tmp_path):
    kafka = settings_with(tmp_path).kafka
    assert kafka.client_config() == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    assert kafka.spark_options() == {
        "kafka.bootstrap.servers": "127.0.0.1:9092",
        "kafka.security.protocol": "PLAINTEXT",
    }


def test_sasl_ssl_settings_reach_kafka_python_and_spark(tmp_path):
    settings = settings_with(
        tmp_path,
        PINTEREST_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        PINTEREST_KAFKA_SASL_USERNAME="alice",
        PINTEREST_KAFKA_SASL_PASSWORD=PASSWORD,
        PINTEREST_KAFKA_SSL_CAFILE="/etc/ca.pem",
    )
    assert settings.kafka.client_config() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "SASL_SSL",
        "ssl_check_hostname": True,
        "ssl_cafile": "/etc/ca.pem",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "alice",
        "sasl_plain_password": PASSWORD,
    }
    options = settings.kafka.spark_options()
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.ssl.truststore.type"] == "PEM"
    assert options["kafka.ssl.truststore.location"] == "/etc/ca.pem"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="alice" password="p\\"ss\\\\word-42";'
    )


def test_confluent_style_plain_uses_the_plain_login_module_and_the_system_cas():
    options = scram(sasl_mechanism="PLAIN").spark_options()
    assert options["kafka.sasl.jaas.config"].startswith("org.apache.kafka.common.security.plain.PlainLoginModule ")
    assert "kafka.ssl.truststore.location" not in options
    assert scram(sasl_mechanism="PLAIN").client_config()["ssl_cafile"] is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("PINTEREST_KAFKA_SECURITY_PROTOCOL", "TLS"), ("PINTEREST_KAFKA_SASL_MECHANISM", "GSSAPI")],
)
def test_an_unknown_protocol_or_mechanism_is_refused_by_name(tmp_path, name, value):
    settings = settings_with(tmp_path, **{"PINTEREST_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", name: value})
    with pytest.raises(ValueError, match=name):
        _ = settings.kafka


def test_no_password_in_reprs_descriptions_or_diagnoses(tmp_path):
    settings = settings_with(
        tmp_path,
        PINTEREST_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        PINTEREST_KAFKA_SASL_PASSWORD=PASSWORD,
        PINTEREST_PG_PASSWORD="pg-" + PASSWORD,
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in repr(settings.kafka)
    assert settings.kafka.describe() == "SASL_SSL (SCRAM-SHA-512 as user pinterest)"
    diagnosis = settings.kafka.diagnose(KafkaConnectionError(f"tried with {PASSWORD}"))
    assert PASSWORD not in diagnosis and "***" in diagnosis


def test_an_authentication_failure_names_the_mechanism_and_the_user():
    error = SaslAuthenticationFailedError("Authentication failed during authentication due to invalid credentials")
    assert scram().diagnose(error) == "Kafka authentication failed (SASL SCRAM-SHA-512 as user alice)"


def test_a_certificate_not_trusted_is_said_so():
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "unable to get local issuer certificate"
    wrapped = OSError("connect failed")
    wrapped.__cause__ = error
    assert scram(ssl_cafile="/ca.pem").diagnose(wrapped) == (
        "Kafka at 127.0.0.1:9: its TLS certificate is not trusted by /ca.pem (unable to get local issuer certificate)"
    )


def test_a_tls_client_of_a_plaintext_server_is_told_it_does_not_speak_tls():
    """A server that reads the ClientHello and hangs up, as a PLAINTEXT Kafka listener does."""
    server = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)

    threading.Thread(target=hang_up, daemon=True).start()
    try:
        tls = KafkaConnection(f"127.0.0.1:{server.getsockname()[1]}", "SASL_SSL", sasl_username="alice")
        diagnosis = tls.diagnose(KafkaConnectionError("connection closed"))
    finally:
        server.close()
    assert diagnosis.endswith("does not speak TLS (PINTEREST_KAFKA_SECURITY_PROTOCOL is SASL_SSL)")


def test_a_server_not_listening_is_not_reachable():
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
    diagnosis = scram(bootstrap_servers=f"127.0.0.1:{port}").diagnose(KafkaConnectionError("refused"))
    assert diagnosis.startswith(f"Kafka at 127.0.0.1:{port} is not reachable as SASL_SSL (SCRAM-SHA-512 as user alice)")


def test_postgres_tls_settings_reach_libpq_and_dagster(tmp_path):
    settings = settings_with(tmp_path, PINTEREST_PG_SSLMODE="verify-full", PINTEREST_PG_SSLROOTCERT="/etc/pg-ca.pem")
    dsn = settings.pg_dsn("dagster")
    assert "sslmode=verify-full" in dsn and "sslrootcert=/etc/pg-ca.pem" in dsn
    environment = instance_environment(settings)
    assert (environment["PGSSLMODE"], environment["PGSSLROOTCERT"]) == ("verify-full", "/etc/pg-ca.pem")
    postgres = build_resources(settings)["postgres"]
    assert (postgres.sslmode, postgres.sslrootcert) == ("verify-full", "/etc/pg-ca.pem")


def test_the_kafka_resource_names_the_password_by_its_variable(tmp_path):
    settings = settings_with(tmp_path, PINTEREST_KAFKA_SECURITY_PROTOCOL="SASL_SSL")
    kafka = build_resources(settings)["kafka"]
    assert (kafka.security_protocol, kafka.sasl_username) == ("SASL_SSL", "pinterest")
    assert PASSWORD not in repr(kafka)
    assert isinstance(kafka.sasl_password, dg.EnvVar) and kafka.sasl_password.env_var_name == KAFKA_SASL_PASSWORD


def test_the_spark_driver_follows_the_settings(tmp_path):
    settings = settings_with(
        tmp_path, PINTEREST_SPARK_DRIVER_HOST="10.0.0.5", PINTEREST_SPARK_DRIVER_BIND_ADDRESS="0.0.0.0"
    )
    conf = spark_conf(settings, "app")
    assert (conf["spark.driver.host"], conf["spark.driver.bindAddress"]) == ("10.0.0.5", "0.0.0.0")
    assert spark_conf(settings_with(tmp_path), "app")["spark.driver.host"] == "127.0.0.1"


def test_a_mechanism_the_broker_does_not_offer_is_named():
    """A broker (plaintext, SASL_PLAINTEXT) that answers the SASL handshake with error 33,
    UNSUPPORTED_SASL_MECHANISM: the diagnosis asks it itself and says so."""
    server = socket.create_server(("127.0.0.1", 0))

    def refuse_the_mechanism() -> None:
        tls_probe, _ = server.accept()
        with tls_probe:  # a plaintext broker hangs up on a TLS ClientHello
            tls_probe.recv(4096)
        conn, _ = server.accept()
        with conn:
            (size,) = struct.unpack(">i", conn.recv(4))
            request = conn.recv(size)
            assert struct.unpack(">hh", request[:4]) == (17, 1)  # SaslHandshake v1
            response = request[4:8] + struct.pack(">hi", 33, 0)  # correlation id, error, no mechanisms
            conn.sendall(struct.pack(">i", len(response)) + response)

    threading.Thread(target=refuse_the_mechanism, daemon=True).start()
    try:
        kafka = KafkaConnection(f"127.0.0.1:{server.getsockname()[1]}", "SASL_PLAINTEXT", "PLAIN", "alice", PASSWORD)
        diagnosis = kafka.diagnose(KafkaConnectionError("timed out"))
    finally:
        server.close()
    assert diagnosis == "Kafka authentication failed (SASL PLAIN as user alice): the broker does not offer PLAIN"
