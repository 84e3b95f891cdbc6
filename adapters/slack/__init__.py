"""Slack adapter: Block Kit builders, email → Slack user lookup, and the lifecycle's notifier.

The Bolt app (HTTP endpoint, Socket Mode, handlers) lives in ``bot/slack_app.py``; this
package holds only what the core's ports need and pure renderers.
"""

from adapters.slack.blocks import ACTION_IDS
from adapters.slack.notifier import SlackNotifier, actor_from_audit_id, slack_client
from adapters.slack.people import EmailDirectory, Lookup, SlackUser

__all__ = [
    "ACTION_IDS",
    "EmailDirectory",
    "Lookup",
    "SlackNotifier",
    "SlackUser",
    "actor_from_audit_id",
    "slack_client",
]
