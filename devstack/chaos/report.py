"""The fault suite's results: one ScenarioResult per scenario, its verdict, and the final table.

Pure logic (no services), unit-tested in tests/unit/test_chaos_report.py. A scenario is
reconciled by client event (devstack.reconcile.ClientCount): what its clients tried (the
ledger), against Kafka and the raw lake (every acknowledged event at least once; copies from
retries allowed and counted) and the streaming store (every acknowledged event exactly once, no
unacknowledged event more than once; how many unacknowledged events arrived anyway is reported).
A scenario passes when it ran to the end, acknowledged events, reconciled at least one store,
every store it reconciled holds to its rule, its clients retried if the fault must make them
(`must_retry`: Kafka faults, which answer 503 or time out), and none of its own expectations
failed (e.g. the emulator gave up on events, garbage was not kept in the raw lake exactly once).
Once per suite, the cleaned tables (CleanedCheck): after a full batch pass on the shared stack,
every acknowledged event of its scenarios cleaned, superseded or quarantined, none unaccounted,
none twice (devstack.accounting).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from devstack.reconcile import FAILED, ClientCount, ClientLedger

# The stores a scenario may reconcile (ClientCount.stage); the streaming store is "downstream".
KAFKA, RAW_LAKE, STREAMING = "Kafka", "raw lake", "streaming"
STORES = (KAFKA, RAW_LAKE, STREAMING)


@dataclass
class ScenarioResult:
    number: int
    title: str
    must_retry: bool = False  # the fault must make clients retry (a 503 or a timeout)
    tried: int = 0  # events the clients tried (the scenario's ledger)
    acknowledged: int = 0  # of those, acknowledged by the API
    retried: int = 0  # of those, sent more than once (under the same client id)
    unacknowledged: int = 0  # of those, still unacknowledged when the client gave up
    stages: list[ClientCount] = field(default_factory=list)
    recovery_s: float | None = None  # from the fault's injection or healing until recovered
    recovery_what: str = ""  # what recovery means in this scenario
    problems: list[str] = field(default_factory=list)  # failed expectations of the scenario itself
    notes: list[str] = field(default_factory=list)  # measured facts worth reading, not failures
    error: str | None = None  # the scenario did not run to the end (exception)
    elapsed_s: float = 0.0

    def reconciled(self, ledger: ClientLedger, stages: list[ClientCount]) -> None:
        self.tried, self.acknowledged, self.retried = ledger.tried, ledger.acknowledged, ledger.retried
        self.unacknowledged = len(ledger.keys(FAILED))
        self.stages = stages

    def stage(self, store: str) -> ClientCount | None:
        return next((s for s in self.stages if s.stage == store), None)

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.stages)

    @property
    def duplicated_downstream(self) -> int | None:
        """Events (acknowledged or not) held more than once by a store that keeps one copy; None
        when no such store was reconciled."""
        exact = [s for s in self.stages if s.exact]
        return sum(s.duplicated + s.unacknowledged_duplicated for s in exact) if exact else None

    @property
    def unacknowledged_arrived(self) -> int:
        """Unacknowledged events that some reconciled store holds anyway."""
        return max((s.unacknowledged_found for s in self.stages), default=0)

    def failures(self) -> list[str]:
        """Why the scenario failed; empty when it passed."""
        reasons = [f"error: {self.error}"] if self.error else []
        if self.error is None and self.acknowledged == 0:
            reasons.append("the API acknowledged no event")
        if self.error is None and not self.stages:
            reasons.append("no store was reconciled")
        if self.error is None and self.must_retry and self.acknowledged and self.retried == 0:
            reasons.append("no event was retried: the fault caused no 503 or timeout")
        for stage in self.stages:
            reasons += stage.problems()
        reasons += self.problems
        return reasons

    @property
    def ok(self) -> bool:
        return not self.failures()

    @property
    def verdict(self) -> str:
        return "ok" if self.ok else "FAILED"


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render_table(results: Sequence[ScenarioResult]) -> str:
    """The final table: per scenario, events tried, acknowledged and retried, the copies in Kafka
    beyond the first, acknowledged events lost anywhere, events held more than once downstream
    (must be 0), unacknowledged events that arrived anyway, the recovery time and the verdict."""
    header = [
        "#",
        "scenario",
        "tried",
        "acked",
        "retried",
        "Kafka copies",
        "lost",
        "dup downstream",
        "unacked arrived",
        "recovery s",
        "verdict",
    ]
    rows = []
    for r in results:
        kafka = r.stage(KAFKA)
        rows.append(
            [
                str(r.number),
                r.title,
                f"{r.tried:,}",
                f"{r.acknowledged:,}",
                f"{r.retried:,}",
                _number(kafka.copies if kafka else None),
                _number(r.lost if r.stages else None),
                _number(r.duplicated_downstream),
                f"{r.unacknowledged_arrived}/{r.unacknowledged}",
                "-" if r.recovery_s is None else f"{r.recovery_s:.1f}",
                r.verdict,
            ]
        )
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_details(results: Sequence[ScenarioResult]) -> str:
    """Per scenario: the ledger, what recovery measured, each store, the notes, and why it failed."""
    out = []
    for r in results:
        out.append(f"{r.number}. {r.title}: {r.verdict} ({r.elapsed_s:.0f}s)")
        out.append(
            f"   ledger: {r.tried:,} tried, {r.acknowledged:,} acknowledged, {r.retried:,} retried, "
            f"{r.unacknowledged:,} unacknowledged"
        )
        if r.recovery_s is not None:
            out.append(f"   recovery {r.recovery_s:.1f}s: {r.recovery_what}")
        for stage in r.stages:
            out.append(f"   {stage.line()}")
        out += [f"   note: {note}" for note in r.notes]
        out += [f"   FAILED: {reason}" for reason in r.failures()]
    return "\n".join(out)


ACCOUNTING_PREFIX = "cleaned + quarantined: "  # the first line of devstack.accounting's result


@dataclass
class CleanedCheck:
    """The batch side of the shared stack's scenarios: one full batch pass (drain, Spark clean
    step, analytics), then `python -m devstack.accounting` of their ledgers together."""

    scenarios: list[int]
    batch_returncode: int | None = None  # None: the pass did not run (or did not end)
    batch_s: float = 0.0
    accounting_returncode: int | None = None
    accounting_output: str = ""  # the accounting's stdout
    accounting_s: float = 0.0
    logs: list[str] = field(default_factory=list)  # where the batch pass and the accounting wrote
    error: str | None = None

    @property
    def result_lines(self) -> list[str]:
        """The accounting's result (`Accounting.line()`), without its prefix; empty if it printed none."""
        lines = self.accounting_output.splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith(ACCOUNTING_PREFIX)), None)
        return [] if start is None else [lines[start].removeprefix(ACCOUNTING_PREFIX), *lines[start + 1 :]]

    def failures(self) -> list[str]:
        """Why the cleaned tables failed the suite; empty when they passed."""
        reasons = [f"error: {self.error}"] if self.error else []
        if self.batch_returncode != 0:
            if self.batch_returncode is not None:
                reasons.append(f"the batch pass exited {self.batch_returncode}")
            elif not self.error:
                reasons.append("the batch pass did not run")
            return reasons
        if self.accounting_returncode is None:
            return reasons + ([] if self.error else ["the accounting did not run"])
        if self.accounting_returncode != 0:
            reasons.append(f"the accounting exited {self.accounting_returncode} (unaccounted or twice, or an error)")
        if not self.result_lines:
            reasons.append("the accounting printed no result")
        return reasons

    @property
    def ok(self) -> bool:
        return not self.failures()

    def render(self) -> str:
        """`cleaned tables (scenarios ...; batch pass Ns, accounting Ns): <the accounting's result>`."""
        lines = self.result_lines or ["no accounting"]
        head = (
            f"cleaned tables (scenarios {', '.join(map(str, self.scenarios))}; batch pass {self.batch_s:.0f}s, "
            f"accounting {self.accounting_s:.0f}s): {lines[0]}"
        )
        out = [head, *lines[1:], *(f"   FAILED: {reason}" for reason in self.failures())]
        return "\n".join(out + ([f"   logs: {', '.join(self.logs)}"] if not self.ok and self.logs else []))


def exit_code(results: Sequence[ScenarioResult], cleaned: CleanedCheck | None = None) -> int:
    """0 when every scenario passed (and at least one ran) and the cleaned tables (if checked) too, else 1."""
    return 0 if results and all(r.ok for r in results) and (cleaned is None or cleaned.ok) else 1
