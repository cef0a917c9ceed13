"""The one configuration module: every component reads its settings from here.

Settings come from environment variables with defaults for the local stack (`make up`).
`.env.example` documents every variable; production deployments override them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from .kafka_security import KafkaConnection
from .schema import check_relaxable

REPO_ROOT = Path(__file__).resolve().parent.parent

# Local-stack defaults. Secrets have none: see LOCAL_SECRETS.
DEFAULTS: dict[str, str] = {
    "PINTEREST_HOME": str(REPO_ROOT / ".pinterest"),
    "PINTEREST_STACK_DIR": "${PINTEREST_HOME}/stack",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
    "PINTEREST_KAFKA_CONTROLLER_PORT": "9093",
    # How clients connect to Kafka (pinterest_common.kafka_security): PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL;
    # with SASL, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the CA file (PEM) to trust, empty for the system's.
    "PINTEREST_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
    "PINTEREST_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "PINTEREST_KAFKA_SASL_USERNAME": "pinterest",
    "PINTEREST_KAFKA_SASL_PASSWORD": "",
    "PINTEREST_KAFKA_SSL_CAFILE": "",
    "PINTEREST_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "PINTEREST_S3_BUCKET": "pinterest-data-lake",
    "PINTEREST_S3_REGION": "us-east-1",
    "PINTEREST_S3_ACCESS_KEY_ID": "pinterest",
    "PINTEREST_S3_SECRET_ACCESS_KEY": "",
    "PINTEREST_PG_HOST": "127.0.0.1",
    "PINTEREST_PG_PORT": "5432",
    "PINTEREST_PG_USER": "pinterest",
    "PINTEREST_PG_PASSWORD": "",
    # libpq's sslmode (disable, prefer, require, verify-ca, verify-full) and CA file, for every connection.
    "PINTEREST_PG_SSLMODE": "prefer",
    "PINTEREST_PG_SSLROOTCERT": "",
    # One role per component, least privilege (created by the local stack; see docs/SECURITY.md).
    "PINTEREST_PG_STREAMING_USER": "pinterest_streaming_writer",
    "PINTEREST_PG_STREAMING_PASSWORD": "",
    "PINTEREST_PG_API_USER": "pinterest_api_reader",
    "PINTEREST_PG_API_PASSWORD": "",
    "PINTEREST_PG_PUBLISHER_USER": "pinterest_analytics_publisher",
    "PINTEREST_PG_PUBLISHER_PASSWORD": "",
    "SPARK_MASTER": "local[2]",
    "PINTEREST_SPARK_DRIVER_MEMORY": "2g",
    # Where executors reach the driver, and the address it listens on (docs/DEPLOYMENT.md: remote Spark).
    "PINTEREST_SPARK_DRIVER_HOST": "127.0.0.1",
    "PINTEREST_SPARK_DRIVER_BIND_ADDRESS": "127.0.0.1",
    # Dagster and the batch lake (pinterest_assets). DAGSTER_HOME may refer to ${PINTEREST_HOME}.
    "DAGSTER_HOME": "${PINTEREST_HOME}/dagster",
    "PINTEREST_LAKE_MAX_RECORDS_PER_RUN": "250000",
    "PINTEREST_LAKE_MAX_RUNS_PER_TICK": "20",
    "PINTEREST_LAKE_ROLL_MAX_RECORDS": "10000",
    "PINTEREST_LAKE_ROLL_MAX_BYTES": str(32 * 1024 * 1024),
    "PINTEREST_LAKE_UPLOAD_THREADS": "2",
    "PINTEREST_LAKE_ROLL_MAX_SPAN_SECONDS": "3600",
    "PINTEREST_LAKE_SENSOR_INTERVAL_SECONDS": "30",
    "PINTEREST_LAKE_RUN_TIMEOUT_SECONDS": "900",
    "PINTEREST_BATCH_WORKERS": "2",
    # The ingestion API (ingestion_api) and its Kafka topics.
    "PINTEREST_API_PORT": "8000",
    "PINTEREST_API_KEYS": "",
    "PINTEREST_API_WORKERS": "2",
    "PINTEREST_API_THREADS": "16",
    "PINTEREST_API_BATCH_MAX_EVENTS": "500",
    "PINTEREST_API_MAX_BYTES": "524288",
    "PINTEREST_API_KAFKA_TIMEOUT_S": "5",
    "PINTEREST_API_KAFKA_LINGER_MS": "2",
    "PINTEREST_API_KAFKA_BATCH_BYTES": "131072",
    "PINTEREST_API_KAFKA_COMPRESSION": "none",
    "PINTEREST_API_READ_TIMEOUT_S": "10",
    "PINTEREST_TOPIC_PARTITIONS": "3",
    # The streaming job (streaming/): Kafka -> PostgreSQL, and its Dagster observation.
    "PINTEREST_STREAMING_DATABASE": "pinterest_streaming",
    "PINTEREST_STREAMING_CHECKPOINT": "${PINTEREST_HOME}/streaming/checkpoint",
    "PINTEREST_STREAMING_TRIGGER_SECONDS": "1",
    "PINTEREST_STREAMING_MAX_OFFSETS_PER_TRIGGER": "20000",
    "PINTEREST_STREAMING_FRESHNESS_SECONDS": "120",
    "PINTEREST_STREAMING_OBSERVE_INTERVAL_SECONDS": "30",
    # Data quality (pinterest_common.schema rules, pinterest_common.quarantine).
    "PINTEREST_RELAXED_RULES": "",
    "PINTEREST_QUARANTINE_WARN_SHARE": "0.05",
    # Where `make up` writes the variables a plain `dagster dev` loads (devstack/dotenv.py):
    # empty, the repository's `.env`; `none`, nowhere.
    "PINTEREST_DOTENV": "",
}

# Secrets without a default: set them, or let a local stack generate them (devstack/local_secrets.py, into
# $PINTEREST_HOME/secrets.env, mode 0600), which is read when the variable is unset. The repository
# holds no credential.
LOCAL_SECRETS = (
    "PINTEREST_S3_SECRET_ACCESS_KEY",
    "PINTEREST_PG_PASSWORD",
    "PINTEREST_PG_STREAMING_PASSWORD",
    "PINTEREST_PG_API_PASSWORD",
    "PINTEREST_PG_PUBLISHER_PASSWORD",
    "PINTEREST_KAFKA_SASL_PASSWORD",
)
LOCAL_SECRETS_FILE = "secrets.env"

# The PostgreSQL roles, by what they do (Settings.pg_login): the admin (PINTEREST_PG_USER) owns the
# databases and Dagster's storage; the others are the least-privileged roles of pinterest_common/pg_roles.py.
PG_ADMIN, PG_STREAMING, PG_API, PG_PUBLISHER = "admin", "streaming", "api", "publisher"

# The PostgreSQL databases the platform uses, created by `make up`.
STREAMING_DB = "pinterest_streaming"
ANALYTICS_DB = "pinterest_analytics"
DAGSTER_DB = "dagster"
DATABASES = (STREAMING_DB, ANALYTICS_DB, DAGSTER_DB)

# Maven coordinates Spark resolves through its own package mechanism (--packages).
# hadoop-aws must match the Hadoop client bundled with pyspark (see pinterest_common.spark_jars.hadoop_version).
SPARK_KAFKA_PACKAGE = "org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_version}"
HADOOP_AWS_PACKAGE = "org.apache.hadoop:hadoop-aws:{hadoop_version}"


def _dotenv_path(value: str) -> Path | None:
    if value.strip().lower() == "none":
        return None
    return Path(value).expanduser() if value.strip() else REPO_ROOT / ".env"


def _env(name: str, environ: dict[str, str] | None = None) -> str:
    source = os.environ if environ is None else environ
    value = source.get(name)
    if value is None and name in LOCAL_SECRETS:
        home = Path(source.get("PINTEREST_HOME") or DEFAULTS["PINTEREST_HOME"])
        return stored_secrets(home).get(name, "")
    return DEFAULTS[name] if value is None else value


def local_secrets_path(home: Path) -> Path:
    """Where a local stack keeps the secrets it generated (devstack/local_secrets.py writes it)."""
    return home.expanduser() / LOCAL_SECRETS_FILE


def stored_secrets(home: Path) -> dict[str, str]:
    """The secrets a local stack generated under `home` (none when it never ran there)."""
    path = local_secrets_path(home)
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {name: value for name, value in pairs}


def _dsn_value(value: str) -> str:
    """A libpq connection-string value, quoted when it needs to be."""
    if value and not any(c in value for c in " '\\\t\n"):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _under_home(value: str, home: str) -> Path:
    """A path setting that may start with ${PINTEREST_HOME} (or $PINTEREST_HOME)."""
    home_path = str(Path(home).expanduser().resolve())
    value = value.replace("${PINTEREST_HOME}", home_path).replace("$PINTEREST_HOME", home_path)
    return Path(value).expanduser().resolve()


def _location(value: str, home: str) -> str:
    """A URL (s3a://...) as it is, else a path under the rules of `_under_home`."""
    return value if "://" in value else str(_under_home(value, home))


def _optional(value: str) -> str | None:
    """An empty string means "not set" (e.g. no S3 endpoint: real AWS)."""
    return value or None


class MissingSecret(RuntimeError):
    """A password the settings need is neither set nor generated by a local stack."""


@dataclass(frozen=True)
class Settings:
    home: Path
    stack_dir: Path  # the local stack's data, logs and pid files (devstack)
    kafka_bootstrap_servers: str
    kafka_controller_port: int
    kafka_security_protocol: str
    kafka_sasl_mechanism: str
    kafka_sasl_username: str
    kafka_sasl_password: str = field(repr=False)
    kafka_ssl_cafile: str
    s3_endpoint_url: str | None
    s3_bucket: str
    s3_region: str
    s3_access_key_id: str | None
    s3_secret_access_key: str | None = field(repr=False)
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str = field(repr=False)
    pg_sslmode: str
    pg_sslrootcert: str
    pg_streaming_user: str
    pg_streaming_password: str = field(repr=False)
    pg_api_user: str
    pg_api_password: str = field(repr=False)
    pg_publisher_user: str
    pg_publisher_password: str = field(repr=False)
    spark_master: str
    spark_driver_memory: str
    spark_driver_host: str
    spark_driver_bind_address: str
    api_port: int
    api_keys: tuple[str, ...] = field(repr=False)
    api_workers: int
    api_threads: int
    api_batch_max_events: int
    api_max_bytes: int
    api_kafka_timeout_s: float
    api_kafka_linger_ms: int  # the producer batches records arriving within it: fewer, larger requests
    api_kafka_batch_bytes: int  # the producer's largest batch of records for one partition
    api_kafka_compression: str  # the producer's compression_type: none, gzip (lz4, zstd, snappy need their libraries)
    api_read_timeout_s: float  # a request's headers, then its body, must arrive within it
    topic_partitions: int
    dagster_home: Path
    lake_max_records_per_run: int
    lake_max_runs_per_tick: int
    lake_roll_max_records: int
    lake_roll_max_bytes: int
    lake_roll_max_span_seconds: int
    lake_upload_threads: int
    lake_sensor_interval_seconds: int
    lake_run_timeout_seconds: int
    batch_workers: int
    streaming_database: str
    streaming_checkpoint: str  # a local path or an s3a:// URL
    streaming_trigger_seconds: float
    streaming_max_offsets_per_trigger: int
    streaming_freshness_seconds: int
    streaming_observe_interval_seconds: int
    relaxed_rules: tuple[str, ...]  # CLEANING rules of the contract that no longer quarantine
    quarantine_warn_share: float  # the quarantine check warns above this share of raw records
    dotenv: Path | None  # where `make up` writes the .env plain `dagster dev` loads; None: nowhere

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        get = lambda name: _env(name, environ)  # noqa: E731
        return cls(
            home=Path(get("PINTEREST_HOME")).expanduser().resolve(),
            stack_dir=_under_home(get("PINTEREST_STACK_DIR"), get("PINTEREST_HOME")),
            kafka_bootstrap_servers=get("KAFKA_BOOTSTRAP_SERVERS"),
            kafka_controller_port=int(get("PINTEREST_KAFKA_CONTROLLER_PORT")),
            kafka_security_protocol=get("PINTEREST_KAFKA_SECURITY_PROTOCOL"),
            kafka_sasl_mechanism=get("PINTEREST_KAFKA_SASL_MECHANISM"),
            kafka_sasl_username=get("PINTEREST_KAFKA_SASL_USERNAME"),
            kafka_sasl_password=get("PINTEREST_KAFKA_SASL_PASSWORD"),
            kafka_ssl_cafile=get("PINTEREST_KAFKA_SSL_CAFILE"),
            s3_endpoint_url=_optional(get("PINTEREST_S3_ENDPOINT_URL")),
            s3_bucket=get("PINTEREST_S3_BUCKET"),
            s3_region=get("PINTEREST_S3_REGION"),
            s3_access_key_id=_optional(get("PINTEREST_S3_ACCESS_KEY_ID")),
            s3_secret_access_key=_optional(get("PINTEREST_S3_SECRET_ACCESS_KEY")),
            pg_host=get("PINTEREST_PG_HOST"),
            pg_port=int(get("PINTEREST_PG_PORT")),
            pg_user=get("PINTEREST_PG_USER"),
            pg_password=get("PINTEREST_PG_PASSWORD"),
            pg_sslmode=get("PINTEREST_PG_SSLMODE"),
            pg_sslrootcert=get("PINTEREST_PG_SSLROOTCERT"),
            pg_streaming_user=get("PINTEREST_PG_STREAMING_USER"),
            pg_streaming_password=get("PINTEREST_PG_STREAMING_PASSWORD"),
            pg_api_user=get("PINTEREST_PG_API_USER"),
            pg_api_password=get("PINTEREST_PG_API_PASSWORD"),
            pg_publisher_user=get("PINTEREST_PG_PUBLISHER_USER"),
            pg_publisher_password=get("PINTEREST_PG_PUBLISHER_PASSWORD"),
            spark_master=get("SPARK_MASTER"),
            spark_driver_memory=get("PINTEREST_SPARK_DRIVER_MEMORY"),
            spark_driver_host=get("PINTEREST_SPARK_DRIVER_HOST"),
            spark_driver_bind_address=get("PINTEREST_SPARK_DRIVER_BIND_ADDRESS"),
            api_port=int(get("PINTEREST_API_PORT")),
            api_keys=tuple(key.strip() for key in get("PINTEREST_API_KEYS").split(",") if key.strip()),
            api_workers=int(get("PINTEREST_API_WORKERS")),
            api_threads=int(get("PINTEREST_API_THREADS")),
            api_batch_max_events=int(get("PINTEREST_API_BATCH_MAX_EVENTS")),
            api_max_bytes=int(get("PINTEREST_API_MAX_BYTES")),
            api_kafka_timeout_s=float(get("PINTEREST_API_KAFKA_TIMEOUT_S")),
            api_kafka_linger_ms=int(get("PINTEREST_API_KAFKA_LINGER_MS")),
            api_kafka_batch_bytes=int(get("PINTEREST_API_KAFKA_BATCH_BYTES")),
            api_kafka_compression=get("PINTEREST_API_KAFKA_COMPRESSION"),
            api_read_timeout_s=float(get("PINTEREST_API_READ_TIMEOUT_S")),
            topic_partitions=int(get("PINTEREST_TOPIC_PARTITIONS")),
            dagster_home=_under_home(get("DAGSTER_HOME") or DEFAULTS["DAGSTER_HOME"], get("PINTEREST_HOME")),
            lake_max_records_per_run=int(get("PINTEREST_LAKE_MAX_RECORDS_PER_RUN")),
            lake_max_runs_per_tick=int(get("PINTEREST_LAKE_MAX_RUNS_PER_TICK")),
            lake_roll_max_records=int(get("PINTEREST_LAKE_ROLL_MAX_RECORDS")),
            lake_roll_max_bytes=int(get("PINTEREST_LAKE_ROLL_MAX_BYTES")),
            lake_roll_max_span_seconds=int(get("PINTEREST_LAKE_ROLL_MAX_SPAN_SECONDS")),
            lake_upload_threads=int(get("PINTEREST_LAKE_UPLOAD_THREADS")),
            lake_sensor_interval_seconds=int(get("PINTEREST_LAKE_SENSOR_INTERVAL_SECONDS")),
            lake_run_timeout_seconds=int(get("PINTEREST_LAKE_RUN_TIMEOUT_SECONDS")),
            batch_workers=int(get("PINTEREST_BATCH_WORKERS")),
            streaming_database=get("PINTEREST_STREAMING_DATABASE"),
            streaming_checkpoint=_location(get("PINTEREST_STREAMING_CHECKPOINT"), get("PINTEREST_HOME")),
            streaming_trigger_seconds=float(get("PINTEREST_STREAMING_TRIGGER_SECONDS")),
            streaming_max_offsets_per_trigger=int(get("PINTEREST_STREAMING_MAX_OFFSETS_PER_TRIGGER")),
            streaming_freshness_seconds=int(get("PINTEREST_STREAMING_FRESHNESS_SECONDS")),
            streaming_observe_interval_seconds=int(get("PINTEREST_STREAMING_OBSERVE_INTERVAL_SECONDS")),
            relaxed_rules=check_relaxable(
                tuple(n.strip() for n in get("PINTEREST_RELAXED_RULES").split(",") if n.strip())
            ),
            quarantine_warn_share=float(get("PINTEREST_QUARANTINE_WARN_SHARE")),
            dotenv=_dotenv_path(get("PINTEREST_DOTENV")),
        )

    # Derived locations under PINTEREST_HOME.
    @property
    def cache_dir(self) -> Path:
        """Downloaded jars and package caches; survives `make clean-state`."""
        return self.home / "cache"

    @property
    def kafka(self) -> KafkaConnection:
        """How every Kafka client connects (kafka-python's `client_config()`, Spark's `spark_options()`)."""
        return KafkaConnection(
            self.kafka_bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_sasl_username,
            self.kafka_sasl_password,
            self.kafka_ssl_cafile,
        )

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])

    @property
    def s3_port(self) -> int:
        if not self.s3_endpoint_url:
            raise ValueError("PINTEREST_S3_ENDPOINT_URL is not set: S3 is AWS, not a local server")
        return urlparse(self.s3_endpoint_url).port or 80

    def pg_login(self, role: str = PG_ADMIN) -> tuple[str, str]:
        """(user, password) of one of the platform's roles: PG_ADMIN, PG_STREAMING, PG_API, PG_PUBLISHER."""
        logins = {
            PG_ADMIN: (self.pg_user, self.pg_password, "PINTEREST_PG_PASSWORD"),
            PG_STREAMING: (self.pg_streaming_user, self.pg_streaming_password, "PINTEREST_PG_STREAMING_PASSWORD"),
            PG_API: (self.pg_api_user, self.pg_api_password, "PINTEREST_PG_API_PASSWORD"),
            PG_PUBLISHER: (self.pg_publisher_user, self.pg_publisher_password, "PINTEREST_PG_PUBLISHER_PASSWORD"),
        }
        user, password, variable = logins[role]
        if not password:
            raise MissingSecret(
                f"{variable} is not set and {local_secrets_path(self.home)} has no value for it: set it, "
                "or start the local stack (`make up`), which generates it"
            )
        return user, password

    def pg_dsn(self, database: str, role: str = PG_ADMIN) -> str:
        """A libpq connection string for one of the platform's databases, as one of its roles."""
        user, password = self.pg_login(role)
        return " ".join(
            f"{key}={_dsn_value(str(value))}"
            for key, value in (
                ("host", self.pg_host),
                ("port", self.pg_port),
                ("dbname", database),
                ("user", user),
                ("password", password),
                ("sslmode", self.pg_sslmode),
                *((("sslrootcert", self.pg_sslrootcert),) if self.pg_sslrootcert else ()),
            )
        )

    def pg_url(self, database: str) -> str:
        """An SQLAlchemy-style URL (used by dagster-postgres)."""
        return f"postgresql://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{database}"

    def s3a_url(self, key: str = "") -> str:
        return f"s3a://{self.s3_bucket}/{key}"


def get_settings() -> Settings:
    return Settings.from_env()
