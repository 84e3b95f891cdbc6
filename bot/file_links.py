"""Signed, expiring download links to report files (a run's CSV, a chart), served by ``serve`` at ``/files/<token>``.

For platforms where a bot cannot put a file into an admin thread (a Teams channel needs Microsoft
Graph for that), the thread gets a link instead. The token names a file of the report folder and
its expiry, signed with ``LINK_SECRET`` (HMAC-SHA256), so any replica sharing the secret and the
folder serves it and nobody can forge a link to another file. Only plain CSV file names of that
folder are ever served (CSV, and PNG charts shown inline): no paths, no traversal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from aiohttp import web

ROUTE: Final = "/files/{token}"
DEFAULT_TTL: Final = timedelta(days=7)
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.(csv|png)$")
_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True, slots=True)
class FileLinks:
    """Makes and serves the links; ``now`` is the clock (injected in tests)."""

    secret: bytes
    folder: Path
    base_url: str
    now: Callable[[], datetime]
    ttl: timedelta = DEFAULT_TTL

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()

    def link(self, path: Path) -> str | None:
        """A download link for ``path``, or None when it is not a CSV or PNG file of the report folder."""
        if not _NAME.match(path.name) or path.resolve().parent != self.folder.resolve():
            return None
        payload = f"{path.name}|{int((self.now() + self.ttl).timestamp())}"
        body = base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")
        return f"{self.base_url.rstrip('/')}/files/{body}.{self._sign(payload)}"

    def mount(self, app: web.Application) -> None:
        """Add ``GET /files/<token>``."""
        app.router.add_get(ROUTE, self.download)

    def _payload(self, token: str) -> tuple[str, int] | None:
        """The file name and expiry a well-signed token names; None for anything else."""
        body, _, signature = token.rpartition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        name, _, expires = payload.rpartition("|")
        if not _NAME.match(name) or not expires.isdigit():
            return None
        return name, int(expires)

    async def download(self, request: web.Request) -> web.StreamResponse:
        """The file, or 403 (not a link of ours), 410 (expired), 404 (no longer there)."""
        found = self._payload(request.match_info["token"])
        if found is None:
            return web.Response(status=403, text="This link is not valid.", headers=_HEADERS)
        name, expires = found
        if self.now().timestamp() > expires:
            return web.Response(status=410, text="This link has expired; ask for the report again.", headers=_HEADERS)
        file = self.folder / name
        if not file.is_file():
            return web.Response(status=404, text="This report is no longer on the server.", headers=_HEADERS)
        how = "inline" if name.endswith(".png") else "attachment"
        headers = {**_HEADERS, "Content-Disposition": f'{how}; filename="{name}"'}
        return web.FileResponse(file, headers=headers)
