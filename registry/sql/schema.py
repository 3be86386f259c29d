"""The registry's SQL schema (SQLAlchemy 2 Core): one logical schema on SQLite, PostgreSQL and Citus,
distributed by patient.

`objects` keeps every registry object as registered (its ebRIM XML with final ids, packed by
`registry.sql.fragments`) plus what identifies it;
side tables hold exactly what the stored queries filter on (ITI TF-2a 3.18.4.1.2.3.7), each indexed so a
query selects ids through indexes, never scanning the registry. Coded values are stored as
`code^^codingScheme`, the stored-query encoding, so a filter compares one column. Times are stored padded
to 14 digits (YYYYMMDDhhmmss) so that string order is time order.

**Distributed by patient.** Every stored query but Get-by-id is about one patient (ITI TF-2a 3.18.4.1.2.3.7:
a patientId is required, and associations never cross patients, TF-2b 3.42.4.1.3.5), so every table but
one carries `patient` (the patient number, `registry.sql.patient_number`: 64 bits computed from
str(PatientKey), so a query routes by it with no lookup) and leads its keys with it: on PostgreSQL each is hash-partitioned
by `patient`, on Citus each is a distributed table on `patient`, co-located with `objects` (a patient's
rows of every table on one shard, on one worker; its queries and its submission's writes go there alone).
A unique key of a partitioned or distributed table must hold the partition key, so what must be unique
across patients (an entryUUID, a SubmissionSet or Folder uniqueId) is kept so by `registry_ids`, the one
table keyed by identifier: id → patient, hash-partitioned / distributed by the id, so a Get-by-id finds its
patient in one shard, then reads that patient's shard. SQLite stores the same tables, unpartitioned.
The physical layout (partitions, distribution) is the migrations' (`registry/sql/migrations`, 0005, and
0006 for the patient number);
keep this file and the migrations in step.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData()

UUID_LEN = 64
CODE_LEN = 512
TIME_LEN = 14
PATIENT_LEN = 512
ID_LEN = 300


def _patient() -> Column[int]:
    # The patient number (registry.sql.patient_number: 64 bits of SHA-256 of str(PatientKey)): the distribution key
    return Column("patient", BigInteger, nullable=False)


patients = Table(
    "patients",
    metadata,
    Column("patient", BigInteger, primary_key=True, autoincrement=False),  # patient_number.number(key_text)
    Column("key_text", String(PATIENT_LEN), nullable=False),  # str(PatientKey)
    Column("pid", String(256), nullable=False),  # CX.1
    Column("authority", String(128), nullable=False),  # CX.4 universal id
    Column("cx", String(512), nullable=False),  # as received
    Column("demographics", Text, nullable=False, server_default=""),  # JSON
    Column("merged_into", String(512)),  # str(PatientKey) of the surviving patient (A40)
    Column("updated_at", String(TIME_LEN), nullable=False),
    Index("ix_patients_merged_into", "merged_into"),  # A40: earlier merges into a merged id follow it
)

objects = Table(
    "objects",
    metadata,
    # Registration order. The key is (patient, seq) on PostgreSQL and Citus; SQLite's rowid here.
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("kind", String(2), nullable=False),  # DE SS FD AS
    Column("lid", String(UUID_LEN), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(64), nullable=False),
    _patient(),  # an association's is its ends' (they are one patient's)
    Column("unique_id", String(256)),
    # A DocumentEntry's objectType (stable / on-demand), NULL for other objects: kept here, not in
    # `documents`, so FindDocuments with no other DocumentEntry filter reads one table.
    Column("object_type", String(UUID_LEN)),
    Column("fragment", LargeBinary, nullable=False),  # fragments.pack(ebRIM XML without status)
    Column("registered_at", String(TIME_LEN), nullable=False),
    Index("ux_objects_uuid", "patient", "uuid", unique=True),
    Index("ix_objects_patient", "patient", "kind", "status"),
    Index("ix_objects_unique_id", "patient", "unique_id", "kind"),
    # One row per version of a logical object: of two concurrent new versions, one wins (ITI-57).
    Index("ux_objects_lid_version", "patient", "lid", "version", unique=True),
    Index("ux_objects_fd_unique_id", "patient", "unique_id", "version", unique=True,
          sqlite_where=text("kind = 'FD'"), postgresql_where=text("kind = 'FD'")),
)

documents = Table(
    "documents",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
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
    PrimaryKeyConstraint("patient", "uuid"),
)

document_codes = Table(  # multi-valued codes: eventCodeList (E), confidentialityCode (C)
    "document_codes",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("code_type", String(1), nullable=False),
    Column("value", String(CODE_LEN), nullable=False),
    PrimaryKeyConstraint("patient", "uuid", "code_type", "value"),
)

document_authors = Table(
    "document_authors",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("person", String(CODE_LEN), nullable=False),
    Index("ix_document_authors_uuid", "patient", "uuid"),
)

document_reference_ids = Table(
    "document_reference_ids",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("value", String(CODE_LEN), nullable=False),
    PrimaryKeyConstraint("patient", "uuid", "value"),
)

submission_sets = Table(
    "submission_sets",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("source_id", String(128)),
    Column("submission_time", String(TIME_LEN)),
    Column("content_type_code", String(CODE_LEN)),
    PrimaryKeyConstraint("patient", "uuid"),
)

submission_set_authors = Table(
    "submission_set_authors",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("person", String(CODE_LEN), nullable=False),
    Index("ix_submission_set_authors_uuid", "patient", "uuid"),
)

folders = Table(
    "folders",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("last_update_time", String(TIME_LEN)),
    PrimaryKeyConstraint("patient", "uuid"),
)

folder_codes = Table(
    "folder_codes",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("value", String(CODE_LEN), nullable=False),
    PrimaryKeyConstraint("patient", "uuid", "value"),
)

associations = Table(
    "associations",
    metadata,
    _patient(),
    Column("uuid", String(UUID_LEN), nullable=False),
    Column("association_type", String(128), nullable=False),
    Column("source", String(UUID_LEN), nullable=False),
    Column("target", String(UUID_LEN), nullable=False),
    Column("submission_set_status", String(16)),
    PrimaryKeyConstraint("patient", "uuid"),
    Index("ix_associations_source", "patient", "source", "association_type"),
    Index("ix_associations_target", "patient", "target", "association_type"),
)

# DMP: what the announcement job (registry.announce, CSP R1111-53) has done for each logical document hidden
# from the patient: the two-week notice and the one-month announcement, each at most once.
dmp_announcements = Table(
    "dmp_announcements",
    metadata,
    _patient(),
    Column("lid", String(UUID_LEN), nullable=False),
    Column("notice_at", String(TIME_LEN)),
    Column("announced_at", String(TIME_LEN)),
    PrimaryKeyConstraint("patient", "lid"),
)

# Identifier → patient, the one table keyed by identifier (registry.sql.locate): `ident` an entryUUID (kind U),
# a logical id that is not its object's own entryUUID (L: versions 2 and later), a DocumentEntry,
# SubmissionSet or Folder uniqueId (D, S, F). An entryUUID and a SubmissionSet uniqueId are unique in the
# registry (TF-3 4.1.12.1, TF-2b 3.42.4.1.3.3): this index says so across all patients. A DocumentEntry
# uniqueId may be registered again (resubmission), a Folder's by its own later versions (an empty Folder's
# even under another patient, ITI-57): the ITI-42 checks keep them to that.
registry_ids = Table(
    "registry_ids",
    metadata,
    Column("ident", String(ID_LEN), nullable=False),  # the distribution key
    Column("kind", String(1), nullable=False),
    _patient(),
    PrimaryKeyConstraint("ident", "kind", "patient"),
    Index("ux_registry_ids_single", "ident", "kind", unique=True,
          sqlite_where=text("kind IN ('U', 'S')"), postgresql_where=text("kind IN ('U', 'S')")),
)

# The tables keyed by patient (partitioned / distributed on `patient`), parents first.
PATIENT_TABLES = (patients, objects, documents, document_codes, document_authors, document_reference_ids,
                  submission_sets, submission_set_authors, folders, folder_codes, associations, dmp_announcements)
