"""Structured log lines: JSON or one readable line, bound context on every line, always redacted."""

import io
import json
import logging

import pytest
import structlog

from bot.logs import configure_logging
from bot.settings import SettingsError, load_settings
from core.logcontext import bound, current

SECRET = "atl-api-key-123456"


def _capture(fmt: str, emit) -> str:
    stream = io.StringIO()
    handler = configure_logging("INFO", secrets=[SECRET], stream=stream, fmt=fmt)
    try:
        emit()
    finally:
        logging.getLogger().removeHandler(handler)
        structlog.reset_defaults()
    return stream.getvalue()


def test_json_lines_carry_the_bound_org_run_and_account():
    def emit():
        with bound(org="org-1", run_id="run-7"), bound(account="acc-42"):
            logging.getLogger("test.structured").info("suspended %s", "acc-42")
        logging.getLogger("test.structured").warning("after the run")

    lines = [json.loads(line) for line in _capture("json", emit).splitlines()]
    assert lines[0]["org"] == "org-1"
    assert lines[0]["run_id"] == "run-7"
    assert lines[0]["account"] == "acc-42"
    assert lines[0]["event"] == "suspended acc-42"
    assert lines[0]["level"] == "info"
    assert lines[0]["logger"] == "test.structured"
    assert "timestamp" in lines[0]
    assert "org" not in lines[1]
    assert current() == {}


def test_structlog_loggers_write_the_same_json_lines():
    def emit():
        with bound(org="org-1"):
            structlog.get_logger("test.native").info("native", account="acc-1")

    (line,) = [json.loads(line) for line in _capture("json", emit).splitlines()]
    assert line["org"] == "org-1"
    assert line["account"] == "acc-1"
    assert line["event"] == "native"


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_secrets_and_emails_in_fields_are_redacted(fmt):
    def emit():
        with bound(org="org-1", account="ada@acme.example", note=f"key {SECRET}"):
            logging.getLogger("test.structured").warning(
                "plain", extra={"owner": "grace@acme.example", "token": "xoxb-1234-5678-abcdefgh"}
            )
            structlog.get_logger("test.native").warning("native", header=f"Bearer {SECRET}")
            try:
                raise ValueError(f"boom for bob@acme.example with {SECRET}")
            except ValueError:
                logging.getLogger("third.party").exception("failed")

    text = _capture(fmt, emit)
    for leaked in (SECRET, "ada@acme.example", "grace@acme.example", "bob@acme.example", "xoxb-1234"):
        assert leaked not in text
    assert "<email>" in text
    assert "ValueError" in text
    if fmt == "json":
        first = json.loads(text.splitlines()[0])
        assert first["account"] == "<email>"
        assert first["owner"] == "<email>"


def test_console_format_is_one_readable_line():
    def emit():
        with bound(org="org-1", run_id="run-7"):
            logging.getLogger("test.structured").warning("scan finished in %ss", 3)

    text = _capture("console", emit)
    assert text.count("\n") == 1
    assert "scan finished in 3s" in text
    assert "org=org-1" in text
    assert "run_id=run-7" in text
    assert "warning" in text
    assert not text.lstrip().startswith("{")


def test_the_audit_logger_still_writes_at_info():
    stream = io.StringIO()
    handler = configure_logging("ERROR", stream=stream, fmt="json")
    try:
        logging.getLogger("jira_cleanup.audit").info("audit checkpoint %s", 1)
    finally:
        logging.getLogger().removeHandler(handler)
        structlog.reset_defaults()
    assert json.loads(stream.getvalue())["event"] == "audit checkpoint 1"


def test_log_format_setting(monkeypatch):
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert load_settings().log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings()
