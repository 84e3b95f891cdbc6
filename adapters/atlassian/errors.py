"""Map Atlassian error responses to ``core.errors``.

Atlassian uses three error body shapes (reference section 1.8 and 2):

* application errors ``{"errors": [{"status", "code": "ADMIN-xxx-n", "title", "detail"}]}``;
* gateway/proxy errors ``{"code": 401, "message": "..."}`` (and a 403 "NoPerms" variant);
* user management errors ``{"key": "forbidden", "context": {"reason": {"key": ...}}}`` and
  ``{"key": "conflict.lifecycleErrors", "context": {"errorCodes": [{"code": ...}]}}``.

Every error carries the HTTP status and the ``X-Request-Id`` of the response (``request_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from core.errors import (
    AccountNotFound,
    AuthenticationFailed,
    DirectoryError,
    DirectoryUnavailable,
    NotManageable,
    RateLimited,
)

ORG_NOT_FOUND = "ADMIN-404-2"
USER_NOT_FOUND = "ADMIN-404-8"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What an error body says: Atlassian's code or key, the refusal reason and a human detail."""

    code: str | None = None
    reason: str | None = None
    detail: str | None = None


def _body(response: httpx.Response) -> Mapping[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, Mapping) else {}


def error_info(response: httpx.Response) -> ErrorInfo:
    """Extract code, reason and detail from any of Atlassian's error body shapes."""
    body = _body(response)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        first = errors[0]
        code = first.get("code")
        detail = first.get("detail") or first.get("title")
        return ErrorInfo(
            code=code if isinstance(code, str) else None, detail=detail if isinstance(detail, str) else None
        )
    key = body.get("key")
    if isinstance(key, str):
        context = body.get("context")
        reason: str | None = None
        detail = None
        if isinstance(context, Mapping):
            raw_reason = context.get("reason")
            if isinstance(raw_reason, Mapping) and isinstance(raw_reason.get("key"), str):
                reason = raw_reason["key"]
            codes = context.get("errorCodes")
            if isinstance(codes, list) and codes and isinstance(codes[0], Mapping):
                first_code = codes[0].get("code")
                if isinstance(first_code, str):
                    reason = first_code
            message = context.get("message")
            detail = message if isinstance(message, str) else None
        return ErrorInfo(code=key, reason=reason, detail=detail)
    message = body.get("message")
    detail = message if isinstance(message, str) else (response.text[:200] or None)
    return ErrorInfo(detail=detail)


def request_id_of(response: httpx.Response) -> str | None:
    """The ``X-Request-Id`` (or ``X-Trace-Id``) header Atlassian support asks for."""
    value = response.headers.get("X-Request-Id") or response.headers.get("X-Trace-Id")
    return str(value) if value else None


def _describe(response: httpx.Response, info: ErrorInfo) -> str:
    parts = [f"{response.request.method} {response.request.url.path} -> {response.status_code}"]
    if info.code:
        parts.append(info.code)
    if info.reason:
        parts.append(info.reason)
    if info.detail:
        parts.append(info.detail)
    return ": ".join(parts)


def error_from_response(
    response: httpx.Response,
    *,
    org_id: str,
    account_id: str | None = None,
    retry_after: float | None = None,
) -> DirectoryError:
    """The ``core.errors`` exception for a non-2xx ``response``.

    ``account_id`` is the account the request was about (``None`` for org-level calls).

    * 401 -> ``AuthenticationFailed``; 403 without an account (or the "NoPerms" shape) too.
    * 403 ``ADMIN-403-x`` or ``{"key": "forbidden", "context": {"reason": {"key": r}}}`` ->
      ``NotManageable(account_id, r or the ADMIN code)``.
    * 404 ``ADMIN-404-2`` -> ``AccountNotFound(org_id, code="ADMIN-404-2")`` (the org is unknown).
    * 404 ``ADMIN-404-8``/``accountNotFound``/``notFound`` -> ``AccountNotFound(account_id)``.
    * 409 ``conflict.lifecycleErrors`` -> ``NotManageable(account_id, first errorCodes code, status=409)``.
    * 429 -> ``RateLimited(retry_after)``; 5xx -> ``DirectoryUnavailable``.
    * anything else -> ``DirectoryError`` naming status, code and detail.
    """
    status = response.status_code
    info = error_info(response)
    request_id = request_id_of(response)
    message = _describe(response, info)
    error: DirectoryError
    if status == 401:
        error = AuthenticationFailed(message, status=status)
    elif status == 403:
        refusal = info.reason or info.code
        if account_id is not None and refusal:
            error = NotManageable(account_id, refusal, status=status)
        else:
            error = AuthenticationFailed(message, status=status)
    elif status == 404 and info.code == ORG_NOT_FOUND:
        error = AccountNotFound(org_id, status=status, code=info.code)
    elif status == 404 and account_id is not None and info.code in {USER_NOT_FOUND, "accountNotFound", "notFound"}:
        error = AccountNotFound(account_id, status=status, code=info.code)
    elif status == 409 and account_id is not None:
        error = NotManageable(account_id, info.reason or info.code or "conflict", status=status)
    elif status == 429:
        error = RateLimited(message, retry_after=retry_after, status=status)
    elif status >= 500:
        error = DirectoryUnavailable(message, status=status)
    else:
        error = DirectoryError(message, status=status)
    error.request_id = request_id
    return error
