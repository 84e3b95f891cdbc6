"""The JSM adapter: signatures, webhook parsing, and the client against the sandbox and a mock."""

from __future__ import annotations

import json

import httpx
import pytest

from adapters.jsm import (
    JsmAuthError,
    JsmClient,
    JsmConfig,
    JsmNotFound,
    JsmPayloadError,
    JsmUnavailable,
    matches,
    parse_webhook,
    sign,
    verify_signature,
)
from adapters.sandbox import SandboxConfig, SandboxServer, generate_org

EMAIL, TOKEN = "agent@acme.example", "jsm-api-token"


def _webhook(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "summary": "Restore my access",
        "project": {"id": "10000", "key": "HELP"},
        "reporter": {"accountId": "acc-7"},
        "customfield_10042": {"requestType": {"id": "10", "serviceDeskId": "1"}},
    }
    base.update(fields)
    return {"webhookEvent": "jira:issue_created", "issue": {"id": "20001", "key": "HELP-1", "fields": base}}


def test_signatures_need_the_secret_the_exact_body_and_a_well_formed_header():
    body = b'{"a":1}'
    good = sign("s3cret", body)
    assert good.startswith("sha256=")
    assert verify_signature("s3cret", body, good)
    assert verify_signature("s3cret", body, good.upper().replace("SHA256=", "sha256="))
    assert not verify_signature("s3cret", body + b" ", good)
    assert not verify_signature("other", body, good)
    assert not verify_signature("", body, sign("", body))
    for header in (None, "", "sha1=abc", "sha256=", "sha256=zz", good[:-2]):
        assert not verify_signature("s3cret", body, header)


def test_the_webhook_body_is_read_whatever_the_request_type_field_is_called():
    request = parse_webhook(_webhook())
    assert (request.issue_key, request.reporter_account_id, request.project_key) == ("HELP-1", "acc-7", "HELP")
    assert (request.request_type_id, request.service_desk_id) == ("10", "1")
    automation = _webhook()
    del automation["webhookEvent"]  # Automation's "Jira format" body may leave it out
    assert parse_webhook(automation).issue_key == "HELP-1"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(webhookEvent="jira:issue_updated"), "webhookEvent"),
        (lambda b: b.pop("issue"), "issue"),
        (lambda b: b["issue"].pop("key"), "issue.key"),
        (lambda b: b["issue"]["fields"].pop("reporter"), "issue.fields.reporter"),
        (lambda b: b["issue"]["fields"]["reporter"].update(accountId=""), "issue.fields.reporter.accountId"),
        (lambda b: b["issue"]["fields"].pop("project"), "issue.fields.project"),
    ],
)
def test_bad_bodies_name_the_field(mutate, field):
    body = _webhook()
    mutate(body)
    with pytest.raises(JsmPayloadError) as caught:
        parse_webhook(body)
    assert caught.value.field == field
    with pytest.raises(JsmPayloadError):
        parse_webhook([1, 2])


def test_only_the_configured_desk_and_request_type_match():
    request = parse_webhook(_webhook())
    config = JsmConfig("https://acme.atlassian.net", EMAIL, TOKEN)
    assert matches(config, request)
    assert matches(JsmConfig("https://a.example", EMAIL, TOKEN, service_desk_id="1", request_type_id="10"), request)
    assert not matches(JsmConfig("https://a.example", EMAIL, TOKEN, request_type_id="11"), request)
    assert not matches(JsmConfig("https://a.example", EMAIL, TOKEN, service_desk_id="2"), request)


def test_bad_configuration_names_the_field():
    with pytest.raises(ValueError, match="site_url"):
        JsmConfig("acme.atlassian.net", EMAIL, TOKEN)
    with pytest.raises(ValueError, match="api_token"):
        JsmConfig("https://acme.atlassian.net", EMAIL, "")


@pytest.fixture
async def sandbox():
    server = SandboxServer(generate_org(users=3, seed=1), SandboxConfig(control_api=True))
    await server.start()
    yield server
    await server.stop()


async def test_comment_and_transition_against_the_sandbox(sandbox):
    async with httpx.AsyncClient(base_url=sandbox.base_url) as control:
        key = (await control.post("/_sandbox/jsm/requests", json={"reporter": "acc-7"})).json()["issueKey"]
        async with JsmClient(JsmConfig(sandbox.base_url, EMAIL, TOKEN)) as client:
            await client.comment(key, "On it")
            assert [name for _, name in await client.transitions(key)] == ["Resolved", "Declined"]
            assert await client.transition(key, "resolved", "Your access is back.")
            assert not await client.transition(key, "Resolved")  # not available any more: nothing happens
            assert (await client.get_request(key))["currentStatus"]["status"] == "Resolved"
            with pytest.raises(JsmNotFound):
                await client.comment("HELP-999", "x")
        state = (await control.get(f"/_sandbox/jsm/requests/{key}")).json()
        assert [c["body"] for c in state["comments"]] == ["On it", "Your access is back."]
        async with JsmClient(JsmConfig(sandbox.base_url, EMAIL, "wrong-token")) as client:
            with pytest.raises(JsmAuthError) as caught:
                await client.comment(key, "x")
            assert "wrong-token" not in str(caught.value)


async def test_rate_limits_are_waited_out_and_persistent_failures_raise():
    calls: list[dict[str, object]] = []
    answers = [httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(503), httpx.Response(201, json={})]

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        return answers[len(calls) - 1] if len(calls) <= len(answers) else httpx.Response(503)

    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    config = JsmConfig("https://acme.atlassian.net", EMAIL, TOKEN, max_attempts=3)
    http = httpx.AsyncClient(base_url=config.site_url, transport=httpx.MockTransport(handler))
    async with JsmClient(config, sleep=sleep, http=http) as client:
        await client.comment("HELP-1", "hello")
        assert slept[0] == 7
        assert calls == [{"body": "hello", "public": True}] * 3
        calls.clear()
        answers.clear()
        with pytest.raises(JsmUnavailable, match="HELP-2"):
            await client.comment("HELP-2", "hello")
