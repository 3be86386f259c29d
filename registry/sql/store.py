"""The registry's SQL store: `RegistryReader` and the writes, inside one database transaction.

SQLite (WAL) is the embedded default and PostgreSQL the server; the code is the same. A write
transaction is serialized where it matters: SQLite takes the write lock at BEGIN (IMMEDIATE); PostgreSQL
takes transaction-scoped advisory locks on the uniqueIds and targets a submission touches, so two
concurrent submissions of one uniqueId cannot both pass the reuse check. Unique indexes stay as the
last line of defence, and their IntegrityError is translated to the IHE code at the boundary.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from lxml import etree
from sqlalchemy import Connection, Engine, bindparam, create_engine, event, insert, select, update
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

from registry.sql import fragments
from registry.sql import schema as t
from registry.sql.base import KIND_CODES, KINDS, chunks
from registry.sql.lifecycle import LifecycleReads, delete_objects
from registry.store import Changes, StoredDocument, StoredRef
from xdscore.ebrim import rim as rim_codec
from xdscore.model import (
    Association,
    Code,
    DocumentEntry,
    Folder,
    Patient,
    PatientKey,
    RegistryEntry,
    SubmissionSet,
)
from xdscore.vocabulary import NS, UUID, AssociationType

HAS_MEMBER = AssociationType.HAS_MEMBER.value


def code_value(code: Code | None) -> str | None:
    return f"{code.code}^^{code.scheme}" if code else None


def pad_time(value: str | None) -> str | None:
    """DTM → 14 digits, so that string comparison is time comparison at any precision."""
    return value.strip().ljust(14, "0")[:14] if value else None


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_connection.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    # No server-side prepared statements: after five executions psycopg would prepare the stored-query
    # SQL, and PostgreSQL's generic plan for "patient = $1 ... ORDER BY seq LIMIT n" can walk the primary
    # key in seq order and filter, instead of using the patient index (measured: 90 ms instead of 1 ms).
    engine = create_engine(url, pool_size=10, max_overflow=20, connect_args={"prepare_threshold": None})
    _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle for a while (a server restart, a
    firewall dropping idle sessions): pinging on every checkout would add a round trip to each query,
    10-20 % of a FindDocuments. A connection that fails the ping is replaced, not handed out."""

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < IDLE_PING_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # whatever broke it, the pool retries with a new connection
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


# The lookups every submission makes, built once: constructing a Core statement per call costs more than
# running it on SQLite.
_PATIENT = select(t.patients).where(t.patients.c.pid == bindparam("pid"), t.patients.c.authority == bindparam("aa"))
_DOCUMENTS_BY_UID = (
    select(t.objects.c.uuid, t.objects.c.unique_id, t.objects.c.status, t.documents.c.hash, t.documents.c.size)
    .join(t.documents, t.documents.c.uuid == t.objects.c.uuid)
    .where(t.objects.c.unique_id.in_(bindparam("uids", expanding=True)), t.objects.c.kind == "DE")
)
_INSERTS = {table.name: insert(table) for table in t.metadata.sorted_tables}
_PACKAGE_UIDS = select(t.objects.c.unique_id).where(
    t.objects.c.unique_id.in_(bindparam("uids", expanding=True)), t.objects.c.kind.in_(("SS", "FD"))
)


