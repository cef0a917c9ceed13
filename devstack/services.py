"""The local stack's services. Each one knows how to start, check and stop itself.

All state lives in `state_dir` (by default PINTEREST_STACK_DIR, i.e. `$PINTEREST_HOME/stack`); jars come from the shared
cache `$PINTEREST_HOME/cache`, so a test session in a temporary state directory reuses them.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from pinterest_common import pg_roles
from pinterest_common.config import DATABASES, Settings
from pinterest_common.s3 import s3_client

from . import kafka_ids
from .jars import SetupError, require_tool, resolve_classpath
from .process import STOP_GRACE_S, free_ports, port_open, read_pid, spawn, terminate, wait_until
from .tls import LocalTls, local_tls

LOCALHOST = "127.0.0.1"
TLS_REQUIRING_SSLMODES = ("require", "verify-ca", "verify-full")


def connection_environment(settings: Settings) -> dict[str, str]:
    """The variables of how clients connect (Kafka's security, PostgreSQL's TLS, the Spark driver's
    address), for a service started with this stack's settings."""
    s = settings
    return {
        "PINTEREST_KAFKA_SECURITY_PROTOCOL": s.kafka_security_protocol,
        "PINTEREST_KAFKA_SASL_MECHANISM": s.kafka_sasl_mechanism,
        "PINTEREST_KAFKA_SASL_USERNAME": s.kafka_sasl_username,
        "PINTEREST_KAFKA_SASL_PASSWORD": s.kafka_sasl_password,
        "PINTEREST_KAFKA_SSL_CAFILE": s.kafka_ssl_cafile,
        "PINTEREST_PG_SSLMODE": s.pg_sslmode,
        "PINTEREST_PG_SSLROOTCERT": s.pg_sslrootcert,
        "PINTEREST_SPARK_DRIVER_HOST": s.spark_driver_host,
        "PINTEREST_SPARK_DRIVER_BIND_ADDRESS": s.spark_driver_bind_address,
    }


@dataclass
class ServiceStatus:
    name: str
    running: bool
    healthy: bool
    endpoint: str
    log: Path
    detail: str = ""


class Service:
    name: str
    start_timeout: float = 90.0

    def __init__(self, settings: Settings, state_dir: Path):
        self.problem = ""  # why the last health check failed, when it knows (`make status` shows it)
        self.settings = settings
        self.state_dir = state_dir
        self.dir = state_dir / self.name
        self.log_file = state_dir / "logs" / f"{self.name}.log"
        self.pid_file = state_dir / "run" / f"{self.name}.pid"

    # Subclasses implement these four.
    @property
    def endpoint(self) -> str:
        raise NotImplementedError

    def healthy(self) -> bool:
        raise NotImplementedError

    def _launch(self) -> None:
        raise NotImplementedError

    def provision(self) -> None:
        """Create what the platform expects inside the service (databases, bucket)."""

    def prepare(self) -> None:
        """Fetch what the service needs (jars, binaries) without starting it."""

    def running(self) -> bool:
        return read_pid(self.pid_file) is not None

    def start(self) -> None:
        if not self.running():
            self.prepare()
            print(f"[devstack] starting {self.name} on {self.endpoint} (log: {self.log_file})", flush=True)
            self._launch()
        wait_until(self.healthy, self.start_timeout, self.name, self.log_file)
        self.provision()

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        """SIGTERM, then SIGKILL after `grace_s`. True if it ran."""
        return terminate(self.pid_file, grace_s)

    def status(self) -> ServiceStatus:
        running = self.running()
        healthy = running and self.healthy()
        detail = self.problem if running and not healthy else ""
        return ServiceStatus(self.name, running, healthy, self.endpoint, self.log_file, detail)


def _java() -> str:
    return require_tool("java", "Install Java 17+ (Debian: apt-get install openjdk-17-jre-headless).")


