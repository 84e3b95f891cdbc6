"""`jira-cleanup policy schema`: the JSON Schema editors use to check policy files as they are typed."""

import json

import jsonschema
import pytest
import yaml

from core.policy import parse_policy
from tests.cli.conftest import run


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    """What `jira-cleanup policy schema` prints: a valid JSON Schema (draft 2020-12)."""
    done = run("policy", "schema", cwd=tmp_path_factory.mktemp("schema"))
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(printed)
    return printed


def test_the_sample_policy_is_valid_against_the_schema(schema, tmp_path):
    assert run("policy", "init", "policy.yml", cwd=tmp_path).returncode == 0
    sample = yaml.safe_load((tmp_path / "policy.yml").read_text(encoding="utf-8"))
    jsonschema.validate(sample, schema)
    restore = {
        "sources": ["slack", "jsm"],
        "auto_approve": [{"name": "eng", "groups": ["engineering"], "email_domains": ["*.acme.com"]}],
        "limit": {"max": 0, "per_days": 30},
        "deny_groups": ["hr-offboarded"],
    }
    full = {**sample, "restore": restore, "safety": {"caps": {"per_run": {"max_actions": None}}}}
    jsonschema.validate(full, schema)
    parse_policy(full)  # what the schema accepts here, the parser accepts too


def test_the_schema_refuses_unknown_keys_and_bad_values(schema):
    rule = {"product": "any", "inactive_days": 180, "action": "suspend"}
    jsonschema.validate({"rules": [rule]}, schema)
    for bad in (
        {"rules": [rule], "schedule": "0 6 * * *"},  # lifecycle.schedule, at the wrong level
        {"rules": [{**rule, "inactve_days": 3}]},
        {"rules": [rule], "safety": {"canary": {"size": 5, "max_eror_rate": 0.1}}},
        {"rules": [{**rule, "inactive_days": 0}]},
        {"rules": [{**rule, "action": "nuke"}]},
        {"rules": []},
        {"rules": [rule], "lifecycle": {"delivery_order": ["pigeon"]}},
    ):
        validator = jsonschema.Draft202012Validator(schema)
        assert list(validator.iter_errors(bad)), bad


def test_the_schema_describes_fields_with_defaults_and_constraints(schema):
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["rules"]
    days = schema["$defs"]["AuditFile"]["properties"]["retention_days"]
    assert (days["default"], days["minimum"]) == (400, 365)
    assert days["description"]
    keep = schema["$defs"]["KeepFile"]
    assert keep["additionalProperties"] is False
    assert keep["properties"]["days"]["default"] == 90


def test_schema_output_file(schema, tmp_path):
    done = run("policy", "schema", "--output", "schemas/policy.schema.json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = json.loads((tmp_path / "schemas" / "policy.schema.json").read_text(encoding="utf-8"))
    assert written == schema
    assert "yaml-language-server: $schema=schemas/policy.schema.json" in done.stdout
