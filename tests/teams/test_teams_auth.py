"""/api/messages authentication and request validation (safety bar 29): never a 500, nothing runs.

The signed-token tests run botbuilder's real validation against a local OpenID metadata + JWKS
endpoint (a thread: botbuilder fetches it with blocking ``requests``) and RS256 tokens signed
with a key generated here. The activities used with a valid token need no outbound call.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from bot.settings import Settings, SettingsError
from bot.teams_app import build_teams, token_precheck

from .conftest import EVE_AAD, TENANT, World

APP_ID = "00000000-1111-2222-3333-444444444444"
ISSUER = "https://api.botframework.com"


class _Keys:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "k1", "use": "sig", "endorsements": ["msteams"]})
        self.jwks = {"keys": [jwk]}


@pytest.fixture(scope="module")
def keys() -> _Keys:
    return _Keys()


@pytest.fixture
def openid(keys: _Keys, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A local OpenID metadata + JWKS server (in a thread); yields the metadata URL."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            base = f"http://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/openid":
                body = {
                    "issuer": ISSUER,
                    "jwks_uri": base + "/jwks",
                    "id_token_signing_alg_values_supported": ["RS256"],
                }
            elif self.path == "/jwks":
                body = keys.jwks
            else:
                self.send_response(404)
                self.end_headers()
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/openid"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def secured(fake_connector, openid, tmp_path):
    """A world with a real app id: authentication on, keys from the local OpenID endpoint."""
    from .conftest import policy

    world = World(fake_connector, [], policy(), tmp_path, teams_local_dev=False, microsoft_app_id=APP_ID)
    overrides = {
        "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": openid,
        "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": ISSUER,
        "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": "https://api.botframework.com",
        "TO_CHANNEL_FROM_BOT_LOGIN_URL": "https://login.microsoftonline.com/botframework.com",
        "OAUTH_URL": "https://api.botframework.com",
        "TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL": openid,
    }
    world.teams = build_teams(world.settings, world.ops, world.conversations, auth_overrides=overrides)
    await world.start()
    yield world
    await world.stop()


def token(keys: _Keys, service_url: str, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": APP_ID,
        "serviceurl": service_url,
        "nbf": now - 10,
        "iat": now - 10,
        "exp": now + 600,
    }
    headers = {"kid": changes.pop("kid", "k1")}
    key = changes.pop("key", keys.key)
    alg = changes.pop("alg", "RS256")
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    if alg == "none":
        return jwt.encode(claims, None, algorithm="none", headers=headers)
    if alg == "HS256":
        return jwt.encode(claims, "a-shared-secret-that-is-long-enough!", algorithm="HS256", headers=headers)
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def typing_activity(world: World) -> dict[str, Any]:
    """An activity the bot ignores: a valid token gets 201 without any outbound call."""
    return world.base("typing", "29:eve", EVE_AAD, "a:dm-29:eve")


# -- configuration --------------------------------------------------------------------------------


def test_refuses_to_start_without_app_id_unless_local_dev(fake_connector, tmp_path, caplog) -> None:
    from .conftest import policy

    with pytest.raises(SettingsError, match="MICROSOFT_APP_ID"):
        World(fake_connector, [], policy(), tmp_path, teams_local_dev=False)
    World(fake_connector, [], policy(), tmp_path, teams_local_dev=True)
    assert "authentication is OFF" in caplog.text


def test_single_tenant_needs_password_and_tenant(fake_connector, tmp_path) -> None:
    from .conftest import policy

    with pytest.raises(SettingsError, match="MICROSOFT_APP"):
        World(fake_connector, [], policy(), tmp_path, microsoft_app_id=APP_ID, microsoft_app_type="singletenant")


def test_settings_validate_admin_ids_and_app_type() -> None:
    with pytest.raises(Exception, match="AAD object id"):
        Settings(_env_file=None, teams_admin_aad_ids="U123")
    with pytest.raises(Exception, match="MultiTenant"):
        Settings(_env_file=None, microsoft_app_type="Personal")
    assert Settings(_env_file=None, microsoft_app_type="usERassignedmsi").microsoft_app_type == "UserAssignedMSI"


# -- local dev (auth off) ---------------------------------------------------------------------------


async def test_request_validation_never_500(make_world) -> None:
    world = await make_world([])
    assert world.http is not None
    cases = [
        (await world.http.post("/api/messages", content=b"{}", headers={"Content-Type": "text/plain"}), 415),
        (await world.http.post("/api/messages", content=b"{nope", headers={"Content-Type": "application/json"}), 400),
        (await world.http.post("/api/messages", json=[1, 2]), 400),
        (await world.http.post("/api/messages", json={"text": "no type"}), 400),
    ]
    no_url = typing_activity(world)
    del no_url["serviceUrl"]
    cases.append((await world.post(no_url), 400))
    bad_url = typing_activity(world)
    bad_url["serviceUrl"] = "file:///etc/passwd"
    cases.append((await world.post(bad_url), 400))
    header = await world.post(typing_activity(world), headers={"Authorization": "Bearer junk"})
    cases.append((header, 401))
    assert [r.status_code for r, _ in cases] == [status for _, status in cases]
    assert world.fake.calls == []


# -- authentication on ------------------------------------------------------------------------------


async def test_no_or_malformed_header_is_401_or_403_never_500(secured) -> None:
    world = secured
    activity = typing_activity(world)
    assert (await world.post(activity)).status_code == 401
    for header in ("Bearer junk", "Bearer a.b.c", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ..", "Bearer ey.ey.ey"):
        response = await world.post(typing_activity(world), headers={"Authorization": header})
        assert response.status_code == 403, (header, response.status_code)
    message = world.message("29:eve", EVE_AAD, "pause")
    assert (await world.post(message, headers={"Authorization": "Bearer junk"})).status_code == 403
    assert world.fake.calls == []
    assert not world.store.is_paused("org-1")


async def test_a_valid_locally_signed_token_is_accepted(secured, keys) -> None:
    activity = typing_activity(secured)
    signed = token(keys, secured.fake.url)
    response = await secured.post(activity, headers={"Authorization": f"Bearer {signed}"})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "someone-else"},
        {"iss": "https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 600, "nbf": int(time.time()) - 900, "iat": int(time.time()) - 900},
        {"kid": "unknown-key"},
        {"key": "stranger"},
        {"alg": "none"},
        {"alg": "HS256"},
        {"serviceurl": None},
        {"serviceurl": "https://smba.trafficmanager.net/amer/"},
    ],
    ids=[
        "aud",
        "emulator-iss",
        "iss",
        "expired",
        "kid",
        "signature",
        "alg-none",
        "hs256",
        "no-serviceurl",
        "serviceurl",
    ],
)
async def test_bad_tokens_are_403(secured, keys, changes) -> None:
    if changes.get("key") == "stranger":
        changes = {**changes, "key": keys.stranger}
    signed = token(keys, secured.fake.url, **changes)
    activity = secured.message("29:eve", EVE_AAD, "pause")
    response = await secured.post(activity, headers={"Authorization": f"Bearer {signed}"})
    assert response.status_code == 403, response.text
    assert secured.fake.calls == []
    assert not secured.store.is_paused("org-1")


async def test_other_tenant_is_refused(fake_connector, tmp_path) -> None:
    from .conftest import policy

    world = World(
        fake_connector, [], policy(), tmp_path, teams_local_dev=True, microsoft_app_tenant_id=TENANT.replace("1", "7")
    )
    await world.start()
    try:
        response = await world.post(world.message("29:eve", EVE_AAD, "help"))
        assert response.status_code == 403
        assert world.fake.calls == []
    finally:
        await world.stop()


def test_precheck_reasons() -> None:
    assert token_precheck(None, APP_ID, "https://x/") == "missing Authorization header"
    assert token_precheck("Bearer x", APP_ID, "https://x/") == "malformed Authorization header"
