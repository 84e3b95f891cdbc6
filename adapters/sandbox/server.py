"""The aiohttp application and the :class:`SandboxServer` wrapper.

Per request, in order: the request is logged (with the server clock's time);
the fault schedule may answer (or reset the connection); the Bearer key is
checked (401); the rate limiter may answer 429 (fixed windows per API key,
see :mod:`.ratelimit`); the configured latency is applied; the handler runs.
Every response carries ``X-Request-Id``; when a rate limit is configured,
every response (admitted, refused with 429 or 401, faulted, handler errors)
also carries the ``X-RateLimit-*`` headers of its key's window; only admitted
requests are counted.  The test-only control API (:mod:`.control`,
``SandboxConfig.control_api``) skips all of this.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType

from aiohttp import web

from . import admin_api, control, jsm_api, manage_api
from .faults import Fault
from .generate import generate_org
from .org import SandboxOrg
from .ratelimit import api_key_of
from .state import STATE_KEY, RequestRecord, SandboxConfig, SandboxState
from .wire import ApiError, admin_error, proxy_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_GATEWAY_TEXT = {
    502: "502 Bad Gateway",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
}


class _ConnectionReset(Exception):
    """Internal: the fault schedule asked to drop the connection."""


def _rate_limited(headers: dict[str, str], retry: int | None) -> web.Response:
    response = proxy_error(429, "Rate limit exceeded")
    response.headers.update(headers)
    if retry is not None:
        response.headers["Retry-After"] = str(retry)
    return response


def _fault_response(state: SandboxState, fault: Fault, key: str) -> web.Response:
    """The injected failure, with the key's ``X-RateLimit-*`` headers (nothing is counted)."""
    limits = state.config.rate_limits()
    verdict = state.limiter.check(key, limits, consume=False) if limits else None
    if fault.kind == "429":
        if verdict is None:  # no configured limit: a nominal one-minute window of 1000
            verdict = state.limiter.check(key, [(1000, 60)], consume=False)
        headers = {**verdict.headers, "X-RateLimit-Remaining": "0"}
        retry: int | None = fault.retry_after
        if retry is None and state.config.send_retry_after:
            retry = verdict.retry_after
        return _rate_limited(headers, retry)
    if fault.kind == "500":
        response = admin_error(500, "ADMIN-500-1", "Internal server error")
    else:
        status = int(fault.kind)
        response = web.Response(status=status, text=_GATEWAY_TEXT[status])
    if verdict is not None:
        response.headers.update(verdict.headers)
    return response


def _authenticated(request: web.Request, state: SandboxState) -> web.Response | None:
    """``None`` when the request carries the right credentials, else the 401 to answer with."""
    if request.path.startswith(jsm_api.PREFIX):
        return None if jsm_api.authorized(request, state) else jsm_api.unauthorized()
    config = state.config
    accepted = {f"Bearer {key}" for key in (config.api_key, *config.other_api_keys)}
    if request.headers.get("Authorization") not in accepted:
        return proxy_error(401, "Unauthorized")
    return None


async def _guarded(
    request: web.Request, handler: Handler, state: SandboxState, record: RequestRecord
) -> web.StreamResponse:
    config = state.config
    key = api_key_of(request.headers.get("Authorization"))
    fault = config.faults.pick(request.method, request.path)
    if fault is not None:
        record.fault = fault.kind
        if fault.kind == "reset":
            raise _ConnectionReset
        return _fault_response(state, fault, key)
    limits = config.rate_limits()
    refused = _authenticated(request, state)
    if refused is not None:
        if limits:  # a 401 uses up nothing, but says where the key's window stands
            refused.headers.update(state.limiter.check(key, limits, consume=False).headers)
        return refused
    limit_headers: dict[str, str] = {}
    if limits:
        verdict = state.limiter.check(key, limits)
        if not verdict.allowed:
            return _rate_limited(verdict.headers, verdict.retry_after if config.send_retry_after else None)
        limit_headers = verdict.headers
    if config.latency_ms > 0:
        await asyncio.sleep(config.latency_ms / 1000)
    response = await _dispatch(request, handler)
    response.headers.update(limit_headers)
    return response


async def _dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the handler, turning API errors and routing misses into Atlassian error bodies."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response
    except web.HTTPMethodNotAllowed:
        return admin_error(405, "ADMIN-405-1", "Method not allowed")
    except web.HTTPNotFound:
        return admin_error(404, "ADMIN-404-1", "Resource not found")