class RegistryTx(LifecycleReads):
    """One database transaction: the reads the transactions need, and `apply` for their changes."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.is_postgres = conn.dialect.name == "postgresql"

    # --- locking --------------------------------------------------------------------------------------

    def lock(self, keys: Iterable[str]) -> None:
        """Serialize concurrent writers on these keys (PostgreSQL; SQLite is already serialized)."""
        if not self.is_postgres:
            return
        for key in sorted(set(keys)):
            self.conn.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (zlib.crc32(key.encode()) - 2**31,))

    # --- RegistryReader -------------------------------------------------------------------------------

    def patient(self, key: PatientKey) -> Patient | None:
        row = self.conn.execute(_PATIENT, {"pid": key.id, "aa": key.authority}).first()
        if row is None:
            return None
        merged = PatientKey.parse(row.merged_into) if row.merged_into else None
        return Patient(key, row.cx, json.loads(row.demographics or "{}"), merged)

    def existing_uuids(self, uuids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(uuids):
            found.update(self.conn.scalars(select(t.objects.c.uuid).where(t.objects.c.uuid.in_(chunk))))
        return found

    def refs(self, uuids: Iterable[str]) -> dict[str, StoredRef]:
        o = t.objects.c
        out: dict[str, StoredRef] = {}
        for chunk in chunks(uuids):
            for r in self.conn.execute(
                select(o.uuid, o.kind, o.status, o.patient, o.lid, o.unique_id, o.version).where(o.uuid.in_(chunk))
            ):
                out[r.uuid] = StoredRef(r.uuid, KINDS[r.kind], r.status, r.patient, r.lid, r.unique_id, r.version)
        return out

    def documents_by_unique_id(self, unique_ids: Iterable[str]) -> dict[str, list[StoredDocument]]:
        out: dict[str, list[StoredDocument]] = {}
        for chunk in chunks(unique_ids):
            for r in self.conn.execute(_DOCUMENTS_BY_UID, {"uids": chunk}):
                out.setdefault(r.unique_id, []).append(StoredDocument(r.uuid, r.unique_id, r.hash, r.size, r.status))
        return out

    def used_package_unique_ids(self, unique_ids: Iterable[str]) -> set[str]:
        found: set[str] = set()
        for chunk in chunks(unique_ids):
            found.update(self.conn.scalars(_PACKAGE_UIDS, {"uids": chunk}))
        return found

    def folders_of_documents(self, document_uuids: Iterable[str]) -> dict[str, list[str]]:
        a, o = t.associations.c, t.objects.c
        out: dict[str, list[str]] = {}
        for chunk in chunks(document_uuids):
            rows = self.conn.execute(
                select(a.target, a.source)
                .join(t.objects, o.uuid == a.source)
                .where(a.target.in_(chunk), a.association_type == HAS_MEMBER, o.kind == "FD")
                .order_by(o.seq)
            )
            for r in rows:
                out.setdefault(r.target, [])
                if r.source not in out[r.target]:
                    out[r.target].append(r.source)
        return out

    def relationship_sources(self, target_uuids: Iterable[str], association_types: Iterable[str]) -> dict[str, list[str]]:
        a = t.associations.c
        types = list(association_types)
        out: dict[str, list[str]] = {}
        for chunk in chunks(target_uuids):
            for r in self.conn.execute(select(a.target, a.source).where(a.target.in_(chunk), a.association_type.in_(types))):
                out.setdefault(r.target, []).append(r.source)
        return out

    # --- writes ---------------------------------------------------------------------------------------

    def apply(self, changes: Changes, now: str) -> None:
        if changes.removed:
            delete_objects(self.conn, changes.removed)
        rows: dict[str, list[dict[str, Any]]] = {name: [] for name in t.metadata.tables}
        for obj in changes.new_objects:
            self._rows_for(obj, now, rows)
        for table in t.metadata.sorted_tables:
            if rows.get(table.name):
                self.conn.execute(_INSERTS[table.name], rows[table.name])
        for uuid, status in changes.status_updates.items():
            self.conn.execute(update(t.objects).where(t.objects.c.uuid == uuid).values(status=status))
        for uuid, when in changes.folder_updates.items():
            self.conn.execute(update(t.folders).where(t.folders.c.uuid == uuid).values(last_update_time=when))

    def _rows_for(self, obj: RegistryEntry, now: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        rim = obj.rim
        patient = PatientKey.parse(getattr(obj, "patient_id", None) or "")
        rows["objects"].append(
            {
                "uuid": obj.entry_uuid,
                "kind": KIND_CODES[obj.kind],
                "lid": rim.lid or obj.entry_uuid,
                "version": int(rim.version_name or 1),
                "status": rim.status or "",
                "patient": str(patient) if patient else None,
                "unique_id": getattr(obj, "unique_id", None),
                "object_type": (obj.object_type or "") if isinstance(obj, DocumentEntry) else None,
                # stored without status: it changes (deprecation), and is put back on the way out
                "fragment": fragments.pack(etree.tostring(rim_codec.write_object(replace(rim, status=None)), encoding="UTF-8", xml_declaration=False)),
                "registered_at": now,
            }
        )
        uid = obj.entry_uuid
        if isinstance(obj, DocumentEntry):
            rows["documents"].append(
                {
                    "uuid": uid,
                    "class_code": code_value(obj.class_code),
                    "type_code": code_value(obj.type_code),
                    "format_code": code_value(obj.format_code),
                    "practice_setting_code": code_value(obj.practice_setting_code),
                    "healthcare_facility_type_code": code_value(obj.healthcare_facility_type_code),
                    "creation_time": pad_time(obj.creation_time),
                    "service_start_time": pad_time(obj.service_start_time),
                    "service_stop_time": pad_time(obj.service_stop_time),
                    "hash": obj.hash.lower() if obj.hash else None,
                    "size": int(obj.size) if obj.size and obj.size.isdigit() else None,
                    "repository_unique_id": obj.repository_unique_id,
                    "mime_type": obj.mime_type,
                }
            )
            codes = {("E", code_value(c)) for c in obj.event_codes} | {("C", code_value(c)) for c in obj.confidentiality_codes}
            rows["document_codes"] += [{"uuid": uid, "code_type": k, "value": v} for k, v in sorted(codes)]
            rows["document_authors"] += [{"uuid": uid, "person": a.person} for a in obj.authors if a.person]
            rows["document_reference_ids"] += [{"uuid": uid, "value": v} for v in dict.fromkeys(obj.reference_ids)]
        elif isinstance(obj, SubmissionSet):
            rows["submission_sets"].append(
                {
                    "uuid": uid,
                    "source_id": obj.source_id,
                    "submission_time": pad_time(obj.submission_time),
                    "content_type_code": code_value(obj.content_type_code),
                }
            )
            rows["submission_set_authors"] += [{"uuid": uid, "person": a.person} for a in obj.authors if a.person]
        elif isinstance(obj, Folder):
            rows["folders"].append({"uuid": uid, "last_update_time": obj.last_update_time})
            rows["folder_codes"] += [{"uuid": uid, "value": v} for v in dict.fromkeys(code_value(c) for c in obj.codes)]
        elif isinstance(obj, Association):
            rows["associations"].append(
                {
                    "uuid": uid,
                    "association_type": obj.association_type,
                    "source": obj.source_uuid,
                    "target": obj.target_uuid,
                    "submission_set_status": obj.submission_set_status,
                }
            )

    # --- patient identity feed ------------------------------------------------------------------------

    def save_patient(self, key: PatientKey, cx: str, demographics: dict[str, str], now: str) -> bool:
        """Create or update a patient; True when it was created."""
        p = t.patients.c
        values = {"cx": cx, "demographics": json.dumps(demographics, sort_keys=True), "updated_at": now}
        result = self.conn.execute(
            update(t.patients).where(p.pid == key.id, p.authority == key.authority).values(merged_into=None, **values)
        )
        if result.rowcount:
            return False
        self.conn.execute(insert(t.patients).values(pid=key.id, authority=key.authority, **values))
        return True

    def merge_patient(self, subsumed: PatientKey, surviving: PatientKey, cx: str, now: str) -> None:
        """A40: the subsumed id is retired; its documents are answered under the surviving id."""
        if self.patient(subsumed) is None:
            self.save_patient(subsumed, str(subsumed), {}, now)
        p = t.patients.c
        self.conn.execute(
            update(t.patients)
            .where(p.pid == subsumed.id, p.authority == subsumed.authority)
            .values(merged_into=str(surviving), updated_at=now)
        )
        # Earlier merges into the subsumed id now point at the survivor too.
        self.conn.execute(update(t.patients).where(p.merged_into == str(subsumed)).values(merged_into=str(surviving)))
        # Documents of the retired id are answered under the surviving one: rewrite their patientId.
        o = t.objects.c
        moved = self.conn.execute(select(o.uuid, o.fragment).where(o.patient == str(subsumed))).all()
        for row in moved:
            xml = _with_patient(fragments.unpack(row.fragment), str(surviving))
            self.conn.execute(update(t.objects).where(o.uuid == row.uuid).values(patient=str(surviving), fragment=fragments.pack(xml)))


_PATIENT_SCHEMES = frozenset({UUID.DE_PATIENT_ID, UUID.SS_PATIENT_ID, UUID.FOLDER_PATIENT_ID})


def _with_patient(xml: bytes, cx: str) -> bytes:
    el = etree.fromstring(xml)
    for ext in el.iterchildren(f"{{{NS.RIM}}}ExternalIdentifier"):
        if ext.get("identificationScheme") in _PATIENT_SCHEMES:
            ext.set("value", cx)
    return bytes(etree.tostring(el, encoding="UTF-8", xml_declaration=False))


class SqlRegistry:
    """Owns the engine; hands out read or write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        # SQLite has one writer at a time; waiting on an in-process lock instead of SQLite's busy handler
        # (which sleeps in growing steps) keeps the latency of concurrent submissions flat.
        self._sqlite_writer = threading.Lock() if self.engine.dialect.name == "sqlite" else None

    def migrate(self) -> None:
        from registry.sql.migrate import upgrade

        upgrade(self.engine)

    @contextmanager
    def write(self, lock_keys: Iterable[str] = ()) -> Iterator[RegistryTx]:
        if self._sqlite_writer is not None:
            self._sqlite_writer.acquire()
        try:
            conn = self.engine.connect().execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    tx = RegistryTx(conn)
                    tx.lock(lock_keys)
                    yield tx
            finally:
                conn.close()
        finally:
            if self._sqlite_writer is not None:
                self._sqlite_writer.release()

    @contextmanager
    def read(self) -> Iterator[RegistryTx]:
        if self.engine.dialect.name == "postgresql":
            # No BEGIN / COMMIT round trips: under READ COMMITTED each statement of a transaction sees
            # its own snapshot anyway, so autocommit reads see exactly what they saw inside one.
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield RegistryTx(conn)
            return
        with self.engine.connect() as conn, conn.begin():
            yield RegistryTx(conn)

    def dispose(self) -> None:
        self.engine.dispose()
