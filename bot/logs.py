"""Logging set-up with redaction: secrets and email addresses never reach the log output.

Known secret values (API key, Slack tokens and signing secret, Bot Framework password, SMTP
password...) are replaced wherever they appear, and token-shaped strings are masked even
when not configured, as a second line of defence.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

_PATTERNS = (
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]{6,}"), "xox?-***"),
    (re.compile(r"xapp-[A-Za-z0-9-]{6,}"), "xapp-***"),
    (re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 ***"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "<email>"),
)


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets and emails masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """``text`` with every known secret and secret-shaped string masked."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def configure_logging(level: str = "WARNING", secrets: Iterable[str] = (), stream: object = None) -> logging.Handler:
    """Send logs to stderr (or ``stream``) through the redacting filter; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_jira_cleanup", False):
            root.removeHandler(old)
    handler._jira_cleanup = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Each audit checkpoint is also a log line (a copy outside the database and the checkpoint file).
    logging.getLogger("jira_cleanup.audit").setLevel(logging.INFO)
    return handler
