"""Where the API's time goes under load: py-spy samples of its gunicorn workers while
bench.loadgen posts single pins in open loop, summed by function.

    .venv/bin/python -m bench.profile_api [--rate 1800] [--seconds 15]   # a fresh stack of its own

py-spy (a dev dependency) attaches to each worker of the stack's API (it needs ptrace: root, or
`kernel.yama.ptrace_scope=0`) and samples every thread, waiting ones included, so a thread
blocked on Kafka's acknowledgement shows as `Condition.wait` under the request that waits.
Prints the functions with the most samples of their own (self) and including their callees
(total), each as a share of all samples.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from devstack.fresh import fresh_stack, settings_stack
from ingestion_api.canonical import CANONICAL_TRIPLE

from .common import say

SAMPLES_PER_S = 50
WARMUP_S = 5


def worker_pids(master_pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout.split()
    return [int(pid) for pid in found]


def summarise(raw_files: list[Path], top: int) -> str:
    """py-spy's raw output (`frame;frame;... count` per line) as self and total shares."""
    own, total, samples = Counter(), Counter(), 0
    for path in raw_files:
        for line in path.read_text().splitlines():
            stack, count = line.rsplit(" ", 1)
            frames = stack.split(";")
            samples += int(count)
            own[frames[-1]] += int(count)
            for frame in set(frames):
                total[frame] += int(count)
    lines = [f"{samples} samples", "self:"]
    lines += [f"  {n / samples:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["total (with callees):"]
    lines += [f"  {n / samples:6.1%}  {frame}" for frame, n in total.most_common(2 * top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_api", description=__doc__ and __doc__.splitlines()[0]
    )
    parser.add_argument("--rate", type=int, default=1800, help="single pins offered per second (default 1,800)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long py-spy samples (default 15)")
    parser.add_argument("--top", type=int, default=20, help="functions listed (default 20)")
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        parser.error("py-spy is not installed (a dev dependency: make install)")
    work = Path(tempfile.mkdtemp(prefix="profile-api-"))
    bodies = work / "pins.jsonl"
    bodies.write_text(json.dumps(CANONICAL_TRIPLE["pin"]) + "\n")
    with fresh_stack("profile-api-", services=("postgres", "kafka", "api")) as settings:
        api = next(s for s in settings_stack(settings).services if s.name == "api")
        workers = worker_pids(int(api.pid_file.read_text()))
        say(f"profiling API workers {workers} at {args.rate:,} pins/s offered for {args.seconds:.0f}s")
        load = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.loadgen",
                "--url",
                f"http://127.0.0.1:{settings.api_port}/pin/",
                "--bodies",
                str(bodies),
                "--duration",
                str(args.seconds + 2 * WARMUP_S),
                "--warmup",
                str(WARMUP_S),
                "--rate",
                str(args.rate),
                "--connections",
                "32",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            time.sleep(WARMUP_S)
            raw = [work / f"worker-{pid}.txt" for pid in workers]
            spies = [
                subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "-r",
                        str(SAMPLES_PER_S),
                        "-d",
                        str(int(args.seconds)),
                        "-p",
                        str(pid),
                        "--format",
                        "raw",
                        "-o",
                        str(out),
                        "--nonblocking",
                        "--threads",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for pid, out in zip(workers, raw, strict=True)
            ]
            for spy in spies:
                spy.wait()
        finally:
            answered, _ = load.communicate()
    result = json.loads(answered.strip().splitlines()[-1])
    say(
        f"load: {result['requests_per_s']:,} requests/s answered, p50 {result['latency_ms']['p50']} ms, "
        f"p99 {result['latency_ms']['p99']} ms"
    )
    print(summarise([path for path in raw if path.exists()], args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
