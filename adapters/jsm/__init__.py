"""Jira Service Management: verify and parse "restore my access" webhooks, answer on the request."""

from adapters.jsm.client import JsmAuthError, JsmClient, JsmConfig, JsmError, JsmNotFound, JsmUnavailable
from adapters.jsm.webhook import JsmPayloadError, JsmRequest, matches, parse_webhook, sign, verify_signature

__all__ = [
    "JsmAuthError",
    "JsmClient",
    "JsmConfig",
    "JsmError",
    "JsmNotFound",
    "JsmPayloadError",
    "JsmRequest",
    "JsmUnavailable",
    "matches",
    "parse_webhook",
    "sign",
    "verify_signature",
]
