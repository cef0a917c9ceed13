"""The `pinterest` command: `pinterest emulate` (user traffic) and `pinterest topics`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kafka.errors import KafkaError

from pinterest_common.config import get_settings

from .topics import describe, format_description
from .traffic import Emulator, EmulatorOptions, write_events


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="pinterest", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    emulate = commands.add_parser("emulate", help="post synthetic pin/geo/user triples to the API")
    emulate.add_argument(
        "--url", default=f"http://127.0.0.1:{settings.api_port}", help="the API (default: %(default)s)"
    )
    emulate.add_argument(
        "--count", type=_positive_int, help="triples to send (default 100, or unlimited with --duration)"
    )
    emulate.add_argument("--duration", type=float, help="stop after this many seconds")
    emulate.add_argument("--rate", type=float, help="events per second (default: as fast as the API answers)")
    emulate.add_argument(
        "--concurrency", type=_positive_int, default=4, help="parallel requests (default: %(default)s)"
    )
    emulate.add_argument(
        "--batch-size",
        type=_positive_int,
        default=1,
        help="events per request; above 1 the batch endpoints are used (default: %(default)s)",
    )
    emulate.add_argument(
        "--seed", type=int, default=100, help="the same seed sends the same events (default: %(default)s)"
    )
    emulate.add_argument("--replay-share", type=_share, default=0.1, help="share of triples that repeat an earlier pin")
    emulate.add_argument("--invalid-share", type=_share, default=0.05, help="share of events broken on purpose")
    emulate.add_argument(
        "--quarantine-share",
        type=_share,
        default=0.0,
        help="share of events the API accepts but that break a cleaning rule (quarantined later)",
    )
    emulate.add_argument("--max-retries", type=int, default=8, help="retries of a 503 or connection error per request")
    emulate.add_argument(
        "--api-key",
        default=settings.api_keys[0] if settings.api_keys else None,
        help="API key (default: the first of PINTEREST_API_KEYS)",
    )
    emulate.add_argument("--ledger", type=Path, help="append every acknowledged event_id as JSON lines to this file")
    emulate.add_argument("--output", type=Path, help="write the events as JSON lines to this file instead of posting")

    commands.add_parser("topics", help="describe the topics: partitions, offsets, consumer-group lag")
    return parser


def _emulate(args: argparse.Namespace) -> int:
    count = args.count if args.count is not None else (None if args.duration else 100)
    options = EmulatorOptions(
        url=args.url,
        count=count,
        duration=args.duration,
        rate=args.rate,
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        seed=args.seed,
        replay_share=args.replay_share,
        invalid_share=args.invalid_share,
        quarantine_share=args.quarantine_share,
        max_retries=args.max_retries,
        api_key=args.api_key,
        ledger=args.ledger,
    )
    if args.output:
        if count is None:
            print("pinterest emulate: --output needs --count", file=sys.stderr)
            return 2
        with args.output.open("w", encoding="utf-8") as output:
            written = write_events(options, output)
        print(f"emulate: wrote {written} events to {args.output}")
        return 0
    summary = Emulator(options).run()
    print(f"emulate: {summary.line()}")
    return 0 if summary.failed == 0 and summary.unexpected == 0 else 1


def _topics() -> int:
    try:
        print(format_description(*describe(get_settings())))
    except KafkaError as exc:
        print(f"pinterest topics: Kafka is not reachable: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "emulate":
        return _emulate(args)
    return _topics()


if __name__ == "__main__":
    sys.exit(main())
