"""Log context for the current run: fields (org, run id, account...) every log line carries.

Stdlib only. ``bound(**fields)`` adds fields for the duration of a ``with`` block (nested blocks
add to the outer ones); ``current()`` returns what is bound now. The logging set-up of the app
merges these fields into every line, whichever logger wrote it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

_EMPTY: Mapping[str, object] = MappingProxyType({})
_FIELDS: ContextVar[Mapping[str, object]] = ContextVar("jira_cleanup_log_fields", default=_EMPTY)


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """Bind ``fields`` (``None`` values skipped) to every log line written inside the block."""
    merged = {**_FIELDS.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _FIELDS.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _FIELDS.reset(token)


def current() -> Mapping[str, object]:
    """The fields bound now (read-only)."""
    return _FIELDS.get()
