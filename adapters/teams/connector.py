"""Proactive Bot Framework calls over a ``CloudAdapter``: send, update, create a 1:1 chat.

Every call goes to the ``serviceUrl`` stored with the conversation (it is regional; never a
hard-coded URL). Throttling and transient answers (429, 412, 502, 503, 504) are retried with
capped, jittered backoff honouring ``Retry-After``; everything else surfaces as
:class:`TeamsSendError` with Bot Framework's error code (``BotNotInConversationRoster``,
``MessageWritesBlocked``...), so callers can report a failed delivery.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import aiohttp
from botbuilder.core import CloudAdapterBase, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationParameters,
    ConversationReference,
)
from msrest.exceptions import ClientRequestError, HttpOperationError

log = logging.getLogger("jira_cleanup.teams.connector")

CHANNEL_ID: Final = "msteams"
RETRY_STATUSES: Final = frozenset({412, 429, 502, 503, 504})
_SUB_CODE: Final = re.compile(r'"(?:subCode|code)"\s*:\s*"([A-Za-z]+)"')

Sleep = Callable[[float], Awaitable[None]]


class TeamsSendError(Exception):
    """A Bot Framework call failed; ``code`` is its error code (or ``http_<status>`` / ``unreachable``)."""

    def __init__(self, code: str, status: int | None, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.status = status


def _status_of(exc: HttpOperationError) -> int | None:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _body_of(exc: HttpOperationError) -> str:
    response = getattr(exc, "response", None)
    text = getattr(response, "text", None)
    try:
        body = text() if callable(text) else text
    except Exception:  # a body we cannot read is only a worse message
        return ""
    return body if isinstance(body, str) else ""


def _retry_after(exc: HttpOperationError) -> float | None:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        raw = headers.get("Retry-After")
        return float(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def classify(exc: BaseException) -> TeamsSendError:
    """A short, loggable reason for a failed call; the most specific Bot Framework code wins."""
    if isinstance(exc, TeamsSendError):
        return exc
    if isinstance(exc, HttpOperationError):
        status = _status_of(exc)
        codes = _SUB_CODE.findall(_body_of(exc))
        error = getattr(getattr(exc, "error", None), "error", None)
        code = getattr(error, "code", None)
        message = str(getattr(error, "message", "") or "")
        # MessageWritesBlocked arrives as a subCode next to a generic code: prefer it.
        chosen = "MessageWritesBlocked" if "MessageWritesBlocked" in codes else (code or (codes[0] if codes else ""))
        return TeamsSendError(str(chosen or f"http_{status}"), status, message)
    if isinstance(exc, ClientRequestError | aiohttp.ClientError | OSError | TimeoutError):
        return TeamsSendError("unreachable", None, type(exc).__name__)
    return TeamsSendError(type(exc).__name__, None, str(exc))


def reference_from(data: Mapping[str, object]) -> Any:
    """A ``ConversationReference`` from its stored JSON (``ConversationReference.serialize()``)."""
    return ConversationReference().deserialize(dict(data))


def reference_json(reference: Any) -> dict[str, object]:
    """The JSON to store for a ``ConversationReference``; the activity id is dropped (new posts, not replies)."""
    data: dict[str, object] = dict(reference.serialize())
    data.pop("activityId", None)
    return data


class TeamsConnector:
    """Sends, updates and creates conversations proactively; retries throttling, classifies errors."""

    def __init__(
        self,
        adapter: CloudAdapterBase,
        app_id: str,
        *,
        attempts: int = 4,
        base_delay: float = 0.5,
        max_delay: float = 8.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.adapter = adapter
        self.app_id = app_id
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep

    async def _retrying(self, what: str, call: Callable[[], Awaitable[Any]]) -> Any:
        for attempt in range(1, self.attempts + 1):
            try:
                return await call()
            except HttpOperationError as exc:
                status = _status_of(exc)
                if status not in RETRY_STATUSES or attempt == self.attempts:
                    raise classify(exc) from exc
                delay = _retry_after(exc)
                if delay is None:
                    delay = min(self.max_delay, self.base_delay * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
                log.info("%s: HTTP %s, retrying in %.2f s (attempt %d)", what, status, delay, attempt)
                await self.sleep(min(delay, 60.0))
            except TeamsSendError:
                raise
            except Exception as exc:
                raise classify(exc) from exc
        raise TeamsSendError("unreachable", None, what)  # pragma: no cover - the loop returns or raises

    async def _raising(
        self,
        start: Callable[[Callable[[TurnContext], Awaitable[None]]], Awaitable[Any]],
        logic: Callable[[TurnContext], Awaitable[None]],
    ) -> None:
        """Run a proactive turn so that its errors reach us, not the adapter's ``on_turn_error``."""
        errors: list[BaseException] = []

        async def wrapped(turn: TurnContext) -> None:
            try:
                await logic(turn)
            except Exception as exc:
                errors.append(exc)

        await start(wrapped)
        if errors:
            raise errors[0]

    async def _continue(self, ref: Any, logic: Callable[[TurnContext], Awaitable[None]]) -> None:
        await self._raising(lambda wrapped: self.adapter.continue_conversation(ref, wrapped, self.app_id), logic)

    async def send(self, reference: Mapping[str, object], activity: Any) -> str:
        """Post ``activity`` into the referenced conversation; returns the new activity id."""
        ids: list[str] = []

        async def logic(turn: TurnContext) -> None:
            response = await turn.send_activity(activity)
            ids.append(str(getattr(response, "id", "") or ""))

        ref = reference_from(reference)
        await self._retrying("send", lambda: self._continue(ref, logic))
        if not ids or not ids[0]:
            raise TeamsSendError("invalid_response", None, "the connector returned no activity id")
        return ids[0]

    async def update(self, reference: Mapping[str, object], activity_id: str, activity: Any) -> None:
        """Replace the posted activity ``activity_id`` (a card) for everyone."""

        async def logic(turn: TurnContext) -> None:
            activity.id = activity_id
            await turn.update_activity(activity)

        ref = reference_from(reference)
        await self._retrying("update", lambda: self._continue(ref, logic))

    async def create_personal(self, tenant: str, service_url: str, member_id: str, bot_id: str) -> dict[str, object]:
        """Create (or get) the 1:1 chat with ``member_id``; returns its reference JSON."""
        refs: list[dict[str, object]] = []

        async def logic(turn: TurnContext) -> None:
            refs.append(reference_json(TurnContext.get_conversation_reference(turn.activity)))

        parameters = ConversationParameters(
            is_group=False,
            bot=ChannelAccount(id=bot_id),
            members=[ChannelAccount(id=member_id)],
            tenant_id=tenant,
            channel_data={"tenant": {"id": tenant}},
        )
        await self._retrying(
            "create conversation",
            lambda: self._raising(
                lambda wrapped: self.adapter.create_conversation(
                    self.app_id, wrapped, parameters, CHANNEL_ID, service_url
                ),
                logic,
            ),
        )
        if not refs:
            raise TeamsSendError("invalid_response", None, "no conversation was created")
        return refs[0]


