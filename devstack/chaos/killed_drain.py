"""`python -m devstack.chaos.killed_drain MODE --land-only`: the batch drain (`python -m
devstack.batch`) that SIGKILLs itself at one point of a landing run, like a crash.

MODE `mid-upload`: a run has uploaded one lake object and is about to upload the next (the lake
then holds some of the run's objects, recorded as pending; progress not recorded). Needs a run
with two objects or more (PINTEREST_LAKE_ROLL_MAX_RECORDS small); a run with one object dies
before its commit instead, its next object being none.
MODE `before-commit`: a run has uploaded all its objects and is about to record its progress
(ProgressStore.commit), the precedent of tests/integration/test_batch_lake.py.
"""

from __future__ import annotations

import os
import signal
import sys

MODES = ("mid-upload", "before-commit")
LAKE_PREFIXES = ("raw/",)


def die(what: str) -> None:
    print(f"[killed_drain] SIGKILL {what}", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def install(mode: str) -> None:
    from pinterest_assets.lib.lake.progress import ProgressStore

    commit = ProgressStore.commit

    def commit_or_die(self, *args, **kwargs):
        die("after the upload, before recording progress")
        return commit(self, *args, **kwargs)  # not reached

    ProgressStore.commit = commit_or_die
    if mode == "before-commit":
        return

    from botocore.client import BaseClient

    make_api_call = BaseClient._make_api_call
    uploads = {"done": 0}

    def upload_or_die(self, operation_name, api_params):
        if operation_name == "PutObject" and str(api_params.get("Key", "")).startswith(LAKE_PREFIXES):
            if uploads["done"] >= 1:
                die(f"mid-upload, before {api_params['Key']} (1 object of the run uploaded)")
            answer = make_api_call(self, operation_name, api_params)
            uploads["done"] += 1
            return answer
        return make_api_call(self, operation_name, api_params)

    BaseClient._make_api_call = upload_or_die


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MODES:
        print(f"usage: python -m devstack.chaos.killed_drain {{{','.join(MODES)}}} [batch options]", file=sys.stderr)
        return 2
    install(argv[0])
    os.environ["PINTEREST_BATCH_WORKERS"] = "1"  # the runs execute here, where the patches are
    from devstack.batch import main as batch_main

    return batch_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
