"""Database errors at the registry's boundary: contention is XDSRegistryBusy, anything else XDSRegistryError
(ITI TF-3 4.2.4.1, Table 4.2.4.1-2).

XDSRegistryBusy tells the client to come back later, which is only true of contention and outages: a lock
held too long, a lost or refused connection, a full disk, a server shutting down. A request the database
cannot run (SQLite "Expression tree is too large" or "LIKE or GLOB pattern too complex", PostgreSQL
"statement too complex", a value out of range) fails the same way the next time: XDSRegistryError, with
the database's one-line reason (never the SQL, which may hold other patients' values).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError

from xdscore.errors import Violation
from xdscore.rules.catalog import RULES
from xdscore.vocabulary import ErrorCode

# SQLite primary result codes (the low byte of extended codes) that mean "busy or unavailable".
_SQLITE_UNAVAILABLE = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_READONLY,
})
# PostgreSQL SQLSTATE classes and codes that mean "busy or unavailable": connection exception, insufficient
# resources, operator intervention, system error; lock not available, serialization failure, deadlock.
_PG_UNAVAILABLE_CLASSES = ("08", "53", "57", "58")
_PG_UNAVAILABLE_CODES = frozenset({"55P03", "40001", "40P01", "55006"})

BUSY_TEXT = "the registry database is busy or unavailable; retry later"


def is_contention(exc: DBAPIError) -> bool:
    """True when retrying later may succeed: the database was busy or unreachable, not the request wrong."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _SQLITE_UNAVAILABLE
    if isinstance(orig, sqlite3.Error):
        return False  # an sqlite3 error without a code (a misuse of the API): not contention
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate:
        return sqlstate[:2] in _PG_UNAVAILABLE_CLASSES or sqlstate in _PG_UNAVAILABLE_CODES
    # No code at all: psycopg's failures to connect (refused, timed out) carry none.
    return exc.__class__.__name__ in ("OperationalError", "InterfaceError")


def reason(exc: DBAPIError) -> str:
    """The driver's own message, first line only (PostgreSQL's next lines quote the statement)."""
    text = str(exc.orig if exc.orig is not None else exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


@RULES.rule("REG-database", ErrorCode.XDSRegistryBusy, ErrorCode.XDSRegistryError, ref="ITI TF-3 4.2.4.1", family="registry boundary")
def database_violation(exc: DBAPIError) -> Violation:
    """The RegistryError for a database error: Busy for contention, RegistryError (with why) otherwise."""
    if is_contention(exc):
        return Violation(ErrorCode.XDSRegistryBusy, BUSY_TEXT)
    return Violation(ErrorCode.XDSRegistryError, f"the registry database cannot run this request: {reason(exc)}")
