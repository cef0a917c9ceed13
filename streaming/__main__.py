"""`python -m streaming`: run the streaming job until SIGTERM/SIGINT.

Also `spark-submit --master "$SPARK_MASTER" --packages <the two of
pinterest_common.spark_jars.spark_packages()> streaming/__main__.py` (absolute imports, for that).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pinterest_common.config import get_settings
from streaming.job import StreamingJob


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m streaming", description=__doc__ and __doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        default=settings.streaming_checkpoint,
        help="Spark checkpoint: a path or s3a:// URL (default: PINTEREST_STREAMING_CHECKPOINT)",
    )
    parser.add_argument(
        "--trigger-seconds",
        type=float,
        default=settings.streaming_trigger_seconds,
        help="micro-batch interval (default: PINTEREST_STREAMING_TRIGGER_SECONDS)",
    )
    parser.add_argument(
        "--status-file",
        type=Path,
        help="also write the heartbeat as JSON to this file (the local stack's health check)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return StreamingJob(settings, args.checkpoint, args.trigger_seconds, args.status_file).run()


if __name__ == "__main__":
    sys.exit(main())
