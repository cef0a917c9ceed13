"""The fault suite's results: one ScenarioResult per scenario, its verdict, and the final table.

Pure logic (no services), unit-tested in tests/unit/test_chaos_report.py. A scenario passes when
it ran to the end, acknowledged events, reconciled at least one store, every store it reconciled
holds every acknowledged event exactly once, and none of its own expectations failed (e.g. the
emulator gave up on events, garbage was not kept in the raw lake exactly once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devstack.reconcile import StageCount

# The stores a scenario may reconcile, in the table's column order (StageCount.stage).
KAFKA, RAW_LAKE, STREAMING = "Kafka", "raw lake", "streaming"
STORES = (KAFKA, RAW_LAKE, STREAMING)


@dataclass
class ScenarioResult:
    number: int
    title: str
    acknowledged: int = 0  # events the API acknowledged (the scenario's ledger)
    stages: list[StageCount] = field(default_factory=list)
    recovery_s: float | None = None  # from the fault's injection or healing until recovered
    recovery_what: str = ""  # what recovery means in this scenario
    problems: list[str] = field(default_factory=list)  # failed expectations of the scenario itself
    notes: list[str] = field(default_factory=list)  # measured facts worth reading, not failures
    error: str | None = None  # the scenario did not run to the end (exception)
    elapsed_s: float = 0.0

    def stage(self, store: str) -> StageCount | None:
        return next((s for s in self.stages if s.stage == store), None)

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.stages)

    @property
    def duplicated(self) -> int:
        return sum(s.duplicated for s in self.stages)

    def failures(self) -> list[str]:
        """Why the scenario failed; empty when it passed."""
        reasons = [f"error: {self.error}"] if self.error else []
        if self.error is None and self.acknowledged == 0:
            reasons.append("the API acknowledged no event")
        if self.error is None and not self.stages:
            reasons.append("no store was reconciled")
        reasons += [f"{s.stage}: {s.lost:,} lost, {s.duplicated:,} duplicated" for s in self.stages if not s.ok]
        reasons += self.problems
        return reasons

    @property
    def ok(self) -> bool:
        return not self.failures()

    @property
    def verdict(self) -> str:
        return "ok" if self.ok else "FAILED"


def _cell(stage: StageCount | None) -> str:
    return "-" if stage is None else f"{stage.lost}/{stage.duplicated}"


def render_table(results: Sequence[ScenarioResult]) -> str:
    """The final table: per scenario, acknowledged events, lost/duplicated per store, recovery."""
    header = ["#", "scenario", "acked", *(f"{s} lost/dup" for s in STORES), "recovery s", "verdict"]
    rows = [
        [str(r.number), r.title, f"{r.acknowledged:,}", *(_cell(r.stage(s)) for s in STORES),
         "-" if r.recovery_s is None else f"{r.recovery_s:.1f}", r.verdict]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_details(results: Sequence[ScenarioResult]) -> str:
    """Per scenario: what recovery measured, the notes, and why it failed."""
    out = []
    for r in results:
        out.append(f"{r.number}. {r.title}: {r.verdict} ({r.elapsed_s:.0f}s)")
        if r.recovery_s is not None:
            out.append(f"   recovery {r.recovery_s:.1f}s: {r.recovery_what}")
        for stage in r.stages:
            out.append(f"   {stage.line()}")
        out += [f"   note: {note}" for note in r.notes]
        out += [f"   FAILED: {reason}" for reason in r.failures()]
    return "\n".join(out)


def exit_code(results: Sequence[ScenarioResult]) -> int:
    """0 when every scenario passed (and at least one ran), else 1."""
    return 0 if results and all(r.ok for r in results) else 1
