"""Suite-wide test settings.

Hypothesis's "too slow" health check times input generation; on a loaded two-core machine it fails
tests that are correct. Timing belongs in benchmarks (``tests/bench``), so it is off everywhere;
every other health check stays on.

``chromium`` (headless Chromium, :mod:`tests.browser`) is a session fixture for every test folder.
"""

from hypothesis import HealthCheck, settings

from tests.browser import chromium as chromium  # the fixture, suite-wide

settings.register_profile("jira-cleanup", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("jira-cleanup")
