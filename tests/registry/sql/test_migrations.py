"""Alembic migrations: head matches `schema.py`, and 0002 converts stored XML to packed fragments and moves
objectType to `objects`, and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from registry.sql import schema
from registry.sql.fragments import unpack
from registry.sql.migrate import downgrade, upgrade
from xdsservice.database import make_engine

STABLE, ON_DEMAND = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1", "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
XML = '<rim:ExtrinsicObject xmlns:rim="urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0" id="urn:uuid:{n}"><rim:Name>' \
      '<rim:LocalizedString value="Compte rendu opératoire n°{n}"/></rim:Name></rim:ExtrinsicObject>'


@pytest.fixture(params=["sqlite", "postgresql", "citus"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    if request.param == "citus":
        return str(request.getfixturevalue("citus_url"))
    return f"sqlite:///{tmp_path}/registry.db"


def _not_a_partition(name: str | None, type_: str, _parent: object) -> bool:
    """The hash partitions of PostgreSQL (`objects_p03`) are the migrations' layout, not the schema's."""
    return not (type_ == "table" and name is not None and re.fullmatch(r".+_p\d\d", name))


def test_head_matches_the_schema_module(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _not_a_partition})
        diff = compare_metadata(context, schema.metadata)
    engine.dispose()
    assert diff == []


def test_0002_packs_stored_xml_moves_object_type_and_downgrade_restores_both(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine, "0001")
    rows = [{"uuid": f"urn:uuid:{n}", "xml": XML.format(n=n), "kind": "DE" if n % 5 else "SS",
             "object_type": STABLE if n % 3 else ON_DEMAND} for n in range(2500)]  # more than one batch
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO objects (uuid, kind, lid, version, status, xml, registered_at)"
            " VALUES (:uuid, :kind, :uuid, 1, 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved', :xml, '2025')"
        ), rows)
        conn.execute(text("INSERT INTO documents (uuid, object_type) VALUES (:uuid, :object_type)"),
                     [r for r in rows if r["kind"] == "DE"])
    upgrade(engine)
    with engine.connect() as conn:
        stored = {u: (unpack(f).decode(), ot) for u, f, ot in conn.execute(text("SELECT uuid, fragment, object_type FROM objects"))}
    assert stored == {r["uuid"]: (r["xml"], r["object_type"] if r["kind"] == "DE" else None) for r in rows}
    downgrade(engine, "0001")
    with engine.connect() as conn:
        restored = dict(conn.execute(text("SELECT uuid, xml FROM objects")).all())
        types = dict(conn.execute(text("SELECT uuid, object_type FROM documents")).all())
    engine.dispose()
    assert restored == {u: xml for u, (xml, _) in stored.items()}
    assert types == {r["uuid"]: r["object_type"] for r in rows if r["kind"] == "DE"}


def test_0004_one_row_per_lid_and_version_on_an_existing_registry(url: str) -> None:
    engine = make_engine(url)
    upgrade(engine, "0003")
    insert = text(
        "INSERT INTO objects (uuid, kind, lid, version, status, fragment, registered_at)"
        " VALUES (:uuid, 'DE', :lid, :version, 'urn:oasis:names:tc:ebxml-regrep:StatusType:Approved', :f, '2025')"
    )
    with engine.begin() as conn:  # a registry of first versions, as ITI-42 leaves it
        conn.execute(insert, [{"uuid": f"urn:uuid:{n}", "lid": f"urn:uuid:{n}", "version": 1, "f": b"\x01"} for n in range(50)])
    upgrade(engine, "0004")
    with engine.begin() as conn:
        conn.execute(insert, {"uuid": "urn:uuid:v2", "lid": "urn:uuid:7", "version": 2, "f": b"\x01"})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert, {"uuid": "urn:uuid:v2-twin", "lid": "urn:uuid:7", "version": 2, "f": b"\x01"})
    downgrade(engine, "0003")
    with engine.begin() as conn:  # the index is gone with the downgrade
        conn.execute(insert, {"uuid": "urn:uuid:v2-twin", "lid": "urn:uuid:7", "version": 2, "f": b"\x01"})
    engine.dispose()
