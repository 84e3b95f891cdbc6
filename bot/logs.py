"""Structured logging with redaction: secrets and email addresses never reach the log output.

Every line, from structlog or from stdlib ``logging`` (core, adapters, third-party libraries),
goes through one handler: ``LOG_FORMAT=json`` writes one JSON object a line, the default
``console`` writes one readable line. Fields bound with :func:`core.logcontext.bound` or
``structlog.contextvars`` (org, run id, account...) and ``extra=`` fields are added to each line.

Known secret values (API key, Slack tokens and signing secret, Bot Framework password, SMTP
password...) are replaced wherever they appear, and token-shaped strings are masked even
when not configured, as a second line of defence: in the message, in every field, in
exception text, and once more in the rendered line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from core.logcontext import current

_PATTERNS = (
    (re.compile(r"xox[abposr]-[A-Za-z0-9-]{6,}"), "xox?-***"),
    (re.compile(r"xapp-[A-Za-z0-9-]{6,}"), "xapp-***"),
    (re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 ***"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "<email>"),
)
FORMATS = ("console", "json")


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

    def redact_value(self, value: object) -> object:
        """``value`` with every string inside it (also in mappings and sequences) redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self.redact_value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # a structlog event: its fields are redacted by the formatter
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


def _add_core_context(_: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Merge the fields bound with :func:`core.logcontext.bound` (explicit fields win)."""
    for key, value in current().items():
        event.setdefault(key, value)
    return event


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Renders each record as one structured line, redacted field by field and as a whole."""

    def __init__(self, redactor: RedactingFilter, renderer: Any, pre_chain: list[Any]) -> None:
        self._redactor = redactor
        super().__init__(
            foreign_pre_chain=pre_chain,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                self._redact_fields,
                renderer,
            ],
        )

    def _redact_fields(self, _: object, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        return {str(k): self._redactor.redact_value(v) for k, v in event.items()}

    def format(self, record: logging.LogRecord) -> str:
        return self._redactor.redact(super().format(record))


def _pre_chain() -> list[Any]:
    """Processors that turn a stdlib record (or a structlog call) into the event fields."""
    return [
        structlog.contextvars.merge_contextvars,
        _add_core_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def _renderer(fmt: str) -> Any:
    if fmt == "json":
        return structlog.processors.JSONRenderer(default=str)
    return structlog.dev.ConsoleRenderer(
        colors=False, pad_event_to=0, exception_formatter=structlog.dev.plain_traceback
    )


def configure_logging(
    level: str = "WARNING", secrets: Iterable[str] = (), stream: object = None, fmt: str = "console"
) -> logging.Handler:
    """Send logs to stderr (or ``stream``) in ``fmt`` (console or json), redacted; returns the handler."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    redactor = RedactingFilter(secrets)
    pre_chain = _pre_chain()
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(_RedactingFormatter(redactor, _renderer(fmt), pre_chain))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_jira_cleanup", False):
            root.removeHandler(old)
    handler._jira_cleanup = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Each audit checkpoint is also a log line (a copy outside the database and the checkpoint file).
    logging.getLogger("jira_cleanup.audit").setLevel(logging.INFO)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *pre_chain,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler
