"""The ITI-42 floor: what any registry must at least do for a submission, with plain DBAPI.

The same request bodies the HTTP run sends are parsed with lxml, and the rows the registry writes for
them (the `objects` row with the packed ebRIM fragment, `documents`, its codes, authors and reference
ids, `submission_sets` and its authors, `associations`; `registry.sql.writes`) are taken straight from
the tree and inserted with the DBAPI driver (sqlite3 or psycopg) in one transaction per submission,
committed durably: SQLite WAL with `synchronous=FULL`, PostgreSQL with its default `synchronous_commit=on`
on a cluster with fsync on. The tables and indexes are the product's, made by its own migrations.
What the floor leaves out is what a registry adds on top: HTTP, the envelope, the IHE checks and their
lookups, the response, the audit. N threads (each with its own connection) run it at the concurrency of
the HTTP run; SQLite writers of one process take turns on a lock, as the registry's do.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from lxml import etree

from registry.sql import locate, patient_number
from registry.sql.fragments import pack
from registry.sql.writes import COLUMNS as WRITE_COLUMNS
from xdscore.model import PatientKey
from xdscore.vocabulary import UUID, AssociationType, Slot, Status

RIM = "{urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0}"
APPROVED = Status.APPROVED.value
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_TIME = {Slot.CREATION_TIME: "creation_time", Slot.SERVICE_START_TIME: "service_start_time",
         Slot.SERVICE_STOP_TIME: "service_stop_time"}
_CODES = {UUID.DE_CLASS_CODE: "class_code", UUID.DE_TYPE_CODE: "type_code", UUID.DE_FORMAT_CODE: "format_code",
          UUID.DE_PRACTICE_SETTING_CODE: "practice_setting_code",
          UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE: "healthcare_facility_type_code"}

COLUMNS = {  # as `registry.sql.writes` fills them (the Folder tables aside: these submissions have none)
    name: cols for name, cols in WRITE_COLUMNS.items() if name not in ("folders", "folder_codes")
}


def _slots(el: etree._Element) -> dict[str, list[str]]:
    return {s.get("name", ""): [v.text or "" for v in s.iter(f"{RIM}Value")] for s in el.iterchildren(f"{RIM}Slot")}


def _code(c: etree._Element) -> str:
    scheme = _slots(c).get(Slot.CODING_SCHEME, [""])[0]
    return f"{c.get('nodeRepresentation', '')}^^{scheme}"


def _time(value: list[str] | None) -> str | None:
    return value[0].strip().ljust(14, "0")[:14] if value else None


def rows_of(body: bytes, now: str) -> dict[str, list[tuple[Any, ...]]]:
    """The rows the registry writes for this ITI-42 request body, read from the lxml tree in one pass."""
    root = etree.fromstring(body, _PARSER)
    objects = root.find(f".//{RIM}RegistryObjectList")
    assert objects is not None
    ids = {o.get("id", ""): f"urn:uuid:{uuid.uuid4()}" for o in objects}
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in COLUMNS}
    ss_id = ""
    for o in objects:
        oid = ids[o.get("id", "")]
        tag = etree.QName(o).localname
        idents = {e.get("identificationScheme"): e.get("value") for e in o.iterchildren(f"{RIM}ExternalIdentifier")}
        slots = _slots(o)
        for e in o.iter(f"{RIM}Classification", f"{RIM}ExternalIdentifier"):  # final ids, as the registry writes
            e.set("id", f"urn:uuid:{uuid.uuid4()}")
        o.set("id", oid)
        o.set("lid", oid)
        kind, patient, unique_id, object_type = "AS", None, None, None
        if tag == "ExtrinsicObject":
            kind, object_type = "DE", o.get("objectType")
            patient, unique_id = idents.get(UUID.DE_PATIENT_ID), idents.get(UUID.DE_UNIQUE_ID)
            codes: dict[str, str | None] = dict.fromkeys(_CODES.values())
            events: set[tuple[str, str]] = set()
            authors: list[str] = []
            for c in o.iterchildren(f"{RIM}Classification"):
                scheme = c.get("classificationScheme")
                if scheme in _CODES:
                    codes[_CODES[scheme]] = _code(c)
                elif scheme == UUID.DE_EVENT_CODE:
                    events.add(("E", _code(c)))
                elif scheme == UUID.DE_CONFIDENTIALITY_CODE:
                    events.add(("C", _code(c)))
                elif scheme == UUID.DE_AUTHOR:
                    authors += _slots(c).get(Slot.AUTHOR_PERSON, [])[:1]
            size = slots.get(Slot.SIZE, [""])[0]
            rows["documents"].append((
                oid, codes["class_code"], codes["type_code"], codes["format_code"], codes["practice_setting_code"],
                codes["healthcare_facility_type_code"], *(_time(slots.get(k)) for k in _TIME),
                slots.get(Slot.HASH, [""])[0].lower() or None, int(size) if size.isdigit() else None,
                slots.get(Slot.REPOSITORY_UNIQUE_ID, [None])[0], o.get("mimeType"),
            ))
            rows["document_codes"] += [(oid, k, v) for k, v in sorted(events)]
            rows["document_authors"] += [(oid, a) for a in authors]
            rows["document_reference_ids"] += [(oid, v) for v in dict.fromkeys(slots.get(Slot.REFERENCE_ID_LIST, []))]
        elif tag == "RegistryPackage":
            kind, ss_id = "SS", oid
            patient, unique_id = idents.get(UUID.SS_PATIENT_ID), idents.get(UUID.SS_UNIQUE_ID)
            content = next((_code(c) for c in o.iterchildren(f"{RIM}Classification")
                            if c.get("classificationScheme") == UUID.SS_CONTENT_TYPE_CODE), None)
            rows["submission_sets"].append((oid, idents.get(UUID.SS_SOURCE_ID), _time(slots.get(Slot.SUBMISSION_TIME)), content))
            rows["submission_set_authors"] += [
                (oid, a) for c in o.iterchildren(f"{RIM}Classification")
                if c.get("classificationScheme") == UUID.SS_AUTHOR for a in _slots(c).get(Slot.AUTHOR_PERSON, [])[:1]
            ]
        else:
            source, target = ids.get(o.get("sourceObject", ""), o.get("sourceObject")), ids.get(o.get("targetObject", ""), o.get("targetObject"))
            o.set("sourceObject", source or "")
            o.set("targetObject", target or "")
            rows["associations"].append((oid, o.get("associationType"), source, target,
                                         slots.get(Slot.SUBMISSION_SET_STATUS, [None])[0]))
        key = PatientKey.parse(patient) if patient else None
        fragment = pack(etree.tostring(o, encoding="UTF-8"))
        rows["objects"].append((oid, kind, oid, 1, APPROVED, patient_number.of(key) if key else None, unique_id, object_type,
                                fragment, now))
    assert ss_id and all(r[1] != AssociationType.HAS_MEMBER.value or r[2] == ss_id for r in rows["associations"])
    # Every row carries the submission's patient (an association its ends'), and every object's identifiers
    # go to `registry_ids`, as `registry.sql.writes` does (the tables are keyed by patient).
    owner = next(r[5] for r in rows["objects"] if r[0] == ss_id)
    out: dict[str, list[tuple[Any, ...]]] = {"objects": [(*r[:5], owner, *r[6:]) for r in rows["objects"]]}
    for name in COLUMNS:
        if name not in ("objects", "registry_ids"):
            out[name] = [(owner, *r) for r in rows[name]]
    out["registry_ids"] = [row for r in out["objects"] for row in locate.rows_for(r[0], r[1], owner, r[2], r[6])]
    return out


class Floor:
    """Plain DBAPI inserts of `rows_of(body)` into a database migrated by the product, one durable
    transaction per body, from `threads` threads."""

    def __init__(self, url: str) -> None:
        from registry.sql.store import SqlRegistry

        store = SqlRegistry(url)  # the product's tables and indexes, through its migrations
        store.migrate()
        store.dispose()
        self.url = url
        self.sqlite = url.startswith("sqlite")
        mark = "?" if self.sqlite else "%s"
        self.sql = {t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join([mark] * len(c))})" for t, c in COLUMNS.items()}
        self.lock = threading.Lock()

    def connect(self) -> Any:
        if self.sqlite:
            conn = sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000", "foreign_keys=ON"):
                conn.execute(f"PRAGMA {pragma}")
            return conn
        import psycopg

        return psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))

    def insert(self, conn: Any, body: bytes) -> None:
        rows = rows_of(body, time.strftime("%Y%m%d%H%M%S"))
        if self.sqlite:
            with self.lock:
                conn.execute("BEGIN IMMEDIATE")
                for table, values in rows.items():
                    if values:
                        conn.executemany(self.sql[table], values)
                conn.execute("COMMIT")
            return
        with conn.cursor() as cur:
            for table, values in rows.items():
                if values:
                    cur.executemany(self.sql[table], values)
        conn.commit()

    def run(self, bodies: Sequence[bytes], seconds: float, threads: int) -> tuple[int, float]:
        """Insert bodies (each at most once) from `threads` threads for `seconds`: (inserted, elapsed)."""
        counter = iter(range(len(bodies)))
        next_index: Callable[[], int | None] = lambda: next(counter, None)  # noqa: E731 (GIL-atomic on an iterator)
        done = [0] * threads
        stop_at = time.perf_counter() + seconds

        def worker(n: int) -> None:
            conn = self.connect()
            try:
                while time.perf_counter() < stop_at and (i := next_index()) is not None:
                    self.insert(conn, bodies[i])
                    done[n] += 1
            finally:
                conn.close()

        workers = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return sum(done), time.perf_counter() - start