@web.middleware
async def sandbox_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Log, inject faults, authenticate, rate-limit, then dispatch.

    Control-API requests (``/_sandbox/*`` while ``control_api`` is on) skip all of it.
    """
    state = request.app[STATE_KEY]
    if state.config.control_api and control.is_control_path(request.path):
        return await _dispatch(request, handler)
    raw = await request.read()
    body: object = None
    if raw.strip():
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
    record = RequestRecord(
        seq=state.next_seq(),
        method=request.method,
        path=request.path,
        query={k: request.query.getall(k) for k in request.query},
        body=body,
        at=state.config.now(),
    )
    state.log.append(record)
    try:
        response = await _guarded(request, handler, state, record)
    except _ConnectionReset:
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError from None
    record.status = response.status
    response.headers["X-Request-Id"] = str(uuid.uuid4())
    return response


def build_app(org: SandboxOrg, config: SandboxConfig | None = None) -> web.Application:
    """An aiohttp application serving ``org``.

    The shared :class:`SandboxState` (log, limiter, config) is reachable as
    ``app[STATE_KEY]``.
    """
    app = web.Application(middlewares=[sandbox_middleware])
    app[STATE_KEY] = SandboxState(org, config or SandboxConfig())
    admin_api.add_routes(app)
    manage_api.add_routes(app)
    jsm_api.add_routes(app)
    control.add_routes(app)
    return app


class SandboxServer:
    """A loopback Atlassian Admin API simulator over an in-memory org.

    ``org`` defaults to ``generate_org()`` (2000 users, seed 1).  The org and
    config are live objects: tests may mutate users, faults or the rate limit
    while the server runs.  Usable as an async context manager (start on
    enter, stop on exit).
    """

    def __init__(self, org: SandboxOrg | None = None, config: SandboxConfig | None = None) -> None:
        self.app = build_app(org or generate_org(), config)
        self.state = self.app[STATE_KEY]
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ---------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind and serve; returns the base URL (``http://127.0.0.1:PORT``)."""
        if self._runner is not None:
            raise RuntimeError("sandbox server already started")
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound = runner.addresses[0]
        self._runner = runner
        netloc = f"[{host}]" if ":" in host else host
        self._base_url = f"http://{netloc}:{bound[1]}"
        return self._base_url

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
        self._base_url = None

    async def __aenter__(self) -> SandboxServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- accessors ---------------------------------------------------------
    @property
    def base_url(self) -> str:
        """Base URL of the running server (RuntimeError when stopped)."""
        if self._base_url is None:
            raise RuntimeError("sandbox server is not running")
        return self._base_url

    @property
    def org(self) -> SandboxOrg:
        """The live simulated org (mutations are visible to the API)."""
        return self.state.org

    @property
    def config(self) -> SandboxConfig:
        """The live configuration."""
        return self.state.config

    @property
    def org_id(self) -> str:
        """The only org id the API knows."""
        return self.state.org.org_id

    @property
    def directory_id(self) -> str:
        """The org's single directory id."""
        return self.state.org.directory_id

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every request received since the last :meth:`reset_log`."""
        return self.state.log

    def mutating_requests(self) -> list[RequestRecord]:
        """Logged POST/DELETE/PUT/PATCH requests, except ``users/search``."""
        return self.state.mutating_requests()

    def reset_log(self) -> None:
        """Clear the request log (sequence numbers keep increasing)."""
        self.state.log.clear()


async def serve(
    users: int = 2000,
    seed: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
    api_key: str = "sandbox-key",
    *,
    latency_ms: float = 0,
    requests_per_minute: int | None = None,
    send_retry_after: bool = False,
    undated_fraction: float = 0.005,
    requests_per_second: int | None = None,
) -> SandboxServer:
    """Generate an org, start a server on ``host:port`` and return it.

    Prints nothing; the caller reads ``server.base_url``, ``org_id`` and
    ``directory_id`` and must ``await server.stop()``.
    """
    org = generate_org(users=users, seed=seed, undated_fraction=undated_fraction)
    config = SandboxConfig(
        api_key=api_key,
        latency_ms=latency_ms,
        requests_per_minute=requests_per_minute,
        requests_per_second=requests_per_second,
        send_retry_after=send_retry_after,
    )
    server = SandboxServer(org, config)
    await server.start(host, port)
    return server
