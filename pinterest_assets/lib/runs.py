"""Dagster run states the sensors share: a run not finished is in flight (or queued)."""

import dagster as dg

FINISHED = (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)
NOT_FINISHED = [status for status in dg.DagsterRunStatus if status not in FINISHED]
