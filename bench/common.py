"""What every benchmark shares: the machine and versions, percentiles, tables, the results file,
and the memory sampler (process-tree RSS of each service of a stack)."""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pinterest_common.config import REPO_ROOT, Settings

RESULTS_JSON = REPO_ROOT / "docs" / "benchmarks.json"
RESULTS_MD = REPO_ROOT / "docs" / "BENCHMARKS.md"


def say(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "load_average_at_start": load_average(),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def versions() -> dict:
    from importlib.metadata import version

    out = {}
    for package in ("pyspark", "dagster", "duckdb", "Flask", "gunicorn", "kafka-python", "boto3"):
        try:
            out[package] = version(package)
        except Exception:  # noqa: BLE001 - informative only
            out[package] = "?"
    try:
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30).stderr.splitlines()
        out["java"] = java[0] if java else "?"
    except (OSError, subprocess.SubprocessError):
        out["java"] = "?"
    out["kafka"] = _pom_version("kafka")
    out["s3proxy"] = _pom_version("s3proxy")
    try:
        from devstack.services import Postgres

        pg = subprocess.run(
            [str(Postgres.bin_dir() / "postgres"), "--version"], capture_output=True, text=True, timeout=30
        )
        out["postgresql"] = pg.stdout.strip()
    except Exception:  # noqa: BLE001
        out["postgresql"] = "?"
    return out


def _pom_version(name: str) -> str:
    import re

    artifacts = {"kafka": "kafka_2.13", "s3proxy": "s3proxy"}
    pom = REPO_ROOT / "devstack" / "poms" / f"{name}.xml"
    try:
        found = re.search(rf"<artifactId>{artifacts[name]}</artifactId>\s*<version>([^<]+)</version>", pom.read_text())
    except OSError:
        return "?"
    return found.group(1) if found else "?"


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, math.ceil(share * len(values)) - 1))]


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence]) -> str:
    rows = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    lines = [
        title,
        "  " + "  ".join(c.ljust(w) for c, w in zip(columns, widths)),
        "  " + "  ".join("-" * w for w in widths),
    ]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# Where each figure that the report's charts, goals and scaling plan read sits in the results (a
# path for `figure`): the one place to change when a part's keys change.
FIGURES = {
    "cores": "machine.cores",
    "idle_mb": "footprint_idle.total_mb",
    "single_ceiling": "sections.ingest.single.ceiling_events_per_s",
    "single": "sections.ingest.single.kafka_events_per_s",
    "single_share": "sections.ingest.single.share_of_ceiling",
    "single_ceiling_latency": "sections.ingest.single.ceiling_latency_ms",
    "single_latency": "sections.ingest.single.kafka_latency_ms",
    "open_loop_latency": "sections.ingest.open_loop.latency_ms",
    "open_loop_p99": "sections.ingest.open_loop.latency_ms.p99",
    "open_loop_rate": "sections.ingest.open_loop.offered_events_per_s",
    "batch_ceiling": "sections.ingest.batch.pin_250.ceiling_events_per_s",
    "batch": "sections.ingest.batch.pin_250.kafka_events_per_s",
    "batch_share": "sections.ingest.batch.pin_250.share_of_lower_ceiling",
    "bare_producer": "sections.ingest.bare_producer.events_per_s",
    "producer_settings": "sections.ingest.bare_producer.settings",
    "api_threads": "sections.ingest.settings.api_threads",
    "drain": "sections.drain.events_per_s",
    "drain_ok": "sections.drain.ok",
    "drain_left": "sections.drain.backlog_left",
    "drain_events": "sections.drain.events",
    "drain_bare_loop": "sections.drain.bare_loop.events_per_s",
    "drain_runs": "sections.drain.runs",
    "drain_seconds_per_run": "sections.drain.seconds_per_run",
    "kafka_log_bytes": "sections.drain.kafka_log_bytes",
    "value_bytes": "sections.drain.value_bytes",
    "lake_gzip_bytes": "sections.drain.lake_gzip_bytes",
    "roll_max_records": "sections.drain.settings.roll_max_records",
    "max_records_per_run": "sections.drain.settings.max_records_per_run",
    "growth": "sections.spark.summary.growth",
    "growth_small_triples": "sections.spark.summary.growth.-2.triples",
    "growth_small_wall": "sections.spark.summary.growth.-2.wall_s",
    "growth_large_triples": "sections.spark.summary.growth.-1.triples",
    "growth_large_wall": "sections.spark.summary.growth.-1.wall_s",
    "marginal_ratios": "sections.spark.summary.marginal_x2_ratios",
    "fixed": "sections.spark.summary.fixed_s",
    "spark_triples": "sections.spark.summary.triples",
    "spark_wall": "sections.spark.summary.spark_wall_s",
    "duckdb_total": "sections.spark.summary.duckdb_total_s",
    "spark_over_duckdb": "sections.spark.summary.spark_over_duckdb",
    "per_event_over_rolled": "sections.spark.summary.per_event_over_rolled",
    "streaming_latency": "sections.streaming.latency_1000.latency_ms",
    "streaming_p99": "sections.streaming.latency_1000.latency_ms.p99",
    "streaming_unseen": "sections.streaming.latency_1000.unseen",
    "streaming_rate": "sections.streaming.latency_1000.offered_events_per_s",
    "streaming_bounded": "sections.streaming.highest_bounded_rate",
    "postgres_applied": "sections.streaming.lag_sweep.*.micro_batches.applied_events_per_s",
    "trigger_seconds": "sections.streaming.settings.trigger_seconds",
    "max_offsets_per_trigger": "sections.streaming.settings.max_offsets_per_trigger",
}


