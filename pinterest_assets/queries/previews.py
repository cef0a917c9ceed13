"""What an analytics materialisation shows in the UI: a markdown table and a bar chart."""

from __future__ import annotations

from collections.abc import Sequence

BAR_WIDTH = 30


def _cell(value) -> str:
    text = "" if value is None else (f"{value:,.1f}" if isinstance(value, float) else str(value))
    return text.replace("|", "\\|")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence], limit: int = 20) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n_{len(rows) - limit} more rows_")
    return "\n".join(lines)


def bar_chart(columns: Sequence[str], rows: Sequence[Sequence], limit: int = 20) -> str:
    """A text bar chart of the last (numeric) column against the others, largest first."""
    values = [(" / ".join(_cell(v) for v in row[:-1]), row[-1]) for row in rows if row[-1] is not None]
    values.sort(key=lambda pair: pair[1], reverse=True)
    values = values[:limit]
    if not values:
        return "_no data_"
    top = max(v for _, v in values) or 1
    width = max(len(label) for label, _ in values)
    lines = [f"{label.ljust(width)} | {'█' * max(1, round(BAR_WIDTH * v / top))} {_cell(v)}" for label, v in values]
    return f"**{columns[-1]}** by {' / '.join(columns[:-1])}\n\n```\n" + "\n".join(lines) + "\n```"
