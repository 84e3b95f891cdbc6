"""``serve`` checks the digest's schedule before it starts, naming the policy field."""

from pathlib import Path

import pytest
import yaml

from bot.serving import served_orgs
from bot.settings import Settings, SettingsError

RULE = {"name": "org", "product": "any", "inactive_days": 180, "action": "suspend", "warn_days_before": 14}


def base(tmp_path: Path, digest: str) -> Settings:
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"rules": [RULE], "lifecycle": {"digest": digest}}))
    return Settings(_env_file=None, jira_cleanup_policy=str(policy), atlassian_org_id="org-1", atlassian_api_key="k")


def test_a_digest_that_can_never_fire_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"lifecycle\.digest: schedule '0 0 31 2 \*'"):
        served_orgs(base(tmp_path, "0 0 31 2 *"), None, None)


def test_a_valid_digest_schedule_is_served(tmp_path: Path) -> None:
    [served] = served_orgs(base(tmp_path, "0 8 * * mon"), None, None)
    assert served.policy.lifecycle.digest_cron == "0 8 * * mon"
