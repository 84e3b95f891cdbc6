"""Suite-wide test settings.

Hypothesis's "too slow" health check times input generation; on a loaded two-core machine it fails
tests that are correct. Timing belongs in benchmarks (``tests/bench``), so it is off everywhere;
every other health check stays on.

``chromium`` (headless Chromium, :mod:`tests.browser`) is a session fixture for every test folder.

Tests that configure logging as the CLI does (``bot.logs.configure_logging``) change the root
logger; it is put back after every test, so a later test's ``caplog`` on the same worker still sees
warnings (it did not when a test left the root level at ERROR).
"""

import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.browser import chromium as chromium  # the fixture, suite-wide

settings.register_profile("jira-cleanup", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("jira-cleanup")


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    root, audit = logging.getLogger(), logging.getLogger("jira_cleanup.audit")
    level, handlers, audit_level = root.level, list(root.handlers), audit.level
    yield
    root.setLevel(level)
    audit.setLevel(audit_level)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
