"""The audit chain's head, checkpointed outside the database: an append-only file of signed lines.

The hash chain in the database shows a changed, removed or reordered row, but not rows cut
from its end: the chain that is left is still a valid chain. So after every run and decision
the head (sequence number and hash) is appended here as one JSON line, signed with HMAC-SHA256
under a key that is not stored in the database (``AUDIT_KEY``, or a key file), and written to
the log as well. ``jira-cleanup audit verify`` then checks the chain against these checkpoints
(:func:`core.audit.verify_against_checkpoints`).

What this cannot see: someone who can both cut the database's newest rows and cut this file's
newest lines consistently. The log line of each checkpoint is the copy for that case: ship the
log elsewhere.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from core.audit import Checkpoint, next_checkpoint
from core.ports import LifecycleStore

log = logging.getLogger("jira_cleanup.audit")

_FIELDS = ("n", "seq", "hash", "at", "prev_mac", "mac")


class CheckpointError(Exception):
    """The checkpoint file is unreadable or malformed (names the file and the line)."""


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; a new random one (owner-only file) when the file does not exist yet."""
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as stream:
            stream.write(text + "\n")
        log.warning("created the audit checkpoint key %s: keep it (and a copy) outside the database", path)
    if len(text) < 32:
        raise CheckpointError(f"{path}: the audit key must be at least 32 characters")
    return text.encode()


class CheckpointFile:
    """Signed checkpoints of the audit chain's head, one JSON line each, in an append-only file."""

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self.key = key

    def read(self) -> list[Checkpoint]:
        """Every checkpoint, in order ([] when the file does not exist)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [self._parse(number, line) for number, line in enumerate(lines, start=1) if line.strip()]

    def _parse(self, number: int, line: str) -> Checkpoint:
        try:
            data = json.loads(line)
            return Checkpoint(
                n=int(data["n"]),
                seq=int(data["seq"]),
                hash=str(data["hash"]),
                at=str(data["at"]),
                prev_mac=str(data["prev_mac"]),
                mac=str(data["mac"]),
            )
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{self.path}: line {number} is cut or malformed") from None

    def _last(self, stream: BinaryIO) -> Checkpoint | None:
        """The last checkpoint, read from the end of the file (the file only grows)."""
        size = stream.seek(0, os.SEEK_END)
        start = max(0, size - 4096)  # a line is ~300 bytes
        stream.seek(start)
        lines = [line for line in stream.read().decode("utf-8").splitlines() if line.strip()]
        if start > 0:
            lines = lines[1:]  # the first one may be cut by the window
        return self._parse(0, lines[-1]) if lines else None

    @property
    def exists(self) -> bool:
        """True when the file is there."""
        return self.path.exists()

    def seal(self, store: LifecycleStore, now: datetime | None = None) -> Checkpoint | None:
        """Append a checkpoint of the chain's head unless the last one already covers it."""
        head = store.audit_head()
        if head is None:
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "r+b") as stream:
            fcntl.flock(stream, fcntl.LOCK_EX)  # replicas and CLI commands append one at a time
            last = self._last(stream)
            if last is not None and last.seq == head.seq and last.hash == head.hash:
                return None
            checkpoint = next_checkpoint(self.key, last, head.seq, head.hash, now or datetime.now(UTC))
            line = json.dumps({f: getattr(checkpoint, f) for f in _FIELDS}, separators=(",", ":")) + "\n"
            stream.write(line.encode("utf-8"))
            stream.flush()
            os.fsync(stream.fileno())
        log.info(
            "audit checkpoint %s: row %s hash %s mac %s", checkpoint.n, checkpoint.seq, checkpoint.hash, checkpoint.mac
        )
        return checkpoint
