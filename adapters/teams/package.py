"""Build the Teams app package (the zip an admin uploads): ``manifest.json``, ``color.png``, ``outline.png``.

The manifest in ``teams_app/`` carries two placeholders: ``{{MICROSOFT_APP_ID}}`` (the bot's
app id, also used as the Teams app id unless another is given) and ``{{BOT_DOMAIN}}`` (the
public host name of ``/api/messages``). The zip holds exactly the three files at its root.
Standard library only.
"""

from __future__ import annotations

import json
import math
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any, Final

PACKAGE_FILES: Final = ("manifest.json", "color.png", "outline.png")
_GUID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DOMAIN: Final = re.compile(r"(?=.{1,253}$)(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]{2,63}")


def fill_manifest(template: str, *, app_id: str, domain: str, teams_app_id: str | None = None) -> dict[str, Any]:
    """The manifest with its placeholders filled; raises ``ValueError`` for a bad id or domain."""
    if _GUID.fullmatch(app_id) is None:
        raise ValueError(f"--app-id must be the bot's Microsoft App ID (a GUID), got {app_id!r}")
    if teams_app_id is not None and _GUID.fullmatch(teams_app_id) is None:
        raise ValueError(f"--teams-app-id must be a GUID, got {teams_app_id!r}")
    if _DOMAIN.fullmatch(domain) is None:
        raise ValueError(f"--domain must be a host name like bot.example.com, got {domain!r}")
    manifest: dict[str, Any] = json.loads(template.replace("{{BOT_DOMAIN}}", domain.lower()))
    manifest["id"] = teams_app_id or app_id
    for bot in manifest.get("bots", []):
        bot["botId"] = app_id
    leftover = re.findall(r"\{\{[A-Z_]+\}\}", json.dumps(manifest))
    if leftover:
        raise ValueError(f"unfilled placeholders in the manifest: {sorted(set(leftover))}")
    return manifest


def build_package(
    folder: Path, out: Path, *, app_id: str, domain: str, teams_app_id: str | None = None
) -> dict[str, Any]:
    """Write ``out`` (a zip) from ``folder``; returns the filled manifest."""
    manifest = fill_manifest(
        (folder / "manifest.json").read_text(encoding="utf-8"), app_id=app_id, domain=domain, teams_app_id=teams_app_id
    )
    for name in PACKAGE_FILES[1:]:
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name in PACKAGE_FILES[1:]:
            archive.write(folder / name, arcname=name)
    return manifest


# -- PNGs without Pillow -------------------------------------------------------------------------


def png_rgba(width: int, height: int, pixels: list[list[tuple[int, int, int, int]]]) -> bytes:
    """An 8-bit RGBA PNG from rows of (r, g, b, a)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(v for px in row for v in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG; raises ``ValueError`` for anything else."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def _ring(size: int, cx: float, cy: float, outer: float, inner: float, x: int, y: int) -> bool:
    d = math.hypot(x + 0.5 - cx, y + 0.5 - cy)
    return inner <= d <= outer


def _check(size: int, x: int, y: int, width: float) -> bool:
    """On the check mark (two strokes) of an icon of ``size``."""
    px, py = (x + 0.5) / size, (y + 0.5) / size
    strokes = (((0.30, 0.52), (0.45, 0.67)), ((0.45, 0.67), (0.72, 0.36)))
    for (ax, ay), (bx, by) in strokes:
        dx, dy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
        if math.hypot(px - ax - t * dx, py - ay - t * dy) <= width:
            return True
    return False


def color_icon(size: int = 192) -> bytes:
    """The full-colour icon: a white ring and check mark on the accent colour."""
    blue, white = (0x2B, 0x57, 0x97, 255), (255, 255, 255, 255)
    rows = [
        [
            white
            if _ring(size, size / 2, size / 2, size * 0.40, size * 0.34, x, y) or _check(size, x, y, 0.035)
            else blue
            for x in range(size)
        ]
        for y in range(size)
    ]
    return png_rgba(size, size, rows)


def outline_icon(size: int = 32) -> bytes:
    """The outline icon: white ring and check mark on a transparent background."""
    white, clear = (255, 255, 255, 255), (0, 0, 0, 0)
    rows = [
        [
            white
            if _ring(size, size / 2, size / 2, size * 0.47, size * 0.39, x, y) or _check(size, x, y, 0.05)
            else clear
            for x in range(size)
        ]
        for y in range(size)
    ]
    return png_rgba(size, size, rows)
