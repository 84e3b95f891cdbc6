"""Webhook deliveries: the X-Hub-Signature check, the issue-created body, and the desk/type filter."""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any

import pytest

from adapters.jsm import JsmConfig, JsmPayloadError, JsmRequest, matches, parse_webhook, sign, verify_signature

SECRET = "webhook-s3cret"
BODY = b'{"webhookEvent":"jira:issue_created"}'

PAYLOAD: dict[str, Any] = {
    "timestamp": 1764000000000,
    "webhookEvent": "jira:issue_created",
    "issue_event_type_name": "issue_created",
    "issue": {
        "id": "20001",
        "key": "HELP-1",
        "fields": {
            "summary": "Please restore my access",
            "created": "2026-11-24T10:00:00.000+0000",
            "project": {"id": "10000", "key": "HELP"},
            "reporter": {"accountId": "acc-7", "displayName": "Ada"},
            "customfield_10001": None,
            "customfield_10077": {"requestType": {"id": "12", "serviceDeskId": "3"}, "currentStatus": {}},
        },
    },
}


def payload() -> dict[str, Any]:
    """A fresh copy of the sample body, safe to mutate."""
    return copy.deepcopy(PAYLOAD)


class TestSignature:
    def test_a_signature_made_with_the_secret_verifies(self):
        """sign() produces the sha256=<hex> HMAC of the raw body, which verify_signature accepts."""
        header = sign(SECRET, BODY)
        assert header == "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
        assert verify_signature(SECRET, BODY, header)

    def test_hex_case_and_surrounding_space_do_not_matter(self):
        """Upper-case hex and stray whitespace around the header are tolerated."""
        hexdigest = sign(SECRET, BODY).removeprefix("sha256=")
        assert verify_signature(SECRET, BODY, f"  sha256={hexdigest.upper()} ")

    def test_a_changed_body_or_another_secret_fails(self):
        """The signature binds both the exact bytes and the secret."""
        header = sign(SECRET, BODY)
        assert not verify_signature(SECRET, BODY + b" ", header)
        assert not verify_signature("another-secret", BODY, header)

    def test_a_missing_header_fails(self):
        """No header, or an empty one, is never accepted."""
        assert not verify_signature(SECRET, BODY, None)
        assert not verify_signature(SECRET, BODY, "")

    @pytest.mark.parametrize(
        "header",
        [
            "sha1=" + hashlib.sha1(BODY).hexdigest(),
            "sha256",
            "sha256=",
            "sha256=not-hex",
            "sha256=" + "z" * 64,
            "sha256=" + "é" * 64,
            sign(SECRET, BODY)[:-1],
            sign(SECRET, BODY) + "0",
            sign(SECRET, BODY).removeprefix("sha256="),
        ],
    )
    def test_a_malformed_header_fails(self, header):
        """Wrong algorithm, no prefix, wrong length or non-hex digits are rejected without error."""
        assert not verify_signature(SECRET, BODY, header)

    def test_an_empty_secret_verifies_nothing(self):
        """A webhook without a configured secret must not accept a body signed with the empty key."""
        assert not verify_signature("", BODY, sign("", BODY))


class TestParseWebhook:
    def test_the_request_is_read_from_the_jira_format_body(self):
        """Key, id, reporter, project, summary, creation time and the request type custom field are read."""
        assert parse_webhook(payload()) == JsmRequest(
            issue_key="HELP-1",
            issue_id="20001",
            reporter_account_id="acc-7",
            project_key="HELP",
            request_type_id="12",
            service_desk_id="3",
            summary="Please restore my access",
            created="2026-11-24T10:00:00.000+0000",
        )

    def test_the_request_type_field_is_found_whatever_its_number(self):
        """The custom field is detected by its shape, not its name."""
        body = payload()
        fields = body["issue"]["fields"]
        fields["customfield_99999"] = fields.pop("customfield_10077")
        assert parse_webhook(body).request_type_id == "12"

    def test_an_issue_without_a_request_type_has_none(self):
        """A plain Jira issue parses, with no desk and no request type."""
        body = payload()
        del body["issue"]["fields"]["customfield_10077"]
        request = parse_webhook(body)
        assert (request.request_type_id, request.service_desk_id) == (None, None)

    def test_an_automation_body_without_webhook_event_is_accepted(self):
        """Jira Automation's "Jira format" body may omit webhookEvent."""
        body = payload()
        del body["webhookEvent"]
        assert parse_webhook(body).issue_key == "HELP-1"

    def test_numeric_ids_and_optional_fields(self):
        """Numeric ids become strings; a missing summary or created is tolerated."""
        body = payload()
        body["issue"]["id"] = 20001
        del body["issue"]["fields"]["summary"]
        del body["issue"]["fields"]["created"]
        request = parse_webhook(body)
        assert (request.issue_id, request.summary, request.created) == ("20001", "", None)

    def test_other_events_are_refused(self):
        """Only jira:issue_created is a new request."""
        body = payload()
        body["webhookEvent"] = "jira:issue_updated"
        with pytest.raises(JsmPayloadError) as caught:
            parse_webhook(body)
        assert caught.value.field == "webhookEvent"
        assert "jira:issue_updated" in str(caught.value)

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("issue", None),
            ("issue.key", None),
            ("issue.key", ""),
            ("issue.id", None),
            ("issue.fields", None),
            ("issue.fields", "text"),
            ("issue.fields.reporter", None),
            ("issue.fields.reporter.accountId", None),
            ("issue.fields.reporter.accountId", "  "),
            ("issue.fields.project", None),
            ("issue.fields.project.key", None),
        ],
    )
    def test_a_missing_or_bad_field_is_named(self, path, value):
        """Each required field, when missing or unusable, is named by its path in the error."""
        body = payload()
        *parents, last = path.split(".")
        target = body
        for name in parents:
            target = target[name]
        if value is None:
            del target[last]
        else:
            target[last] = value
        with pytest.raises(JsmPayloadError) as caught:
            parse_webhook(body)
        assert caught.value.field == path
        assert str(caught.value).startswith(path + ":")

    def test_a_body_that_is_not_an_object_is_refused(self):
        """A JSON list (or anything but an object) is a payload error, which is a ValueError."""
        with pytest.raises(ValueError, match="object"):
            parse_webhook([PAYLOAD])


class TestMatches:
    REQUEST = parse_webhook(PAYLOAD)

    @staticmethod
    def config(**kwargs: str | None) -> JsmConfig:
        return JsmConfig("https://acme.atlassian.net", "agent@acme.example", "token", **kwargs)

    def test_without_a_configured_desk_or_type_everything_matches(self):
        """None means "accept any request"."""
        assert matches(self.config(), self.REQUEST)

    def test_the_configured_desk_and_type_must_both_match(self):
        """A request of another desk or another type is not a restore request."""
        assert matches(self.config(service_desk_id="3", request_type_id="12"), self.REQUEST)
        assert matches(self.config(request_type_id="12"), self.REQUEST)
        assert not matches(self.config(service_desk_id="4"), self.REQUEST)
        assert not matches(self.config(service_desk_id="3", request_type_id="13"), self.REQUEST)

    def test_an_issue_without_a_request_type_does_not_match_a_configured_type(self):
        """A plain Jira issue is not mistaken for the configured request type."""
        body = payload()
        del body["issue"]["fields"]["customfield_10077"]
        assert not matches(self.config(request_type_id="12"), parse_webhook(body))
        assert matches(self.config(), parse_webhook(body))
