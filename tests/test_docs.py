"""The documentation generated from the rule table stays in step with it."""

from pathlib import Path

from dualad.rules import RULES, coverage_table

ROOT = Path(__file__).resolve().parents[1]


def test_coverage_page_matches_rule_table():
    page = (ROOT / "docs" / "coverage.md").read_text()
    assert coverage_table() in page, "docs/coverage.md is stale: regenerate it from dualad.rules.coverage_table()"


def test_every_rule_is_listed():
    table = coverage_table()
    for name in RULES:
        assert f"| {name} |" in table
