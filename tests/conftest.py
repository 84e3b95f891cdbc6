"""Suite-wide test settings.

Hypothesis's "too slow" health check times input generation; on a loaded two-core machine it fails
tests that are correct. Timing belongs in benchmarks (``tests/bench``), so it is off everywhere;
every other health check stays on.
"""

from hypothesis import HealthCheck, settings

settings.register_profile("jira-cleanup", suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("jira-cleanup")
