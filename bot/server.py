"""The bot's one HTTP server (aiohttp): health, metrics, and later the Slack and Teams endpoints.

Contracts
---------
* ``GET /healthz`` (public, for load balancers): 200 ``{"status": "ok"}`` plus the replica's ``role``
  when the health callable gives one; nothing else (no org id, no error text). If the health callable
  raises (or takes longer than ``health_timeout`` seconds) the answer is 503
  ``{"status": "unavailable", "error": "<ExceptionClass>"}``: the class name only, never the message
  or a stack trace (those go to the log).
* ``GET /readyz``: the same with every detail the health callable returns (org, kill switch, last
  run, last error), only for a request from loopback that no proxy forwarded, or one carrying
  ``Authorization: Bearer <STATUS_TOKEN>``; anyone else gets 403.
* ``GET /metrics``: Prometheus text exposition format 0.0.4, one ``jira_cleanup_<name> <value>`` line per
  metric, sorted by name. Names must match ``[a-z_][a-z0-9_]*`` and values be finite-or-not real numbers
  (``NaN``/``+Inf``/``-Inf`` are written the Prometheus way); a bad name or value is a bug in the caller
  and answers 500 JSON. A failing metrics callable answers 503 JSON like ``/healthz``.
* Unknown paths answer 404 JSON ``{"error": "not_found", "path": ...}``; a wrong method 405 JSON.
* Later integrations mount their routes with :func:`mount` (or ``app.router`` directly) before the
  app is served; :data:`ROUTES` lists what was mounted.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.guard import MAX_BODY, input_guard
from bot.ratelimit import RateLimiter

__all__ = [
    "HEALTH",
    "METRICS",
    "METRICS_CONTENT_TYPE",
    "ROUTES",
    "HealthCheck",
    "MetricsSource",
    "build_app",
    "mount",
    "render_metrics",
    "serve",
]

log = logging.getLogger("jira_cleanup.server")

HealthCheck = Callable[[], Awaitable[Mapping[str, object]]]
MetricsSource = Callable[[], Awaitable[Mapping[str, float]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEALTH: Final = web.AppKey[HealthCheck]("health")
"""The app's health callable."""
METRICS: Final = web.AppKey[MetricsSource]("metrics")
"""The app's metrics callable; absent when the app has no metrics (``/metrics`` is then empty)."""
HEALTH_TIMEOUT: Final = web.AppKey("health_timeout", float)
STATUS_TOKEN: Final = web.AppKey("status_token", str)
#: Fields of the health details that /healthz may show to anyone.
PUBLIC_HEALTH_FIELDS: Final = ("role",)
ROUTES: Final = web.AppKey[list[tuple[str, str]]]("routes")
"""(method, path) of every route mounted with :func:`mount`, in order."""

METRICS_CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"
METRIC_PREFIX: Final = "jira_cleanup_"
_METRIC_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")


def _json(status: int, body: Mapping[str, object]) -> web.Response:
    return web.json_response(dict(body), status=status, dumps=lambda data: json.dumps(data, default=str))


# -- metrics ---------------------------------------------------------------------------------


