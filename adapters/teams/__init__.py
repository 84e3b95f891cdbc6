"""Teams adapter: Adaptive Card builders, proactive Bot Framework calls and the lifecycle's notifier.

The bot endpoint (``/api/messages``, CloudAdapter, handlers) lives in ``bot/teams_app.py``;
this package holds only what the core's ports need and pure renderers.
"""

from adapters.teams.cards import VERBS, MessageRef
from adapters.teams.connector import TeamsConnector, TeamsSendError
from adapters.teams.notifier import TeamsNotifier, actor_from_audit_id

__all__ = ["VERBS", "MessageRef", "TeamsConnector", "TeamsNotifier", "TeamsSendError", "actor_from_audit_id"]
