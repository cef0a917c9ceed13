"""What an analytics materialisation shows in the UI: its first rows as a metadata table and a
bar chart of its numeric answer as a PNG image (matplotlib, no display needed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

import dagster as dg

PREVIEW_ROWS = 20
CHART_BARS = 20


def _plain(value):
    """A value a metadata table cell can hold (str, int, float, bool or None)."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def preview_table(columns: Sequence[str], rows: Sequence[Sequence], limit: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first `limit` rows as a Dagster metadata table."""
    records = [dg.TableRecord({c: _plain(v) for c, v in zip(columns, row)}) for row in rows[:limit]]
    return dg.MetadataValue.table(records, schema=dg.TableSchema(columns=[dg.TableColumn(c) for c in columns]))


def bar_chart_png(columns: Sequence[str], rows: Sequence[Sequence], limit: int = CHART_BARS) -> bytes | None:
    """A horizontal bar chart of the last (numeric) column against the others, largest first, as
    PNG bytes; None when no row has a value."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    values = [(" / ".join(str(v) for v in row[:-1]), float(row[-1])) for row in rows if row[-1] is not None]
    values = sorted(values, key=lambda pair: pair[1], reverse=True)[:limit]
    if not values:
        return None
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(values) + 1.2), dpi=100)
    try:
        labels, numbers = zip(*reversed(values))
        axes.barh(labels, numbers, color="#4f6fad")
        axes.set_xlabel(columns[-1])
        axes.set_title(f"{columns[-1]} by {' / '.join(columns[:-1])}", fontsize=10)
        axes.tick_params(axis="y", labelsize=8)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def chart_markdown(columns: Sequence[str], rows: Sequence[Sequence]) -> dg.MetadataValue:
    """The bar chart embedded in Markdown (a data URI), as the UI shows it next to the answer."""
    png = bar_chart_png(columns, rows)
    if png is None:
        return dg.MetadataValue.md("_no data_")
    return dg.MetadataValue.md(f"![{columns[-1]}](data:image/png;base64,{base64.b64encode(png).decode()})")
