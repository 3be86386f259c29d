"""The registry's SQL schema (SQLAlchemy 2 Core), the same on SQLite and PostgreSQL.

`objects` keeps every registry object as registered (its ebRIM XML with final ids, packed by
`registry.sql.fragments`) plus what identifies it;
side tables hold exactly what the stored queries filter on (ITI TF-2a 3.18.4.1.2.3.7), each indexed so a
query selects ids through indexes, never scanning the registry. Coded values are stored as
`code^^codingScheme`, the stored-query encoding, so a filter compares one column. Times are stored padded
to 14 digits (YYYYMMDDhhmmss) so that string order is time order.
Schema changes go through Alembic (`registry/sql/migrations`); keep this file and the migrations in step.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, text

metadata = MetaData()

UUID_LEN = 64
CODE_LEN = 512
TIME_LEN = 14

patients = Table(
    "patients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pid", String(256), nullable=False),  # CX.1
    Column("authority", String(128), nullable=False),  # CX.4 universal id
    Column("cx", String(512), nullable=False),  # as received
    Column("demographics", Text, nullable=False, server_default=""),  # JSON
    Column("merged_into", String(512)),  # str(PatientKey) of the surviving patient (A40)
    Column("updated_at", String(TIME_LEN), nullable=False),
    Index("ux_patients_key", "pid", "authority", unique=True),
)

objects = Table(
    "objects",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("kind", String(2), nullable=False),  # DE SS FD AS
    Column("lid", String(UUID_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(64), nullable=False),
    Column("patient", String(512)),  # str(PatientKey); NULL for associations
    Column("unique_id", String(256)),
    # A DocumentEntry's objectType (stable / on-demand), NULL for other objects: kept here, not in
    # `documents`, so FindDocuments with no other DocumentEntry filter reads one table.
    Column("object_type", String(UUID_LEN)),
    Column("fragment", LargeBinary, nullable=False),  # fragments.pack(ebRIM XML without status)
    Column("registered_at", String(TIME_LEN), nullable=False),
    Index("ux_objects_uuid", "uuid", unique=True),
    Index("ix_objects_patient", "patient", "kind", "status"),
    Index("ix_objects_unique_id", "unique_id", "kind"),
    # One row per version of a logical object: of two concurrent new versions, one wins (ITI-57).
    Index("ux_objects_lid_version", "lid", "version", unique=True),
    # A SubmissionSet uniqueId is never reused; a Folder's only by its own later versions (ITI-57).
    Index("ux_objects_ss_unique_id", "unique_id", unique=True,
          sqlite_where=text("kind = 'SS'"), postgresql_where=text("kind = 'SS'")),
    Index("ux_objects_fd_unique_id", "unique_id", "version", unique=True,
          sqlite_where=text("kind = 'FD'"), postgresql_where=text("kind = 'FD'")),
)

documents = Table(
    "documents",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("class_code", String(CODE_LEN)),
    Column("type_code", String(CODE_LEN)),
    Column("format_code", String(CODE_LEN)),
    Column("practice_setting_code", String(CODE_LEN)),
    Column("healthcare_facility_type_code", String(CODE_LEN)),
    Column("creation_time", String(TIME_LEN)),
    Column("service_start_time", String(TIME_LEN)),
    Column("service_stop_time", String(TIME_LEN)),
    Column("hash", String(40)),
    Column("size", BigInteger),
    Column("repository_unique_id", String(128)),
    Column("mime_type", String(128)),
)

document_codes = Table(  # multi-valued codes: eventCodeList (E), confidentialityCode (C)
    "document_codes",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("code_type", String(1), primary_key=True),
    Column("value", String(CODE_LEN), primary_key=True),
)

document_authors = Table(
    "document_authors",
    metadata,
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("person", String(CODE_LEN), nullable=False),
    Index("ix_document_authors_uuid", "uuid"),
)

document_reference_ids = Table(
    "document_reference_ids",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("value", String(CODE_LEN), primary_key=True),
)

submission_sets = Table(
    "submission_sets",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("source_id", String(128)),
    Column("submission_time", String(TIME_LEN)),
    Column("content_type_code", String(CODE_LEN)),
)

submission_set_authors = Table(
    "submission_set_authors",
    metadata,
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("person", String(CODE_LEN), nullable=False),
    Index("ix_submission_set_authors_uuid", "uuid"),
)

folders = Table(
    "folders",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("last_update_time", String(TIME_LEN)),
)

folder_codes = Table(
    "folder_codes",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("value", String(CODE_LEN), primary_key=True),
)

associations = Table(
    "associations",
    metadata,
    Column("uuid", String(UUID_LEN), primary_key=True),
    Column("association_type", String(128), nullable=False),
    Column("source", String(UUID_LEN), nullable=False),
    Column("target", String(UUID_LEN), nullable=False),
    Column("submission_set_status", String(16)),
    Index("ix_associations_source", "source", "association_type"),
    Index("ix_associations_target", "target", "association_type"),
)

# DMP: what the announcement job (registry.announce, CSP R1111-53) has done for each logical document hidden
# from the patient: the two-week notice and the one-month announcement, each at most once.
dmp_announcements = Table(
    "dmp_announcements",
    metadata,
    Column("lid", String(UUID_LEN), primary_key=True),
    Column("notice_at", String(TIME_LEN)),
    Column("announced_at", String(TIME_LEN)),
)
