"""The sink's own spool: messages received but not stored in its database (ITI TF-2a 3.20).

Two cases fill it, a SQLite file in the sink's data folder (`pending.db`, WAL, `synchronous=FULL`):
- the database is unreachable (at start-up or later): the write loop (`audit.writer`) moves what arrives
  here while it retries the database, and stores it from here once the database is back;
- a stop (SIGTERM): what the database did not take within the grace period is written here, and stored
  at the next start.
A row is deleted once the message it holds is stored (as an event or as a rejection), so a crash in
between repeats a message, never loses it; the store keeps a message once (events by digest, rejections
by transport and bytes). A TLS sender that asked for acknowledgements is acknowledged once its frames are
here or in the database: both are durable.
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

    def put(self, messages: Iterable[tuple[bytes, Origin, str | None]]) -> list[int]:
        """Keep (data, origin, problem) rows in one durable commit; their row ids."""
        rows = [
            (o.received_at.astimezone(UTC).isoformat(), o.transport, o.peer, o.peer_certificate, problem, data)
            for data, o, problem in messages
        ]
        ids = []
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for row in rows:
                    cursor = self._db.execute(
                        "INSERT INTO pending (received_at, transport, peer, certificate, problem, data)"
                        " VALUES (?, ?, ?, ?, ?, ?)", row)
                    ids.append(int(cursor.lastrowid or 0))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return ids

    def load(self, after: int = 0, limit: int = -1) -> list[tuple[int, bytes, Origin, str | None]]:
        """Kept rows with an id above `after`, oldest first, at most `limit` (-1: all): (row id, data,
        origin, problem)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, received_at, transport, peer, certificate, problem, data FROM pending WHERE id > ?"
                " ORDER BY id LIMIT ?", (after, limit),
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
