"""Database errors at the registry's boundary (registry.sql.errors): real errors from SQLite and PostgreSQL.
Contention and outages are XDSRegistryBusy; a request the database cannot run is XDSRegistryError (issue 18:
such queries were answered "busy, retry later" and logged as "database unavailable")."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from lxml import etree
from sqlalchemy.exc import DBAPIError

from harness.builders import new_patient_id, single_document
from harness.pgserver import free_port
from registry.config import RegistrySettings
from registry.sql.errors import database_violation, is_contention
from xdscore import soap
from xdscore.model import PatientKey
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, ErrorCode
from xdscore.vocabulary import StoredQueryId as Q


def error_of(engine: sa.Engine, statement: str, params: dict[str, Any] | None = None,
             before: Callable[[sa.Connection], None] | None = None) -> DBAPIError:
    with pytest.raises(DBAPIError) as raised, engine.connect() as conn:
        if before is not None:
            before(conn)
        conn.execute(sa.text(statement), params or {})
    return raised.value


def sqlite_engine(tmp_path, timeout: float = 30) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{tmp_path / 'r.db'}", connect_args={"timeout": timeout})


@pytest.mark.parametrize(("statement", "params", "reason"), [
    ("SELECT 'a' LIKE :p", {"p": "%" * 60000}, "LIKE or GLOB pattern too complex"),
    ("SELECT 1 WHERE " + " AND ".join(["1 = 1"] * 1100), None, "Expression tree is too large"),
    ("SELECT " + ", ".join(["1"] * 3000), None, "too many columns"),
])
def test_sqlite_cannot_run_it_is_a_registry_error(tmp_path, statement, params, reason):
    error = error_of(sqlite_engine(tmp_path), statement, params)
    violation = database_violation(error)
    assert not is_contention(error)
    assert violation.code is ErrorCode.XDSRegistryError and reason in violation.context
    assert "SELECT" not in violation.context  # the driver's reason, never the statement


def test_sqlite_locked_is_busy(tmp_path):
    engine = sqlite_engine(tmp_path, timeout=0.05)
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TABLE t (x)"))
        conn.commit()
    holder = sqlite3.connect(tmp_path / "r.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        error = error_of(engine, "INSERT INTO t VALUES (1)")
    finally:
        holder.close()
    assert "locked" in str(error.orig) and is_contention(error)
    assert database_violation(error).code is ErrorCode.XDSRegistryBusy


def test_postgresql_cannot_run_it_is_a_registry_error(pg_url):
    engine = sa.create_engine(pg_url)
    too_deep = error_of(engine, "SELECT " + " + ".join(["1"] * 100000))  # stack depth limit exceeded
    out_of_range = error_of(engine, "SELECT 2147483647::int + 1")
    for error, sqlstate in ((too_deep, "54001"), (out_of_range, "22003")):
        assert error.orig.sqlstate == sqlstate
        assert database_violation(error).code is ErrorCode.XDSRegistryError
    assert "\n" not in database_violation(too_deep).context
    engine.dispose()


def test_postgresql_lock_timeout_and_refused_connection_are_busy(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.connect() as holder:
        holder.execute(sa.text("CREATE TABLE IF NOT EXISTS t (x int)"))
        holder.commit()
        holder.execute(sa.text("LOCK TABLE t IN ACCESS EXCLUSIVE MODE"))
        locked = error_of(engine, "SELECT * FROM t", before=lambda c: c.execute(sa.text("SET lock_timeout = '50ms'")))
        holder.rollback()
    assert locked.orig.sqlstate == "55P03" and database_violation(locked).code is ErrorCode.XDSRegistryBusy
    engine.dispose()
    nobody = sa.create_engine(f"postgresql+psycopg://x@127.0.0.1:{free_port()}/x", connect_args={"connect_timeout": 2})
    with pytest.raises(DBAPIError) as refused:
        nobody.connect()
    assert is_contention(refused.value)
    assert database_violation(refused.value).code is ErrorCode.XDSRegistryBusy


async def test_a_query_sqlite_cannot_run_is_answered_registry_error_not_busy(tmp_path):
    """ITI-18 through the registry's endpoint: an author pattern of 60,000 characters. The decoder's own
    bound (query_max_like_length) is lifted here, so that the database is what refuses it."""
    from registry.app import Registry

    settings = RegistrySettings.load({"XDS_DATA_DIR": str(tmp_path), "XDS_CONFIG": "/dev/null",
                                      "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_SECURITY": "off"},
                                     feed_port=0, query_max_like_length=100_000)
    registry = Registry(settings)
    patient = new_patient_id()
    with registry.store.write() as tx:
        tx.save_patient(PatientKey.parse(patient), patient, {}, "20260101")
    query = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                             "$XDSDocumentEntryStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"],
                                             "$XDSDocumentEntryAuthorPerson": ["%" * 60000]}, ReturnType.OBJECT_REF)
    body = etree.tostring(soap.request_envelope(query, Action.STORED_QUERY.value, to="http://x/"))
    submission = etree.tostring(soap.request_envelope(single_document(patient).xml(), Action.REGISTER.value, to="http://x/"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=registry.asgi), base_url="http://r.test") as client:
        stored = await client.post(registry.settings.path, content=submission, headers={"Content-Type": "application/soap+xml"})
        assert b"ResponseStatusType:Success" in stored.content  # a document whose author the pattern is matched on
        reply = await client.post(registry.settings.path, content=body, headers={"Content-Type": "application/soap+xml"})
    errors = etree.fromstring(reply.content).iter(f"{{{NS.RS}}}RegistryError")
    codes = [e.get("errorCode") for e in errors]
    assert codes == [ErrorCode.XDSRegistryError.value], reply.text
