"""JsmClient against the sandbox's JSM over loopback HTTP, and against MockTransport for retries and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

import adapters.jsm.client as jsm_client
from adapters.jsm import (
    JsmAuthError,
    JsmClient,
    JsmConfig,
    JsmError,
    JsmNotFound,
    JsmUnavailable,
    matches,
    parse_webhook,
    sign,
    verify_signature,
)
from adapters.sandbox import Fault, SandboxConfig, SandboxServer, generate_org

EMAIL, TOKEN = "agent@acme.example", "jsm-api-token"  # the sandbox's default JSM site user
SITE = "https://acme.atlassian.net"


class FakeSleep:
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
async def sandbox() -> AsyncIterator[SandboxServer]:
    async with SandboxServer(generate_org(users=2, seed=1), SandboxConfig(control_api=True)) as server:
        yield server


@pytest.fixture
async def control(sandbox: SandboxServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sandbox.base_url) as http:
        yield http


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
async def client(sandbox: SandboxServer, sleep: FakeSleep) -> AsyncIterator[JsmClient]:
    async with JsmClient(JsmConfig(sandbox.base_url + "/", EMAIL, TOKEN), sleep=sleep) as jsm:
        yield jsm


async def new_request(control: httpx.AsyncClient, reporter: str = "acc-7") -> str:
    made = await control.post("/_sandbox/jsm/requests", json={"reporter": reporter})
    assert made.status_code == 201
    return str(made.json()["issueKey"])


async def stored(control: httpx.AsyncClient, key: str) -> dict[str, object]:
    return dict((await control.get(f"/_sandbox/jsm/requests/{key}")).json())


class TestAgainstTheSandbox:
    async def test_comments_reach_the_request_public_or_internal(self, client, control):
        """Comments carry their body and visibility."""
        key = await new_request(control)
        await client.comment(key, "We are on it")
        await client.comment(key, "Checked the audit log", public=False)
        comments = (await stored(control, key))["comments"]
        assert [(c["body"], c["public"]) for c in comments] == [
            ("We are on it", True),
            ("Checked the audit log", False),
        ]

    async def test_the_sandboxs_webhook_body_parses_and_verifies(self, control):
        """The control API's issue_created body is what parse_webhook expects, and survives signing."""
        made = (await control.post("/_sandbox/jsm/requests", json={"reporter": "acc-7"})).json()
        rebuilt = (await control.get(f"/_sandbox/jsm/requests/{made['issueKey']}/webhook")).json()
        body = json.dumps(rebuilt).encode()
        assert verify_signature("hook-secret", body, sign("hook-secret", body))
        request = parse_webhook(json.loads(body))
        assert (request.issue_key, request.reporter_account_id) == (made["issueKey"], "acc-7")
        assert (request.service_desk_id, request.request_type_id) == ("1", "10")
        assert matches(JsmConfig(SITE, EMAIL, TOKEN, service_desk_id="1", request_type_id="10"), request)

    async def test_get_request_returns_the_customer_request(self, client, control):
        """The DTO has the key, the reporter and the current status."""
        key = await new_request(control, reporter="acc-9")
        request = await client.get_request(key)
        assert request["issueKey"] == key
        assert request["reporter"] == {"accountId": "acc-9"}
        assert request["currentStatus"]["status"] == "Waiting for support"

    async def test_transition_by_name_in_any_case_with_a_comment(self, client, control):
        """Resolving moves the request and adds the comment; afterwards only Reopen is offered."""
        key = await new_request(control)
        assert [name for _, name in await client.transitions(key)] == ["Resolved", "Declined"]
        assert await client.transition(key, "  rESOLVED ", "Your access is back.")
        state = await stored(control, key)
        assert state["status"] == "Resolved"
        assert [c["body"] for c in state["comments"]] == ["Your access is back."]
        assert [name for _, name in await client.transitions(key)] == ["Reopen"]

    async def test_an_unavailable_transition_does_nothing(self, client, control, sandbox):
        """A request already resolved cannot be declined: False, no POST, no comment."""
        key = await new_request(control)
        assert await client.transition(key, "Declined")
        sandbox.reset_log()
        assert not await client.transition(key, "Resolved", "ignored")
        assert not await client.transition(key, "No such transition")
        assert sandbox.mutating_requests() == []
        state = await stored(control, key)
        assert (state["status"], state["comments"]) == ("Declined", [])

    async def test_transitions_follow_the_pages(self, client, control, sandbox, monkeypatch):
        """With one transition per page, both are still found, asking for start=0 then start=1."""
        monkeypatch.setattr(jsm_client, "PAGE_LIMIT", 1)
        key = await new_request(control)
        sandbox.reset_log()
        assert [name for _, name in await client.transitions(key)] == ["Resolved", "Declined"]
        assert [r.query["start"] for r in sandbox.request_log] == [["0"], ["1"]]

    async def test_an_unknown_request_is_not_found(self, client):
        """404 becomes JsmNotFound naming the key and the status."""
        with pytest.raises(JsmNotFound, match=r"HELP-404.*404") as caught:
            await client.comment("HELP-404", "hello")
        assert (caught.value.issue_key, caught.value.status) == ("HELP-404", 404)
        with pytest.raises(JsmNotFound):
            await client.transitions("HELP-404")

    async def test_wrong_credentials_raise_without_revealing_the_token(self, sandbox, control):
        """401 becomes JsmAuthError; neither the message nor the config's repr shows the token."""
        key = await new_request(control)
        config = JsmConfig(sandbox.base_url, EMAIL, "wrong-secret-token")
        async with JsmClient(config, sleep=FakeSleep()) as jsm:
            with pytest.raises(JsmAuthError) as caught:
                await jsm.comment(key, "hello")
        assert caught.value.status == 401
        assert key in str(caught.value)
        assert "wrong-secret-token" not in str(caught.value)
        assert "wrong-secret-token" not in repr(config)

    async def test_a_refused_body_is_a_plain_jsm_error_with_the_servers_reason(self, client, control):
        """400 is not retried and carries JSM's errorMessage."""
        key = await new_request(control)
        with pytest.raises(JsmError, match="comment body is required") as caught:
            await client.comment(key, "")
        assert type(caught.value) is JsmError
        assert caught.value.status == 400

    async def test_rate_limits_and_gateway_errors_are_retried(self, client, control, sandbox, sleep):
        """429 (waiting its Retry-After) and 503 are retried; the comment lands exactly once."""
        key = await new_request(control)
        sandbox.config.faults.add(
            Fault("429", path="/comment", nth={1}, retry_after=7),
            Fault("503", path="/comment", nth={2}),
        )
        await client.comment(key, "hello")
        assert sleep.waits[0] == 7
        assert len(sleep.waits) == 2
        assert [c["body"] for c in (await stored(control, key))["comments"]] == ["hello"]

    async def test_a_plain_500_on_a_write_is_not_retried_but_on_a_read_it_is(self, client, control, sandbox, sleep):
        """A write may have half-happened on 500, so it is not repeated; a read is."""
        key = await new_request(control)
        sandbox.config.faults.add(Fault("500", path="/comment", method="POST", nth={1}))
        with pytest.raises(JsmUnavailable, match="500"):
            await client.comment(key, "hello")
        assert sleep.waits == []
        sandbox.config.faults.add(Fault("500", path="/transition", method="GET", nth={1}))
        assert len(await client.transitions(key)) == 2
        assert len(sleep.waits) == 1

    async def test_retries_are_bounded_by_max_attempts(self, sandbox, control, sleep):
        """A JSM that keeps failing is given max_attempts tries, then JsmUnavailable."""
        key = await new_request(control)
        sandbox.config.faults.add(Fault("503", path="/rest/servicedeskapi/"))
        sandbox.reset_log()
        async with JsmClient(JsmConfig(sandbox.base_url, EMAIL, TOKEN, max_attempts=3), sleep=sleep) as jsm:
            with pytest.raises(JsmUnavailable, match=rf"{key}.*503") as caught:
                await jsm.get_request(key)
        assert caught.value.status == 503
        assert len(sandbox.request_log) == 3
        assert len(sleep.waits) == 2