class Kafka(Service):
    """Apache Kafka 4 in KRaft mode: one combined broker/controller node."""

    name = "kafka"
    heap = "512m"

    # A node of a multi-node cluster (devstack/kafka_cluster.py) overrides `port`,
    # `controller_port`, `_properties` and `_cluster_id`.
    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def controller_port(self) -> int:
        return self.settings.kafka_controller_port

    @property
    def endpoint(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    def prepare(self) -> None:
        resolve_classpath("kafka", self.settings.cache_dir)

    def _properties(self) -> dict[str, str]:
        """server.properties of a single combined broker/controller node."""
        port, controller = self.port, self.controller_port
        return self._base_properties(port, controller) | self._client_listener_properties()

    def _base_properties(self, port: int, controller: int) -> dict[str, str]:
        return {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{LOCALHOST}:{controller}",
            "listeners": f"PLAINTEXT://{LOCALHOST}:{port},CONTROLLER://{LOCALHOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            "num.partitions": "3",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # A single node's controller fences its own broker after a pause longer than the
            # broker session (9 s by default: a long GC, a frozen process, a loaded laptop). With
            # no other replica to take over, the fence only bumps every leader epoch, after which
            # kafka-python's idempotent producer was seen stalling on some partitions.
            "broker.session.timeout.ms": "30000",
            # The log cleaner (compaction of the internal topics) holds its dedupe buffer on the
            # heap for the broker's life: 128 MB by default, 16 MB for a local node.
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        }

    def _client_listener_properties(self) -> dict[str, str]:
        """The clients' listener on `port` as they connect (PINTEREST_KAFKA_SECURITY_PROTOCOL), with
        the stack's certificate and SCRAM users; the broker's own traffic then moves to a PLAINTEXT
        listener on another loopback port. Nothing for PLAINTEXT."""
        kafka = self.settings.kafka
        if kafka.security_protocol == "PLAINTEXT":
            return {}
        if kafka.uses_sasl and not kafka.sasl_mechanism.startswith("SCRAM-"):
            raise SetupError(f"the local Kafka offers SCRAM-SHA-256/512 users, not {kafka.sasl_mechanism}")
        (internal,) = free_ports(1)
        loopback = f"{LOCALHOST}:{self.port}"
        properties = {
            "listeners": f"CLIENT://{loopback},INTERNAL://{LOCALHOST}:{internal},"
            f"CONTROLLER://{LOCALHOST}:{self.controller_port}",
            "advertised.listeners": f"CLIENT://{loopback},INTERNAL://{LOCALHOST}:{internal}",
            "inter.broker.listener.name": "INTERNAL",
            "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,CLIENT:{kafka.security_protocol}",
        }
        if kafka.uses_tls:
            properties |= {"ssl.keystore.type": "PEM", "ssl.keystore.location": str(self._keystore())}
        if kafka.uses_sasl:
            mechanism = kafka.sasl_mechanism
            properties |= {
                "sasl.enabled.mechanisms": mechanism,
                f"listener.name.client.{mechanism.lower()}.sasl.jaas.config": (
                    "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                ),
            }
        return properties

    def _keystore(self) -> Path:
        """The broker's key and certificate in one PEM file (mode 0600), from the stack's CA."""
        tls: LocalTls = local_tls(self.state_dir).ensure()
        keystore = self.dir / "keystore.pem"
        fd = os.open(keystore, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(tls.key.read_text() + tls.certificate.read_text())
        return keystore

    def _format_args(self) -> list[str]:
        """StorageTool's arguments that create the SCRAM user of the clients' settings."""
        kafka = self.settings.kafka
        if not kafka.uses_sasl:
            return []
        return ["--add-scram", f"{kafka.sasl_mechanism}=[name={kafka.sasl_username},password={kafka.sasl_password}]"]

    def _cluster_id(self) -> str:
        """The id the node's storage is formatted with (every node of a cluster shares one)."""
        return kafka_ids.random_uuid()

    def _config(self) -> Path:
        props = self._properties()
        path = self.dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        log4j = self.dir / "log4j2.properties"
        log4j.write_text(
            "rootLogger.level = INFO\nrootLogger.appenderRef.out.ref = out\n"
            "appender.out.type = Console\nappender.out.name = out\n"
            "appender.out.layout.type = PatternLayout\n"
            "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
        )
        return path

    def _java_cmd(self, main: str, *args: str) -> list[str]:
        classpath = str(self.settings.cache_dir / "jars" / "kafka" / "*")
        return [
            _java(),
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            classpath,
            main,
            *args,
        ]

    def _launch(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self._config()
        if not (self.dir / "data" / "meta.properties").exists():
            formatted = subprocess.run(
                self._java_cmd(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    self._cluster_id(),
                    "-c",
                    str(config),
                    *self._format_args(),
                ),
                capture_output=True,
                text=True,
            )
            if formatted.returncode != 0:  # the command line holds the SCRAM password: not in the message
                output = self.settings.kafka.redact(formatted.stderr.strip() or formatted.stdout.strip())
                raise SetupError(f"formatting Kafka's storage failed (exit {formatted.returncode}): {output[-2000:]}")
        spawn(self._java_cmd("kafka.Kafka", str(config)), self.log_file, self.pid_file)

    def healthy(self) -> bool:
        if not port_open(LOCALHOST, self.port):
            return False
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        kafka = replace(self.settings.kafka, bootstrap_servers=self.endpoint)
        try:
            admin = KafkaAdminClient(
                **kafka.client_config(),
                request_timeout_ms=3000,
                bootstrap_timeout_ms=3000,  # pyright: ignore[reportCallIssue]
            )
        except (KafkaError, OSError, ValueError) as exc:
            self.problem = kafka.diagnose(exc)
            return False
        try:
            return bool(admin.describe_cluster().get("brokers"))
        except (KafkaError, OSError) as exc:
            self.problem = kafka.diagnose(exc)
            return False
        finally:
            admin.close()


# jclouds' filesystem provider writes a PUT's bytes to `<object path>-<random UUID>` and renames
# that file into place; a server killed before the rename leaves it behind, and the provider
# then lists it as an object. S3 itself never shows an interrupted PUT.
_INTERRUPTED_PUT = re.compile(r"-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class S3Server(Service):
    """S3Proxy with jclouds' filesystem provider: the S3 API over objects kept on disk."""

    name = "s3"
    heap = "256m"

    def remove_interrupted_puts(self) -> list[Path]:
        """Delete what PUTs interrupted by a crash of the server left on disk (see
        `_INTERRUPTED_PUT`), so that after a restart the bucket holds only whole objects, as S3's
        would; called before every start."""
        removed = [
            path for path in (self.dir / "objects").rglob("*") if path.is_file() and _INTERRUPTED_PUT.search(path.name)
        ]
        for path in removed:
            path.unlink()
        if removed:
            print(
                f"[devstack] s3: removed {len(removed)} file(s) of PUTs interrupted by a crash "
                f"(e.g. {removed[0].relative_to(self.dir / 'objects')})",
                flush=True,
            )
        return removed

    @property
    def endpoint(self) -> str:
        return f"http://{LOCALHOST}:{self.settings.s3_port}"

    def prepare(self) -> None:
        resolve_classpath("s3proxy", self.settings.cache_dir)

    def _launch(self) -> None:
        s = self.settings
        if not (s.s3_access_key_id and s.s3_secret_access_key):
            raise SetupError("the local S3 server needs PINTEREST_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY")
        (self.dir / "objects").mkdir(parents=True, exist_ok=True)
        self.remove_interrupted_puts()
        config = self.dir / "s3proxy.conf"
        config.write_text(
            f"s3proxy.endpoint={self.endpoint}\n"
            "s3proxy.authorization=aws-v2-or-v4\n"
            f"s3proxy.identity={s.s3_access_key_id}\n"
            f"s3proxy.credential={s.s3_secret_access_key}\n"
            "s3proxy.ignore-unknown-headers=true\n"
            "jclouds.provider=filesystem\n"
            f"jclouds.filesystem.basedir={self.dir / 'objects'}\n"
        )
        config.chmod(0o600)
        classpath = str(s.cache_dir / "jars" / "s3proxy" / "*")
        # -Xms small: the JVM's default initial heap (1/64 of the RAM) would be the whole -Xmx.
        cmd = [
            _java(),
            f"-Xmx{self.heap}",
            "-Xms16m",
            "-XX:+UseSerialGC",
            "-cp",
            classpath,
            "org.gaul.s3proxy.Main",
            "--properties",
            str(config),
        ]
        spawn(cmd, self.log_file, self.pid_file)

    def _client(self):
        return s3_client(self.settings, connect_timeout=2, read_timeout=5, retries={"max_attempts": 1})

    def healthy(self) -> bool:
        if not port_open(LOCALHOST, self.settings.s3_port):
            return False
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client().list_buckets()
            return True
        except (BotoCoreError, ClientError):
            return False

    def provision(self) -> None:
        client = self._client()
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if self.settings.s3_bucket not in existing:
            client.create_bucket(Bucket=self.settings.s3_bucket)


# When we are root, PostgreSQL runs as the `postgres` user, which must reach its data directory,
# socket directory and log. Under a directory closed to other users (a checkout in /root, a
# PINTEREST_HOME of mode 0700) it cannot; the server's files then live in a directory of their own
# under the first of these bases, owned by `postgres`, and the stack directory refers to it by the
# symlink `postgres/server` (the directory names its stack in the file `owner`).
SERVER_DIR_BASES = (Path("/var/tmp"), Path("/tmp"))
SERVER_DIR_PREFIX = "pinterest-pg-"
SERVER_USER = "postgres"


def server_dirs_of(stack_dirs: list[Path]) -> list[Path]:
    """The PostgreSQL server directories outside the stack that belong to a stack directory at or
    under one of `stack_dirs` (by their `owner` file), whether that stack directory still exists or not."""
    roots = [d.expanduser().resolve() for d in stack_dirs]
    found = []
    for base in SERVER_DIR_BASES:
        try:
            candidates = sorted(base.glob(SERVER_DIR_PREFIX + "*"))
        except OSError:
            continue
        for candidate in candidates:
            if candidate.is_symlink() or not candidate.is_dir():
                continue
            try:
                owner = Path((candidate / "owner").read_text().strip())
            except OSError:
                continue
            if owner.is_absolute() and any(owner == root or owner.is_relative_to(root) for root in roots):
                found.append(candidate)
    return found


def remove_server_dirs(stack_dirs: list[Path]) -> list[Path]:
    """Delete the server directories of `server_dirs_of(stack_dirs)` (stop their servers first)."""
    removed = server_dirs_of(stack_dirs)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _postgres_problem(error: str, sslmode: str) -> str:
    """libpq's error in one line (it names the host, user and database, never the password), and
    what a refusal without TLS means."""
    message = " ".join(line.strip() for line in error.splitlines() if line.strip())
    if "no encryption" in message:
        return f"PostgreSQL requires TLS (PINTEREST_PG_SSLMODE is {sslmode}): {message}"
    return f"PostgreSQL: {message}"


class Postgres(Service):
    """PostgreSQL 15+ from the system (Debian's packages), one cluster in the state directory.

    PostgreSQL refuses to run as root; when we are root, the server runs as the `postgres`
    system user that Debian's package creates. If that user cannot reach the state directory
    (a parent closed to other users), the cluster lives in a directory of its own under
    /var/tmp (or /tmp), referred to by the symlink `<state>/postgres/server`; `remove_data`
    and `make clean-state` delete it.
    """

    name = "postgres"
    start_timeout = 60.0

    @property
    def endpoint(self) -> str:
        return f"{self.settings.pg_host}:{self.settings.pg_port}"

    @staticmethod
    def bin_dir() -> Path:
        candidates = [Path(p).parent for p in filter(None, [shutil.which("pg_ctl")])]
        candidates += sorted(
            (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        for candidate in candidates:
            if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
                return candidate.resolve()
        raise SetupError("PostgreSQL server binaries not found. Debian: apt-get install postgresql")

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        if not self._as_root():
            return cmd
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            raise SetupError("running as root needs the `postgres` system user (apt-get install postgresql)") from exc
        return ["runuser", "-u", SERVER_USER, "--", *cmd]

    def _chown_to_server_user(self, *paths: Path) -> None:
        if self._as_root():
            entry = pwd.getpwnam(SERVER_USER)
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _server_user_reaches(self, *dirs: Path) -> bool:
        """Whether the server's user may enter (and so reach) each of `dirs`; always when it is us."""
        if not self._as_root():
            return True
        test = ["test", "-x", str(dirs[0])]
        for path in dirs[1:]:
            test += ["-a", "-x", str(path)]
        return subprocess.run(self._as_server_user(test), capture_output=True).returncode == 0

    @property
    def server_link(self) -> Path:
        """The stack directory's reference to a server directory outside it (a symlink)."""
        return self.dir / "server"

    @property
    def server_dir(self) -> Path:
        """Where the server's files are: the data directory, the socket (and, outside the
        stack directory, the log)."""
        if self.server_link.is_symlink():
            return Path(os.readlink(self.server_link))
        return self.dir

    @property
    def data_dir(self) -> Path:
        return self.server_dir / "data"

    def prepare(self) -> None:
        self.bin_dir()

    def _place_server_dir(self) -> Path:
        """The server directory for a start, made reachable by the server's user: the stack's
        own `postgres/` if it can be, else one of its own under a base of SERVER_DIR_BASES."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.server_link.is_symlink():
            target = self.server_dir
            if target.is_dir():
                return target
            self.server_link.unlink()  # its directory is gone (say /tmp was emptied): a new cluster
        self._chown_to_server_user(self.dir)
        if self._server_user_reaches(self.dir, self.log_file.parent):
            if self.log_file.is_symlink():
                self.log_file.unlink()
            self.log_file.touch()
            self._chown_to_server_user(self.log_file)
            return self.dir
        tried = []
        for base in SERVER_DIR_BASES:
            if not base.is_dir():
                continue
            tried.append(str(base))
            target = Path(tempfile.mkdtemp(prefix=SERVER_DIR_PREFIX, dir=base))
            (target / "owner").write_text(f"{self.state_dir.resolve()}\n")
            self._chown_to_server_user(target)
            if self._server_user_reaches(target):
                self.server_link.symlink_to(target)
                return target
            shutil.rmtree(target, ignore_errors=True)
        raise SetupError(
            f"PostgreSQL runs as the `{SERVER_USER}` user when we are root, and that user can reach neither "
            f"{self.dir} (a parent directory is closed to other users) nor a new directory under "
            f"{' or '.join(tried) or 'any of ' + ', '.join(map(str, SERVER_DIR_BASES))}. Open the parents "
            f"(chmod o+x), point PINTEREST_HOME or PINTEREST_STACK_DIR elsewhere, or run as a non-root user."
        )

    def _server_log(self, server_dir: Path) -> Path:
        """The file the server logs to; outside the stack directory, `log_file` links to it."""
        if server_dir == self.dir:
            return self.log_file
        log = server_dir / "postgres.log"
        log.touch()
        self._chown_to_server_user(log)
        if not (self.log_file.is_symlink() and Path(os.readlink(self.log_file)) == log):
            self.log_file.unlink(missing_ok=True)
            self.log_file.symlink_to(log)
        return log

    def _run_server_tool(self, what: str, cmd: list[str]) -> None:
        result = subprocess.run(self._as_server_user(cmd), capture_output=True, text=True)
        if result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip())[-2000:]
            raise SetupError(f"PostgreSQL's {what} failed (exit {result.returncode}; log: {self.log_file}): {output}")

    def _launch(self) -> None:
        bin_dir = self.bin_dir()
        server_dir = self._place_server_dir()
        server_log = self._server_log(server_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            pwfile = server_dir / "pwfile"
            pwfile.write_text(self.settings.pg_password + "\n")
            pwfile.chmod(0o600)
            self._chown_to_server_user(pwfile)
            try:
                self._run_server_tool(
                    "initdb",
                    [
                        str(bin_dir / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        self.settings.pg_user,
                        f"--pwfile={pwfile}",
                        "--auth=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--no-locale",
                    ],
                )
            finally:
                pwfile.unlink()
        options = (
            f"-c listen_addresses={self.settings.pg_host} -p {self.settings.pg_port} "
            f"-c unix_socket_directories={server_dir} -c shared_buffers=64MB -c max_connections=200"
            + self._tls_options(server_dir)
        )
        self._run_server_tool(
            "pg_ctl start",
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(server_log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.write_text((self.data_dir / "postmaster.pid").read_text().splitlines()[0])

    @property
    def requires_tls(self) -> bool:
        """The clients' sslmode insists on TLS (PINTEREST_PG_SSLMODE): the server then accepts nothing else."""
        return self.settings.pg_sslmode in TLS_REQUIRING_SSLMODES

    def _tls_options(self, server_dir: Path) -> str:
        """pg_ctl options for TLS only (ssl=on with the stack's certificate, a pg_hba.conf that
        rejects connections without it), when the clients require TLS; else none."""
        if not self.requires_tls:
            return ""
        tls = local_tls(self.state_dir).ensure()
        certificate, key, hba = server_dir / "server.crt", server_dir / "server.key", server_dir / "pg_hba_tls.conf"
        certificate.write_text(tls.certificate.read_text())
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # PostgreSQL refuses a key others may read
        with os.fdopen(fd, "w") as out:
            out.write(tls.key.read_text())
        hba.write_text(
            "local all all scram-sha-256\n"
            "hostssl all all 127.0.0.1/32 scram-sha-256\n"
            "hostssl all all ::1/128 scram-sha-256\n"
            "hostnossl all all all reject\n"
        )
        self._chown_to_server_user(certificate, key, hba)
        return f" -c ssl=on -c ssl_cert_file={certificate} -c ssl_key_file={key} -c hba_file={hba}"

    def remove_data(self) -> None:
        """Delete the cluster's server directory if it lives outside the stack directory (what is
        inside goes with the stack directory). Stop the server first."""
        remove_server_dirs([self.state_dir])
        if self.server_link.is_symlink():
            self.server_link.unlink()

    def _connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(self.settings.pg_dsn(database), connect_timeout=3)

    def healthy(self) -> bool:
        import psycopg2

        try:
            self._connect().close()
            return True
        except psycopg2.OperationalError as exc:
            self.problem = _postgres_problem(str(exc), self.settings.pg_sslmode)
            return False

    def provision(self) -> None:
        from psycopg2 import sql

        conn = self._connect()
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                for database in DATABASES:
                    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
                    if cur.fetchone() is None:
                        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        finally:
            conn.close()
        # The components' least-privileged roles and their grants (idempotent, every start).
        pg_roles.provision(self.settings, self._connect)

    def stop(self, grace_s: float = STOP_GRACE_S) -> bool:
        if not self.running():
            self.pid_file.unlink(missing_ok=True)
            return False
        subprocess.run(
            self._as_server_user(
                [
                    str(self.bin_dir() / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    str(max(1, round(grace_s))),
                    "stop",
                ]
            ),
            capture_output=True,
        )
        terminate(self.pid_file, grace_s)
        return True
