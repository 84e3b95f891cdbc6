"""Preview CSV: RFC 4180, formula-safe, and the summary round-trips through plain data."""

import csv
import io

import pytest

from core.planner import decide, plan
from core.policy import parse_policy
from core.report import PREVIEW_COLUMNS, PreviewCsv, safe_cell, summary_from_mapping, summary_to_mapping
from tests.fakes import NOW, make_account

POLICY = parse_policy(
    {
        "rules": [{"product": "jira-software", "inactive_days": 30, "action": "remove_product_access"}],
        "prices": {"jira-software": "7.75"},
    }
)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM", "'@SUM"),
        ("\tx", "'\tx"),
        (" =1+1", "' =1+1"),
        ("\r=1", "'\r=1"),
        ("\u00a0=cmd", "'\u00a0=cmd"),
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20x", "'\uff20x"),
        ("ok", "ok"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_safe_cell(raw, safe):
    """Cells that a spreadsheet would run as formulas get a leading quote."""
    assert safe_cell(raw) == safe


def test_csv_is_rfc4180_and_round_trips_awkward_values():
    """Commas, quotes, newlines and unicode survive a strict reader; formulas are defused."""
    account = make_account(
        "acc,1", name='Zoë "Z" O\'Brien\nsecond line', email="=cmd@acme.example", products={"jira-software": 100}
    )
    stream = io.StringIO(newline="")
    writer = PreviewCsv(stream)
    writer.write("org-1", account, decide(account, POLICY, NOW))
    text = stream.getvalue()
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), strict=True))
    assert list(rows[0].keys()) == list(PREVIEW_COLUMNS)
    row = rows[0]
    assert row["account_id"] == "acc,1"
    assert row["name"] == 'Zoë "Z" O\'Brien\nsecond line'
    assert row["email"] == "'=cmd@acme.example"
    assert row["decision"] == "act"
    assert row["days_inactive"] == "100"
    assert row["last_active"].endswith("Z")
    assert writer.rows == 1


def test_summary_round_trips_through_mapping():
    """summary_to_mapping and summary_from_mapping are inverses (money stays exact)."""
    result = plan([make_account(f"a{i}", products={"jira-software": 100}) for i in range(3)], POLICY, NOW)
    data = summary_to_mapping(result.summary)
    assert data["products"]["jira-software"]["monthly_savings"] == "23.25"
    assert summary_from_mapping(data) == result.summary