def mock_client(
    handler: Callable[[httpx.Request], httpx.Response], sleep: FakeSleep, max_attempts: int = 4
) -> JsmClient:
    config = JsmConfig(SITE, EMAIL, TOKEN, max_attempts=max_attempts)
    http = httpx.AsyncClient(base_url=config.site_url, transport=httpx.MockTransport(handler))
    return JsmClient(config, sleep=sleep, http=http)


class TestWithMockTransport:
    async def test_transition_posts_the_id_and_the_additional_comment(self, sleep):
        """The POST body is {"id", "additionalComment": {"body"}}, or just {"id"} without a comment."""
        posted: list[object] = []

        def handler(request: httpx.Request) -> httpx.Response:
            if request.method == "GET":
                values = [{"id": "11", "name": "Resolved"}, {"id": "12", "name": "Declined"}]
                return httpx.Response(200, json={"isLastPage": True, "values": values})
            posted.append(json.loads(request.content))
            return httpx.Response(204)

        async with mock_client(handler, sleep) as jsm:
            assert await jsm.transition("HELP-1", "declined", "Not this time")
            assert await jsm.transition("HELP-1", "Resolved")
        assert posted == [{"id": "12", "additionalComment": {"body": "Not this time"}}, {"id": "11"}]

    async def test_retry_after_is_honoured_but_capped(self, sleep):
        """A huge Retry-After is capped; without one the backoff grows."""
        answers = iter([httpx.Response(429, headers={"Retry-After": "3600"}), httpx.Response(502)])

        def handler(request: httpx.Request) -> httpx.Response:
            return next(answers, httpx.Response(200, json={"issueKey": "HELP-1"}))

        async with mock_client(handler, sleep) as jsm:
            assert (await jsm.get_request("HELP-1"))["issueKey"] == "HELP-1"
        assert sleep.waits == [jsm_client.MAX_WAIT, 4.0]

    async def test_network_failures_are_retried_then_reported(self, sleep):
        """Connection errors are retried with backoff, then raise JsmUnavailable naming the key."""
        calls = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            raise httpx.ConnectError("refused", request=request)

        async with mock_client(handler, sleep, max_attempts=3) as jsm:
            with pytest.raises(JsmUnavailable, match=r"HELP-5.*ConnectError"):
                await jsm.comment("HELP-5", "hello")
        assert calls == 3
        assert sleep.waits == [2.0, 4.0]

    async def test_forbidden_is_an_auth_error(self, sleep):
        """403 (no permission on the desk) is JsmAuthError too, and not retried."""

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(403, json={"errorMessage": "You do not have permission"})

        async with mock_client(handler, sleep) as jsm:
            with pytest.raises(JsmAuthError, match=r"HELP-2.*403"):
                await jsm.comment("HELP-2", "hello")
        assert sleep.waits == []


class TestConfig:
    def test_the_site_url_loses_its_trailing_slash(self):
        assert JsmConfig(SITE + "/", EMAIL, TOKEN).site_url == SITE

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"site_url": "acme.atlassian.net"}, "site_url"),
            ({"site_url": "ftp://acme.atlassian.net"}, "site_url"),
            ({"email": ""}, "email"),
            ({"api_token": ""}, "api_token"),
            ({"timeout": 0}, "timeout"),
            ({"max_attempts": 0}, "max_attempts"),
        ],
    )
    def test_bad_values_name_the_field(self, kwargs, field):
        values: dict[str, object] = {"site_url": SITE, "email": EMAIL, "api_token": TOKEN, **kwargs}
        with pytest.raises(ValueError, match=f"^{field}:"):
            JsmConfig(**values)  # type: ignore[arg-type]
