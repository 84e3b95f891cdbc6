"""Log redaction: no secret and no email address reaches the output."""

import io
import logging

from bot.logs import configure_logging


def test_secrets_and_emails_never_reach_the_log():
    """Configured secrets, token-shaped strings and emails are masked, also inside tracebacks."""
    stream = io.StringIO()
    handler = configure_logging("INFO", secrets=["s3cr3t-signing-value", "atl-api-key-123456"], stream=stream)
    log = logging.getLogger("test.redaction")
    try:
        log.info("signing secret %s and key %s", "s3cr3t-signing-value", "atl-api-key-123456")
        log.warning("bot token xoxb-1234-5678-abcdefgh, app token xapp-1-A0B1-2345")
        log.warning("header Authorization: Bearer eyJhbGciOi.payload.sig for ada@acme.example")
        try:
            raise ValueError("boom for grace@acme.example with atl-api-key-123456")
        except ValueError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    for leaked in (
        "s3cr3t-signing-value",
        "atl-api-key-123456",
        "xoxb-1234",
        "xapp-1-A0B1",
        "eyJhbGciOi",
        "ada@acme.example",
        "grace@acme.example",
    ):
        assert leaked not in text
    assert "<email>" in text
    assert "Bearer ***" in text
    assert "ValueError" in text
