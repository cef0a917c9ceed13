"""`python -m devstack {fetch,up,down,status,clean-state}`: the local stack from the command line.

`clean-state` deletes what the stacks under $PINTEREST_HOME/stack and $PINTEREST_HOME/tmp keep
outside them (PostgreSQL's directory when, as root, it could not live inside); `make clean-state`
runs it after `make down`, then deletes those two directories."""

from __future__ import annotations

import argparse
import sys

from pinterest_common.config import get_settings

from .dotenv import write_dotenv
from .jars import SetupError
from .local_secrets import ensure_local_secrets
from .services import remove_server_dirs
from .stack import Stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=["fetch", "up", "down", "status", "clean-state"])
    args = parser.parse_args(argv)
    ensure_local_secrets()
    stack = Stack(get_settings())
    try:
        if args.command == "fetch":
            stack.prepare()
            print("[devstack] jars and binaries are in place")
        elif args.command == "up":
            stack.up()
            print("[devstack] all services are up")
            dotenv = stack.settings.dotenv
            if write_dotenv(stack.settings):
                print(f"[devstack] {dotenv}: the settings, instance and secrets for a plain `dagster dev` there")
            elif dotenv is not None:
                print(f"[devstack] {dotenv} is not ours: left as it is (plain `dagster dev` may not see this stack)")
            return _print_status(stack)
        elif args.command == "down":
            stopped = stack.down()
            print(f"[devstack] stopped: {', '.join(stopped) or 'nothing was running'}")
        elif args.command == "clean-state":
            home = stack.settings.home
            removed = remove_server_dirs([home / "stack", home / "tmp"])
            print(f"[devstack] removed: {', '.join(map(str, removed)) or 'nothing outside ' + str(home)}")
        else:
            return _print_status(stack)
    except (SetupError, TimeoutError) as exc:
        print(f"[devstack] error: {exc}", file=sys.stderr)
        return 1
    return 0


def _print_status(stack: Stack) -> int:
    rows = stack.status()
    print(f"state: {stack.state_dir}")
    print(f"{'service':<10} {'state':<10} {'endpoint':<28} log")
    for row in rows:
        state = "healthy" if row.healthy else ("unhealthy" if row.running else "stopped")
        print(f"{row.name:<10} {state:<10} {row.endpoint:<28} {row.log}")
        if row.detail:
            print(f"{'':<10} {row.detail}")
    return 0 if all(row.healthy for row in rows) else 3


if __name__ == "__main__":
    sys.exit(main())
