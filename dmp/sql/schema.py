"""The DMP record tables (SQLAlchemy 2 Core), beside the registry's in its database, named `dmp_*` with
their own Alembic version table (`dmp_alembic_version`), so either schema migrates alone.

- `dmp_records`: one row per patient (INS, as `str(PatientKey)`): status, the patient's choices, the
  administrative data (JSON of `xdscore.dmpws.gdp.Person`).
- `dmp_actors`: the professionals and structures a record knows, authorised (ACTIVE) or blocked
  (INTERDITE), one row per (record, kind, national id), with the médecin traitant flag; indexed by actor
  for TD0.4.
- `dmp_history`: every change, who made it, when, through what (append only).
Schema changes go through Alembic (`dmp/sql/migrations`); keep this file and the migrations in step.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, Text, false

metadata = MetaData()

PATIENT_LEN = 512
ID_LEN = 64
TIME_LEN = 14

records = Table(
    "dmp_records",
    metadata,
    Column("patient", String(PATIENT_LEN), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("opposes_bris_de_glace", Boolean, nullable=False, server_default=false()),
    Column("opposes_centre_15", Boolean, nullable=False, server_default=false()),
    Column("hidden_from_everyone", Boolean, nullable=False, server_default=false()),
    Column("masked_visible_in_emergency", Boolean, nullable=False, server_default=false()),
    Column("mes_attached", Boolean, nullable=False, server_default=false()),
    Column("internet_account", Boolean, nullable=False, server_default=false()),
    Column("person", Text, nullable=False, server_default="{}"),
    Column("ins_c", String(ID_LEN), nullable=False, server_default=""),
    Column("created_at", String(TIME_LEN), nullable=False),
    Column("updated_at", String(TIME_LEN), nullable=False),
    Column("closed_at", String(TIME_LEN), nullable=False, server_default=""),
    Column("closure_reason", String(ID_LEN), nullable=False, server_default=""),
)

actors = Table(
    "dmp_actors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("patient", String(PATIENT_LEN), nullable=False),
    Column("kind", String(16), nullable=False),  # PS | STRUCTURE (xdscore.access.record.ActorKind)
    Column("actor_id", String(ID_LEN), nullable=False),
    Column("mode", String(16), nullable=False),  # ACTIVE | INTERDITE
    Column("first_name", String(256), nullable=False, server_default=""),
    Column("last_name", String(256), nullable=False, server_default=""),
    Column("specialities", Text, nullable=False, server_default="[]"),  # JSON [[code, label], ...]
    Column("structure_id", String(ID_LEN), nullable=False, server_default=""),
    Column("authorised_at", String(TIME_LEN), nullable=False, server_default=""),
    Column("medecin_traitant", Boolean, nullable=False, server_default=false()),
    Column("last_action_at", String(TIME_LEN), nullable=False, server_default=""),
    Column("last_access_at", String(TIME_LEN), nullable=False, server_default=""),
    Index("ux_dmp_actors_patient", "patient", "kind", "actor_id", unique=True),
    Index("ix_dmp_actors_actor", "kind", "actor_id"),
    Index("ix_dmp_actors_structure", "structure_id"),
)

history = Table(
    "dmp_history",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("patient", String(PATIENT_LEN), nullable=False),
    Column("at", String(TIME_LEN), nullable=False),
    Column("change", String(32), nullable=False),
    Column("who", String(ID_LEN), nullable=False),
    Column("who_name", String(256), nullable=False, server_default=""),
    Column("via", String(32), nullable=False, server_default=""),
    Column("detail", Text, nullable=False, server_default="{}"),  # JSON
    Index("ix_dmp_history_patient", "patient", "seq"),
)
