"""docs/DATA_QUALITY.md names every rule of the contract with its stage, and every reason that
only cleaning gives (the doc is written by hand; this keeps it in step with the code)."""

from __future__ import annotations

import re

from pinterest_common import quarantine
from pinterest_common.config import REPO_ROOT
from pinterest_common.schema import EDGE, EVENT_TYPES

DOC = (REPO_ROOT / "docs" / "DATA_QUALITY.md").read_text()


def rule_table_rows() -> dict[tuple[str, str], tuple[str, str]]:
    """(event, field) -> (edge cell, cleaning cell) of the side-by-side table."""
    rows = {}
    for line in DOC.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0] in EVENT_TYPES:
            for field in re.findall(r"`([a-z_]+)`", cells[1]):
                rows[(cells[0], field)] = (cells[3], cells[4])
    return rows


def test_every_rule_is_in_the_table_under_its_stage():
    rows = rule_table_rows()
    for name, event_type in EVENT_TYPES.items():
        for field in event_type.fields:
            for rule in field.rules:
                edge, cleaning = rows[(name, field.name)]
                assert f"`{rule.name}`" in (edge if rule.stage == EDGE else cleaning), (name, field.name, rule.name)


def test_every_record_reason_is_listed():
    for reason in (
        quarantine.INVALID_HEADERS,
        quarantine.NO_VALUE,
        quarantine.VALUE_NOT_UTF8,
        quarantine.VALUE_NOT_JSON,
        quarantine.VALUE_NOT_OBJECT,
    ):
        assert f"| `{reason}` |" in DOC
    assert f"`{quarantine.MISSING_FIELD}:<field>`" in DOC and f"`{quarantine.WRONG_TYPE}:<field>`" in DOC


def test_the_readme_links_the_page():
    assert "docs/DATA_QUALITY.md" in (REPO_ROOT / "README.md").read_text()
