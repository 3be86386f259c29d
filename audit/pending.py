"""The sink's own spool: messages received but not yet stored when the sink had to stop (ITI TF-2a 3.20).

A sink told to stop (SIGTERM) stores what it holds if its database lets it within a few seconds; what is
left (the database is down, or slower than the grace period) is written here, a SQLite file in the
sink's data folder (`pending.db`), and stored first at the next start. A row is deleted once the message
it holds is stored (as an event or as a rejection), so a crash in between repeats a message, never loses
it: events are de-duplicated by digest, a rejection may be recorded twice. This file holds what a UDP
sender can never resend; TLS senders that wait for the sink's acknowledgement resend on their own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from audit.store import Origin
from xdsservice.database import SQLITE_PRAGMAS

FILE_NAME = "pending.db"


class PendingFile:
    """Received messages waiting to be stored; safe to use from several threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:  # WAL, synchronous=FULL: what is kept here must survive what follows
            self._db.execute(f"PRAGMA {pragma}")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL,"
            " transport TEXT NOT NULL, peer TEXT NOT NULL, certificate TEXT, problem TEXT, data BLOB NOT NULL)"
        )

    def put(self, messages: Iterable[tuple[bytes, Origin, str | None]]) -> int:
        """Keep (data, origin, problem) rows; returns how many."""
        rows = [
            (o.received_at.astimezone(UTC).isoformat(), o.transport, o.peer, o.peer_certificate, problem, data)
            for data, o, problem in messages
        ]
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO pending (received_at, transport, peer, certificate, problem, data) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._db.execute("COMMIT")
        return len(rows)

    def load(self) -> list[tuple[int, bytes, Origin, str | None]]:
        """Every kept row, oldest first: (row id, data, origin, problem)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_at, transport, peer, certificate, problem, data FROM pending ORDER BY id"
            ).fetchall()
        return [
            (row_id, bytes(data), Origin(transport, peer, datetime.fromisoformat(received_at), certificate), problem)
            for row_id, received_at, transport, peer, certificate, problem, data in rows
        ]

    def delete(self, ids: list[int]) -> None:
        if not ids:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
            self._db.execute("COMMIT")

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM pending").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
