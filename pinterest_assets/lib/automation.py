"""When the cleaned and analytics assets refresh by themselves: Dagster's declarative automation.

A cleaned table (and its quarantine) is requested when its raw asset was updated since the table
was last requested, or, the first time, when raw data exists and the table does not; the answers
when a cleaned table was. Both differ from `AutomationCondition.eager()` on purpose:
- eager's memory ends when the asset is materialised, so raw data that lands while a refresh runs
  (after the run read the lake) would wait for the next landing, possibly for ever at the end of a
  burst. Here it is kept: a landing later than the last request (Dagster compares their times)
  requests the next run, which starts once this one is done (`~in_progress()`);
- eager waits while any dependency is in progress, and under a steady event flow a raw asset's
  drain run nearly always is: the cleaned tables would never refresh.
Assets requested on one tick go in one run, so new cleaned tables and the answers that read them
share one run and one Spark session (`any_deps_updated()` is true on the tick the dependencies are
requested, and ignores their update by that same run). That holds while the previous run is still
at work: the clean step is one unit, requested whole once one of its tables is done (the others
may still be in progress), and the answers join it even if they or those tables are still in
progress in the previous run; the new run waits for that one. One refresh run at a time: the
`REFRESH_TAG` limit in dagster.yaml.
"""

from __future__ import annotations

import dagster as dg

AC = dg.AutomationCondition

# Dagster run tag of the refresh runs, the automation's and the job's (dagster.yaml: one at a time).
REFRESH_TAG = "pinterest/refresh"


# Inputs exist, the asset does not, and no run is making it: true once, when that becomes so (e.g.
# the automation turned on after raw data landed). Not while it is in progress: in the first
# refresh, its inputs appear before it does, which would request it a second time.
_FIRST_INPUTS = (
    (AC.missing() & ~AC.any_deps_missing() & ~AC.in_progress()).newly_true().with_label("inputs_exist_asset_missing")
)

# A raw asset updated later than the last request. `newly_updated()` directly under the dependency
# operator keeps the update's time, which `since` needs to let an update win over a request on the
# same tick.
_NEW_RAW_DATA = AC.any_deps_match(AC.newly_updated()).with_label("raw_data_landed")

# A cleaned table whose latest blocking check failed, and that is not refreshed on this tick (in a
# run with both, Dagster skips the answers itself when a blocking check fails). Unlike
# `all_deps_blocking_checks_passed()`, a table whose checks never ran (no data yet) does not block.
_DEP_FAILED_A_BLOCKING_CHECK = AC.any_deps_match(
    AC.any_checks_match(AC.check_failed() & ~AC.will_be_requested(), blocking_only=True)
).with_label("a_cleaned_table_failed_a_blocking_check")

# A cleaned table in progress that is not requested again on this tick: the answers wait for it.
_DEP_IN_PROGRESS = AC.any_deps_match(AC.in_progress() & ~AC.will_be_requested()).with_label(
    "a_cleaned_table_in_progress_not_requested_again"
)

# Requested on the previous tick, while no dependency is requested on this one (the answers then
# join that run although they were requested a tick before).
_REQUESTED_ALONE = (AC.newly_requested() & ~AC.any_deps_match(AC.will_be_requested())).with_label(
    "newly_requested_without_dependencies"
)

CLEANED_AUTOMATION = (
    (_NEW_RAW_DATA.since(AC.newly_requested()) | _FIRST_INPUTS.since(AC.newly_requested())) & ~AC.in_progress()
).with_label("refresh_on_new_raw_data")

ANALYTICS_AUTOMATION = (
    (AC.any_deps_updated().since(_REQUESTED_ALONE) | _FIRST_INPUTS.since(AC.newly_requested()))
    & ~_DEP_IN_PROGRESS
    & ~_DEP_FAILED_A_BLOCKING_CHECK
).with_label("answer_on_new_cleaned_data")
