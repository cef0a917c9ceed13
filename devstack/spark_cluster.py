"""A Spark standalone cluster on this machine: one master and N workers, started from the
pyspark distribution's own classes (SPARK_HOME is the pyspark package directory), bound to
127.0.0.1 on free ports. For the benchmarks and the test that runs the batch assets with
SPARK_MASTER=spark://... (the driver listens on PINTEREST_SPARK_DRIVER_HOST, 127.0.0.1 by default).

    with StandaloneCluster(state_dir, workers=2, worker_memory="1g") as master_url:
        ...  # SPARK_MASTER=master_url
"""

from __future__ import annotations

import os
from pathlib import Path

from .jars import require_tool
from .process import free_ports, port_open, spawn, terminate, wait_until

# What Spark's launcher adds for Java 17 (org.apache.spark.launcher.JavaModuleOptions).
JAVA_MODULE_OPTIONS = [
    "-XX:+IgnoreUnrecognizedVMOptions",
    *(
        f"--add-opens=java.base/{package}=ALL-UNNAMED"
        for package in (
            "java.lang",
            "java.lang.invoke",
            "java.lang.reflect",
            "java.io",
            "java.net",
            "java.nio",
            "java.util",
            "java.util.concurrent",
            "java.util.concurrent.atomic",
            "jdk.internal.ref",
            "sun.nio.ch",
            "sun.nio.cs",
            "sun.security.action",
            "sun.util.calendar",
        )
    ),
    "-Djdk.reflect.useDirectMethodHandle=false",
    "-Dio.netty.tryReflectionSetAccessible=true",
]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def scala_version() -> str:
    """The Scala version of the pyspark distribution's jars (spark-core_<version>-*.jar)."""
    for jar in (spark_home() / "jars").glob("spark-core_*.jar"):
        return jar.name.split("_", 1)[1].split("-", 1)[0]
    raise RuntimeError(f"no spark-core jar in {spark_home() / 'jars'}")


class StandaloneCluster:
    def __init__(
        self,
        state_dir: Path,
        workers: int = 2,
        worker_cores: int = 1,
        worker_memory: str = "1g",
        daemon_memory: str = "256m",
    ):
        self.dir = state_dir / "spark-standalone"
        self.workers, self.worker_cores, self.worker_memory = workers, worker_cores, worker_memory
        self.daemon_memory = daemon_memory
        self.port, self.ui_port = free_ports(2)
        self.pid_files: list[Path] = []

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        # SPARK_SCALA_VERSION: spark-class sets it (load-spark-env.sh); the worker's launcher of
        # executors needs it when it does not run from a build tree.
        return {
            **os.environ,
            "SPARK_HOME": str(spark_home()),
            "SPARK_SCALA_VERSION": scala_version(),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOCAL_DIRS": str(self.dir / "local"),
            "SPARK_NO_DAEMONIZE": "1",
        }

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            require_tool("java", "Install Java 17+."),
            f"-Xmx{self.daemon_memory}",
            *JAVA_MODULE_OPTIONS,
            "-cp",
            f"{spark_home() / 'jars'}/*",
            main,
            *args,
        ]

    def start(self) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        env = self._environment()
        master_pid = self.dir / "run" / "spark-master.pid"
        master_log = self.dir / "logs" / "spark-master.log"
        spawn(
            self._java(
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--webui-port",
                str(self.ui_port),
            ),
            master_log,
            master_pid,
            env=env,
        )
        self.pid_files.append(master_pid)
        wait_until(lambda: port_open("127.0.0.1", self.port), 120, "spark master", master_log)
        logs = []
        for n in range(self.workers):
            pid_file = self.dir / "run" / f"spark-worker-{n}.pid"
            log = self.dir / "logs" / f"spark-worker-{n}.log"
            work = self.dir / f"worker-{n}"
            work.mkdir(parents=True, exist_ok=True)
            port, ui_port = free_ports(2)
            spawn(
                self._java(
                    "org.apache.spark.deploy.worker.Worker",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--webui-port",
                    str(ui_port),
                    "--cores",
                    str(self.worker_cores),
                    "--memory",
                    self.worker_memory,
                    "--work-dir",
                    str(work),
                    self.url,
                ),
                log,
                pid_file,
                env=env,
            )
            self.pid_files.append(pid_file)
            logs.append(log)
        for log in logs:
            wait_until(
                lambda log=log: (
                    log.exists() and "Successfully registered with master" in log.read_text(errors="replace")
                ),
                120,
                f"spark worker ({log.name})",
                log,
            )
        return self.url

    def stop(self) -> None:
        for pid_file in reversed(self.pid_files):
            terminate(pid_file)
        self.pid_files.clear()

    def pids(self) -> dict[str, int]:
        out = {}
        for pid_file in self.pid_files:
            try:
                out[pid_file.stem] = int(pid_file.read_text())
            except (OSError, ValueError):
                pass
        return out

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
