"""Slack adapter: Block Kit builders, email → Slack user lookup, the lifecycle's notifier, and
which workspace (bot token) a call goes through when the app is installed in several.

The Bolt app (HTTP endpoint, Socket Mode, handlers) lives in ``bot/slack_app.py``; this
package holds only what the core's ports need and pure renderers.
"""

from adapters.slack.blocks import ACTION_IDS
from adapters.slack.notifier import SlackNotifier, actor_from_audit_id, slack_client
from adapters.slack.people import EmailDirectory, Lookup, SlackUser, WorkspacePeople
from adapters.slack.workspaces import InstalledWorkspaces, NotInstalled, OneWorkspace, Workspaces

__all__ = [
    "ACTION_IDS",
    "EmailDirectory",
    "InstalledWorkspaces",
    "Lookup",
    "NotInstalled",
    "OneWorkspace",
    "SlackNotifier",
    "SlackUser",
    "WorkspacePeople",
    "Workspaces",
    "actor_from_audit_id",
    "slack_client",
]
