"""Build and sign the HTTP requests Slack sends to the bot (slash commands, interactions).

Signing follows Slack's v0 scheme: ``X-Slack-Signature = "v0=" + hex(HMAC-SHA256(secret,
"v0:{timestamp}:{raw body}"))``, computed over the body bytes exactly as sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

__all__ = [
    "FORM_CONTENT_TYPE",
    "block_actions_payload",
    "click_on",
    "interaction_body",
    "sign",
    "signed_headers",
    "slash_command_body",
    "view_submission_payload",
]

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"

DEFAULT_TEAM_ID = "T0ACME"
DEFAULT_TEAM_DOMAIN = "acme"
DEFAULT_APP_ID = "A0JIRACLN"


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The two headers Slack adds to every request it sends to the app."""
    basestring = b"v0:" + str(timestamp).encode() + b":" + body
    digest = hmac.new(secret.encode(), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def signed_headers(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """``sign`` plus the form content type Slack uses for commands and interactions."""
    return {"Content-Type": FORM_CONTENT_TYPE, **sign(body, secret, timestamp)}


def slash_command_body(**fields: str) -> bytes:
    """A form-encoded slash-command body; keyword arguments override or add fields."""
    values: dict[str, str] = {
        "token": "deprecated-verification-token",
        "team_id": DEFAULT_TEAM_ID,
        "team_domain": DEFAULT_TEAM_DOMAIN,
        "channel_id": "C0ADMIN",
        "channel_name": "jira-admins",
        "user_id": "U0ADMIN",
        "user_name": "admin",
        "command": "/jira-cleanup",
        "text": "",
        "api_app_id": DEFAULT_APP_ID,
        "is_enterprise_install": "false",
        "response_url": f"https://hooks.slack.com/commands/{DEFAULT_TEAM_ID}/1/abc",
        "trigger_id": "1718000000.1.0123456789abcdef",
    }
    values.update(fields)
    return urlencode(values).encode()


def interaction_body(payload: dict[str, Any]) -> bytes:
    """``payload=<url-encoded JSON>``, the body of every interactive request."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def block_actions_payload(
    user_id: str,
    team_id: str,
    action_id: str,
    value: str,
    channel_id: str,
    message_ts: str,
    response_url: str,
    *,
    block_id: str = "actions",
    action_ts: str = "1718000100.000200",
    trigger_id: str = "1718000100.1.fedcba9876543210",
    message_text: str = "",
    message_blocks: list[dict[str, Any]] | None = None,
    button_text: str = "Button",
    user_name: str | None = None,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
) -> dict[str, Any]:
    """A button click on a message the bot posted (``type: block_actions``)."""
    name = user_name or user_id.lower()
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "directmessage" if channel_id.startswith("D") else channel_id},
        "message": {
            "type": "message",
            "ts": message_ts,
            "text": message_text,
            "blocks": message_blocks or [],
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "action_ts": action_ts,
            }
        ],
    }


#: The ``message_ts`` of a click on an ephemeral reply (it has no channel message to update).
EPHEMERAL_TS = "1718999999.000001"


def click_on(
    user_id: str, team_id: str, message: dict[str, Any], action_prefix: str, channel_id: str, response_url: str
) -> dict[str, Any]:
    """``user_id`` clicks the first button of a posted ``message`` whose action id starts with ``action_prefix``.

    A message without ``ts`` is an ephemeral reply (to a slash command, through its response URL).
    """
    action_id, value = next(
        (e["action_id"], e["value"])
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b.get("elements", [])
        if e["action_id"].startswith(action_prefix)
    )
    payload = block_actions_payload(
        user_id,
        team_id,
        action_id,
        value,
        channel_id,
        str(message.get("ts", EPHEMERAL_TS)),
        response_url,
        message_text=message.get("text", ""),
        message_blocks=message.get("blocks", []),
    )
    if "ts" not in message:
        payload["container"]["is_ephemeral"] = True
    return payload


def view_submission_payload(
    user_id: str,
    team_id: str,
    callback_id: str,
    values: dict[str, dict[str, Any]],
    *,
    private_metadata: str = "",
    view_id: str = "V0VIEW0001",
    trigger_id: str = "1718000200.1.0011223344556677",
    title: str = "Jira cleanup",
    user_name: str | None = None,
    team_domain: str = DEFAULT_TEAM_DOMAIN,
    api_app_id: str = DEFAULT_APP_ID,
) -> dict[str, Any]:
    """A modal submit (``type: view_submission``).

    ``values`` is ``{block_id: {action_id: state}}``; a plain string state is shorthand for
    ``{"type": "plain_text_input", "value": state}``.
    """
    state = {
        block_id: {
            action_id: ({"type": "plain_text_input", "value": s} if isinstance(s, str) else s)
            for action_id, s in actions.items()
        }
        for block_id, actions in values.items()
    }
    name = user_name or user_id.lower()
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": name, "name": name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "deprecated-verification-token",
        "trigger_id": trigger_id,
        "view": {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "title": {"type": "plain_text", "text": title},
            "blocks": [],
            "state": {"values": state},
            "hash": "1718000200.abcdef",
            "app_id": api_app_id,
            "bot_id": "B0BOT",
        },
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