def message(text: str, card: Mapping[str, Any] | None = None) -> Any:
    """A message activity: the card as its attachment and ``text`` as the notification summary.

    Without a card the text is sent as plain text (``textFormat: plain``): user-supplied words in it
    are never rendered as markdown or HTML. The summary of a card message is plain text already.
    """
    if card is None:
        return Activity(type=ActivityTypes.message, text=text, text_format="plain")
    return Activity(
        type=ActivityTypes.message,
        summary=text,
        attachments=[Attachment(content_type="application/vnd.microsoft.card.adaptive", content=dict(card))],
    )


_CLAIM_KEYS: Final = ("aud", "appid", "azp", "ver", "iss")


def _claims_key(claims_identity: Any) -> tuple[tuple[str, str], ...]:
    claims = getattr(claims_identity, "claims", None) or {}
    return tuple(sorted((k, str(claims[k])) for k in _CLAIM_KEYS if k in claims))


class _CachedFactory:
    def __init__(self, inner: Any, cache: dict[tuple[object, ...], Any], key: tuple[object, ...]) -> None:
        self._inner = inner
        self._cache = cache
        self._key = key

    async def create(self, service_url: str, audience: str | None = None) -> Any:
        key = (*self._key, service_url, audience)
        client = self._cache.get(key)
        if client is None:
            client = await self._inner.create(service_url, audience)
            if len(self._cache) >= CachedConnectors.MAX_CLIENTS:
                self._cache.pop(next(iter(self._cache)))
            self._cache.setdefault(key, client)
        return client


class CachedConnectors:
    """Wraps botbuilder's ``BotFrameworkAuthentication`` so connector clients are reused.

    ``CloudAdapter`` builds a new ``ConnectorClient`` and user-token client for every turn;
    building one costs milliseconds of msrest set-up (and a new HTTP session). Like the older
    ``BotFrameworkAdapter``, this keeps one per (app identity, serviceUrl, audience); the
    credentials inside still fetch and refresh their own tokens. Everything else delegates.
    """

    MAX_CLIENTS: Final = 256

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._clients: dict[tuple[object, ...], Any] = {}
        self._token_clients: dict[tuple[object, ...], Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def authenticate_request(self, activity: Any, auth_header: str | None) -> Any:
        """The inner validation, unchanged; its connector factory is swapped for a caching one."""
        result = await self._inner.authenticate_request(activity, auth_header)
        factory = getattr(result, "connector_factory", None)
        if factory is not None:
            result.connector_factory = _CachedFactory(
                factory, self._clients, ("inbound", *_claims_key(result.claims_identity))
            )
        return result

    def create_connector_factory(self, claims_identity: Any) -> _CachedFactory:
        """A factory handing out cached connector clients for this identity."""
        return _CachedFactory(
            self._inner.create_connector_factory(claims_identity), self._clients, _claims_key(claims_identity)
        )

    async def create_user_token_client(self, claims_identity: Any) -> Any:
        """One user-token client per identity."""
        key = _claims_key(claims_identity)
        client = self._token_clients.get(key)
        if client is None:
            client = await self._inner.create_user_token_client(claims_identity)
            if len(self._token_clients) >= self.MAX_CLIENTS:
                self._token_clients.clear()
            self._token_clients.setdefault(key, client)
        return client
