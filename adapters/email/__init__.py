"""The email channel: warning and notice emails over SMTP (aiosmtplib) with confirm-page links."""

from adapters.email.notifier import EmailNotifier, SmtpConfig
from adapters.email.templates import TEMPLATE_NAMES, Templates

__all__ = ["TEMPLATE_NAMES", "EmailNotifier", "SmtpConfig", "Templates"]
