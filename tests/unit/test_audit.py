"""devstack.audit against a fake PyPI JSON API: per-release data when the index has it, the
project's latest release otherwise, and everything else reported as not audited."""

from __future__ import annotations

import pytest

from devstack import audit as audit_module
from devstack.audit import audit, main, report

INDEX = "https://index.test/pypi"
FLAW = {"id": "PYSEC-0-1", "aliases": ["CVE-0-1"], "fixed_in": ["2.0"], "summary": "a flaw"}


@pytest.fixture
def pages(monkeypatch):
    """URL -> JSON document the fake index serves (anything else: 404)."""
    served: dict[str, dict] = {}
    monkeypatch.setattr(audit_module, "_json", lambda url: served.get(url))
    return served


def test_a_release_the_index_knows_is_audited_with_its_vulnerabilities(pages):
    pages[f"{INDEX}/lib/1.0/json"] = {"info": {"version": "1.0"}, "vulnerabilities": [FLAW]}
    result = audit("lib", "1.0", INDEX)
    assert result.vulnerabilities == [FLAW] and result.not_audited is None


def test_without_per_release_data_the_latest_release_is_audited_from_the_project_page(pages):
    pages[f"{INDEX}/lib/json"] = {"info": {"version": "1.0"}, "vulnerabilities": []}
    result = audit("lib", "1.0", INDEX)
    assert result.vulnerabilities == [] and result.not_audited is None


def test_an_older_release_without_per_release_data_is_not_audited_and_says_why(pages):
    pages[f"{INDEX}/lib/json"] = {"info": {"version": "2.0"}, "vulnerabilities": []}
    result = audit("lib", "1.0", INDEX)
    assert result.not_audited == "the index serves no data for this release, only for the latest (2.0)"
    assert audit("gone", "1.0", INDEX).not_audited == "not on the index"


def test_the_report_names_each_vulnerability_and_each_package_not_audited(pages):
    pages[f"{INDEX}/lib/1.0/json"] = {"vulnerabilities": [FLAW]}
    pages[f"{INDEX}/old/json"] = {"info": {"version": "9"}}
    text = report([audit("lib", "1.0", INDEX), audit("old", "1", INDEX)])
    assert "VULNERABLE lib 1.0: PYSEC-0-1 (CVE-0-1); fixed in 2.0" in text
    assert "not audited old 1: the index serves no data for this release, only for the latest (9)" in text
    assert text.endswith("[audit] 2 distributions: 1 audited, 1 not audited; 1 known vulnerability")


@pytest.mark.parametrize(
    ("documents", "strict", "status"),
    [
        ({"a/1/json": {"vulnerabilities": []}}, True, 0),
        ({"a/1/json": {"vulnerabilities": [FLAW]}}, False, 1),
        ({"a/json": {"info": {"version": "2"}}}, False, 0),
        ({"a/json": {"info": {"version": "2"}}}, True, 2),
    ],
)
def test_exit_status(monkeypatch, capsys, documents, strict, status):
    monkeypatch.setattr(audit_module, "installed", lambda skip: {"a": "1"})
    monkeypatch.setattr(
        audit_module, "_json", lambda url: documents.get(url.removeprefix(audit_module.PYPI_JSON + "/"))
    )
    assert main(["--strict"] if strict else []) == status
    assert "[audit] 1 distributions" in capsys.readouterr().out