def measured(results: dict, name: str) -> Any:
    """The figure `name` of FIGURES in the results, None where it is not."""
    return figure(results, FIGURES[name])


def figure(results: Any, path: str) -> Any:
    """The value at a dotted path into the results ("sections.drain.events_per_s"; an integer step
    indexes a list, -1 the last; a "*" step maps the rest over a list), None where a step is missing."""
    head, _, rest = path.partition(".")
    if head == "*":
        if not isinstance(results, list):
            return None
        values = [figure(item, rest) if rest else item for item in results]
        return [v for v in values if v is not None]
    if isinstance(results, dict):
        value = results.get(head)
    elif isinstance(results, list) and head.lstrip("-").isdigit() and -len(results) <= int(head) < len(results):
        value = results[int(head)]
    else:
        return None
    return figure(value, rest) if rest and value is not None else value


def read_results(path: Path = RESULTS_JSON) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def write_section(name: str, section: dict, path: Path = RESULTS_JSON, load_at_start: list | None = None) -> None:
    """Merge one benchmark's results, run on its own (`python -m bench.<part>`), into the results
    file, keeping the other parts; the section notes when it ran and the load then."""
    results = read_results(path)
    section = {
        **section,
        "run_on_its_own": {
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average_at_start": load_at_start,
        },
    }
    failed = results.get("errors", {}).pop(name, None)
    if failed:
        section["run_on_its_own"]["replaces_failed_part"] = failed.strip().splitlines()[-1]
    results.setdefault("sections", {})[name] = section
    results["updated_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")


# --- memory: process-tree RSS per service ------------------------------------------------------


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    return children


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int, children: dict[int, list[int]] | None = None) -> float:
    """Resident memory of `root` and all its descendants, in MiB."""
    children = _children() if children is None else children
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kb(pid)
        stack += children.get(pid, [])
    return total / 1024


def service_pids(state_dir: Path) -> dict[str, int]:
    from devstack.process import read_pid

    pids = {}
    for pid_file in sorted((state_dir / "run").glob("*.pid")):
        pid = read_pid(pid_file)
        if pid is not None:
            pids[pid_file.stem] = pid
    return pids


def stack_rss_mb(state_dir: Path, extra: dict[str, int] | None = None) -> dict[str, float]:
    children = _children()
    pids = {**service_pids(state_dir), **(extra or {})}
    return {name: round(tree_rss_mb(pid, children), 1) for name, pid in pids.items()}


class RssSampler:
    """Samples the RSS of each service of a stack (and of extra named pids) every `interval_s`,
    keeping the peak per service and per phase."""

    def __init__(self, state_dir: Path, interval_s: float = 1.0):
        self.state_dir, self.interval_s = state_dir, interval_s
        self.extra: dict[str, int] = {}
        self.peak: dict[str, float] = {}
        self.phase_peak: dict[str, dict[str, float]] = {}
        self.phase = "start"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[str, float]:
        now = stack_rss_mb(self.state_dir, self.extra)
        phase = self.phase_peak.setdefault(self.phase, {})
        for name, mb in now.items():
            self.peak[name] = max(self.peak.get(name, 0.0), mb)
            phase[name] = max(phase.get(name, 0.0), mb)
        return now

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.sample()
            except Exception:  # noqa: BLE001 - a sampler must not kill the run
                pass


def log_dir(settings: Settings, state_dir: Path, part: str) -> Path:
    """Where a benchmark keeps its logs: outside the stack's state directory, which is deleted
    with the stack ($PINTEREST_HOME/tmp/bench-logs/<state dir name>/<part>)."""
    path = settings.home / "tmp" / "bench-logs" / state_dir.name / part
    path.mkdir(parents=True, exist_ok=True)
    return path


def home_relative(settings: Settings, path: Path) -> str:
    """`path` as the results record it: under $PINTEREST_HOME, not this machine's directories."""
    return f"$PINTEREST_HOME/{path.relative_to(settings.home)}"


def handle_sigterm() -> None:
    """SIGTERM ends the benchmark like Ctrl-C, so that its `finally` blocks stop what it started."""
    import signal

    def _stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, _stop)