def _format_value(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render_metrics(metrics: Mapping[str, float]) -> str:
    """Prometheus text format: ``jira_cleanup_<name> <value>\\n`` per metric, sorted by name.

    Raises ``ValueError`` for a name outside ``[a-z_][a-z0-9_]*`` (given without the prefix) or a value
    that is not a real number.
    """
    lines = []
    for name in sorted(metrics):
        value = metrics[name]
        if not isinstance(name, str) or _METRIC_NAME.fullmatch(name) is None:
            raise ValueError(f"metric name {name!r} must match [a-z_][a-z0-9_]*")
        if not isinstance(value, int | float):
            raise ValueError(f"metric {name!r} must be a number (got {type(value).__name__})")
        lines.append(f"{METRIC_PREFIX}{name} {_format_value(value)}\n")
    return "".join(lines)


# -- handlers --------------------------------------------------------------------------------


async def _health(request: web.Request, *, public: bool) -> web.Response:
    check = request.app[HEALTH]
    try:
        async with asyncio.timeout(request.app[HEALTH_TIMEOUT]):
            details = await check()
    except Exception as exc:
        log.warning("health check failed", exc_info=True)
        return _json(503, {"status": "unavailable", "error": type(exc).__name__})
    if public:
        details = {k: v for k, v in details.items() if k in PUBLIC_HEALTH_FIELDS}
    return _json(200, {**details, "status": "ok"})


async def _healthz(request: web.Request) -> web.Response:
    return await _health(request, public=True)


def _may_read_details(request: web.Request) -> bool:
    token = request.app[STATUS_TOKEN]
    if token:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return True
    forwarded = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        loopback = False
    return loopback and not forwarded


async def _readyz(request: web.Request) -> web.Response:
    if not _may_read_details(request):
        return _json(403, {"error": "forbidden", "hint": "from loopback, or with Authorization: Bearer STATUS_TOKEN"})
    return await _health(request, public=False)


async def _metrics(request: web.Request) -> web.Response:
    source = request.app.get(METRICS)
    values: Mapping[str, float] = {}
    if source is not None:
        try:
            values = await source()
        except Exception as exc:
            log.warning("metrics source failed", exc_info=True)
            return _json(503, {"status": "unavailable", "error": type(exc).__name__})
    try:
        text = render_metrics(values)
    except ValueError as exc:
        log.error("bad metrics: %s", exc)
        return _json(500, {"error": "invalid_metrics"})
    return web.Response(body=text.encode("utf-8"), headers={"Content-Type": METRICS_CONTENT_TYPE})


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Raised 404/405 become JSON (routes that *return* their own responses are untouched)."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _json(404, {"error": "not_found", "path": request.path})
    except web.HTTPMethodNotAllowed as exc:
        response = _json(405, {"error": "method_not_allowed", "method": request.method})
        response.headers["Allow"] = ", ".join(sorted(exc.allowed_methods))
        return response


# -- app -------------------------------------------------------------------------------------


def build_app(
    *,
    health: HealthCheck,
    metrics: MetricsSource | None = None,
    health_timeout: float = 5.0,
    limiter: RateLimiter | None = None,
    status_token: str = "",
) -> web.Application:
    """The bot's aiohttp application with ``GET /healthz``, ``GET /metrics`` and JSON 404s.

    ``health`` returns extra JSON-able fields for ``/healthz`` or raises when the bot is unhealthy;
    ``metrics`` returns ``{name: value}`` without the ``jira_cleanup_`` prefix. Mount more routes with
    :func:`mount` before serving (an app is frozen once served). Every public POST route is screened
    by :func:`bot.guard.input_guard` (``limiter``: the per-address limit of the chat routes).
    """
    if health_timeout <= 0:
        raise ValueError(f"health_timeout must be > 0 (got {health_timeout})")
    app = web.Application(middlewares=[_json_errors, input_guard(limiter)], client_max_size=MAX_BODY)
    app[HEALTH] = health
    app[HEALTH_TIMEOUT] = health_timeout
    app[STATUS_TOKEN] = status_token
    if metrics is not None:
        app[METRICS] = metrics
    app[ROUTES] = []
    mount(app, "GET", "/healthz", _healthz)
    mount(app, "GET", "/readyz", _readyz)
    mount(app, "GET", "/metrics", _metrics)
    return app


def mount(app: web.Application, method: str, path: str, handler: Handler) -> web.AbstractRoute:
    """Add one route to ``app`` and record it in ``app[ROUTES]``.

    Raises ``ValueError`` when (method, path) is already mounted and ``RuntimeError`` (aiohttp's) once
    the app is frozen, i.e. being served.
    """
    key = (method.upper(), path)
    if key in app[ROUTES]:
        raise ValueError(f"{key[0]} {path} is already mounted")
    route = app.router.add_route(key[0], path, handler)
    app[ROUTES].append(key)
    return route


_SECRET_PATHS: Final = re.compile(r"^(/email/t/)[^/?]+")


def masked_path(path: str) -> str:
    """A request path fit for the log: email-link tokens (bearer secrets) become ``***``."""
    return _SECRET_PATHS.sub(r"\1***", path)


class MaskingAccessLogger(AbstractAccessLogger):
    """aiohttp's access log without secrets: method, masked path (no query), status, duration."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.3fs", request.method, masked_path(request.path), response.status, time)


async def serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Start serving ``app`` on ``host:port``; return the runner and the base URL actually bound.

    ``port=0`` picks a free port; the URL carries the real one (read from the listening socket).
    IPv6 hosts are bracketed. Stop with ``await runner.cleanup()``. If binding fails, everything
    started is cleaned up and the ``OSError`` propagates.
    """
    runner = web.AppRunner(app, access_log_class=MaskingAccessLogger)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        addresses = runner.addresses
        if not addresses:
            raise OSError(f"no listening socket for {host}:{port}")
        bound_host, bound_port = addresses[0][0], addresses[0][1]
    except BaseException:
        await runner.cleanup()
        raise
    netloc = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
    return runner, f"http://{netloc}:{bound_port}"
