"""XDS metadata model: the ebRIM 3.0 object layer and the typed XDS objects (ITI TF-3 4.1, 4.2).

Two layers, both frozen dataclasses:
- `Rim*`: a RegistryObject as received (slots, classifications, external identifiers, name...). The
  cardinality rules run on it, and the registry stores it so that what a query returns equals what was
  registered, extra slots included.
- `DocumentEntry`, `SubmissionSet`, `Folder`, `Association`: the typed view (IHE attribute names in
  snake_case) that cross-object rules, the store's indexes and the stored queries use. Each keeps its
  `rim` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

from xdscore.vocabulary import Slot as S


class ObjectKind(str, Enum):
    DOCUMENT_ENTRY = "DocumentEntry"
    SUBMISSION_SET = "SubmissionSet"
    FOLDER = "Folder"
    ASSOCIATION = "Association"


# --- ebRIM layer -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RimSlot:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class RimLocalized:
    """Name / Description: the LocalizedString values (value, xml:lang, charset)."""

    value: str
    lang: str | None = None
    charset: str | None = None


@dataclass(frozen=True)
class RimClassification:
    id: str
    classified_object: str
    scheme: str | None = None  # classificationScheme (external classification: coded values, author)
    node: str | None = None  # classificationNode (internal: SS / Folder type, limitedMetadata)
    node_representation: str | None = None
    name: tuple[RimLocalized, ...] = ()
    slots: tuple[RimSlot, ...] = ()
    object_type: str | None = None

    def slot(self, name: str) -> tuple[str, ...]:
        for s in self.slots:
            if s.name == name:
                return s.values
        return ()


@dataclass(frozen=True)
class RimExternalIdentifier:
    id: str
    registry_object: str
    scheme: str
    value: str
    name: tuple[RimLocalized, ...] = ()
    object_type: str | None = None


@dataclass(frozen=True)
class RimObject:
    """One ExtrinsicObject, RegistryPackage or Association of a RegistryObjectList."""

    tag: str  # "ExtrinsicObject" | "RegistryPackage" | "Association"
    id: str
    object_type: str | None = None
    lid: str | None = None
    status: str | None = None
    home: str | None = None
    mime_type: str | None = None
    is_opaque: str | None = None
    version_name: str | None = None  # VersionInfo/@versionName
    content_version: str | None = None  # ContentVersionInfo/@versionName
    name: tuple[RimLocalized, ...] = ()
    description: tuple[RimLocalized, ...] = ()
    slots: tuple[RimSlot, ...] = ()
    classifications: tuple[RimClassification, ...] = ()
    external_identifiers: tuple[RimExternalIdentifier, ...] = ()
    # Association only
    association_type: str | None = None
    source_object: str | None = None
    target_object: str | None = None

    def slot(self, name: str) -> tuple[str, ...]:
        for s in self.slots:
            if s.name == name:
                return s.values
        return ()

    def slot_first(self, name: str) -> str | None:
        values = self.slot(name)
        return values[0] if values else None

    def classified(self, scheme: str) -> tuple[RimClassification, ...]:
        return tuple(c for c in self.classifications if c.scheme == scheme)

    def has_node(self, node: str) -> bool:
        return any(c.node == node for c in self.classifications)

    def external_id(self, scheme: str) -> str | None:
        for e in self.external_identifiers:
            if e.scheme == scheme:
                return e.value
        return None

    def with_slot(self, name: str, values: tuple[str, ...]) -> RimObject:
        """Copy with slot `name` set to `values` (added at the end when absent)."""
        slots = list(self.slots)
        for i, s in enumerate(slots):
            if s.name == name:
                slots[i] = RimSlot(name, values)
                break
        else:
            slots.append(RimSlot(name, values))
        return replace(self, slots=tuple(slots))


# --- typed layer ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """A coded value: nodeRepresentation, codingScheme slot, display name."""

    code: str
    scheme: str
    display: str = ""


@dataclass(frozen=True)
class Author:
    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecommunications: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentEntry:
    entry_uuid: str
    rim: RimObject
    unique_id: str | None = None
    patient_id: str | None = None
    mime_type: str | None = None
    object_type: str | None = None
    availability_status: str | None = None
    logical_id: str | None = None
    version: str | None = None
    title: str | None = None
    comments: str | None = None
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    healthcare_facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    confidentiality_codes: tuple[Code, ...] = ()
    event_codes: tuple[Code, ...] = ()
    authors: tuple[Author, ...] = ()
    creation_time: str | None = None
    service_start_time: str | None = None
    service_stop_time: str | None = None
    hash: str | None = None
    size: str | None = None
    repository_unique_id: str | None = None
    language_code: str | None = None
    legal_authenticator: str | None = None
    source_patient_id: str | None = None
    source_patient_info: tuple[str, ...] = ()
    uri: str | None = None
    reference_ids: tuple[str, ...] = ()
    home_community_id: str | None = None

    kind = ObjectKind.DOCUMENT_ENTRY


@dataclass(frozen=True)
class SubmissionSet:
    entry_uuid: str
    rim: RimObject
    unique_id: str | None = None
    patient_id: str | None = None
    source_id: str | None = None
    submission_time: str | None = None
    content_type_code: Code | None = None
    availability_status: str | None = None
    title: str | None = None
    comments: str | None = None
    authors: tuple[Author, ...] = ()
    intended_recipients: tuple[str, ...] = ()
    home_community_id: str | None = None

    kind = ObjectKind.SUBMISSION_SET


@dataclass(frozen=True)
class Folder:
    entry_uuid: str
    rim: RimObject
    unique_id: str | None = None
    patient_id: str | None = None
    codes: tuple[Code, ...] = ()
    last_update_time: str | None = None
    availability_status: str | None = None
    logical_id: str | None = None
    version: str | None = None
    title: str | None = None
    comments: str | None = None
    home_community_id: str | None = None

    kind = ObjectKind.FOLDER


@dataclass(frozen=True)
class Association:
    entry_uuid: str
    rim: RimObject
    association_type: str
    source_uuid: str
    target_uuid: str
    availability_status: str | None = None
    submission_set_status: str | None = None  # HasMember SS→DE: Original | Reference
    documentation: Code | None = None

    kind = ObjectKind.ASSOCIATION


RegistryEntry = DocumentEntry | SubmissionSet | Folder | Association


@dataclass(frozen=True)
class Submission:
    """The objects of one SubmitObjectsRequest, in document order, typed."""

    document_entries: tuple[DocumentEntry, ...] = ()
    submission_sets: tuple[SubmissionSet, ...] = ()
    folders: tuple[Folder, ...] = ()
    associations: tuple[Association, ...] = ()
    unclassified_packages: tuple[RimObject, ...] = ()  # RegistryPackages that are neither SS nor Folder
    request_slots: tuple[RimSlot, ...] = ()
    object_refs: tuple[str, ...] = ()
    # Top-level Classifications / ExternalIdentifiers naming an object that is not in the submission:
    # (what, its id, the id it names); refused by rule SUB-refs.
    dangling_references: tuple[tuple[str, str, str], ...] = ()

    @property
    def submission_set(self) -> SubmissionSet | None:
        return self.submission_sets[0] if len(self.submission_sets) == 1 else None

    def all_objects(self) -> tuple[RegistryEntry, ...]:
        return (*self.submission_sets, *self.document_entries, *self.folders, *self.associations)

    def by_id(self) -> dict[str, RegistryEntry]:
        return {o.entry_uuid: o for o in self.all_objects()}


# Slot names defined for each object by IHE; anything else is extra metadata (TF-3 4.1.14).
STANDARD_SLOTS: dict[ObjectKind, frozenset[str]] = {
    ObjectKind.DOCUMENT_ENTRY: frozenset(
        {
            S.CREATION_TIME, S.HASH, S.LANGUAGE_CODE, S.LEGAL_AUTHENTICATOR, S.SERVICE_START_TIME,
            S.SERVICE_STOP_TIME, S.SIZE, S.SOURCE_PATIENT_ID, S.SOURCE_PATIENT_INFO, S.URI,
            S.REPOSITORY_UNIQUE_ID, S.DOCUMENT_AVAILABILITY, S.REFERENCE_ID_LIST,
        }
    ),
    ObjectKind.SUBMISSION_SET: frozenset({S.SUBMISSION_TIME, S.INTENDED_RECIPIENT}),
    ObjectKind.FOLDER: frozenset({S.LAST_UPDATE_TIME}),
    ObjectKind.ASSOCIATION: frozenset(
        {S.SUBMISSION_SET_STATUS, S.PREVIOUS_VERSION, S.ORIGINAL_STATUS, S.NEW_STATUS, S.ASSOCIATION_PROPAGATION}
    ),
}


@dataclass(frozen=True)
class PatientKey:
    """A patient identifier reduced to what identifies it: CX.1 and the assigning authority's universal id.

    `id^^^&1.2.3&ISO` and `id^^^NS&1.2.3&ISO^PI` are the same patient (issue: compare on CX.1 and CX.4).
    """

    id: str
    authority: str

    @classmethod
    def parse(cls, cx: str) -> PatientKey | None:
        parts = cx.split("^")
        if not parts[0] or len(parts) < 4 or not parts[3]:
            return None
        hd = parts[3].split("&")
        authority = hd[1] if len(hd) > 1 and hd[1] else hd[0]
        return cls(parts[0], authority) if authority else None

    def __str__(self) -> str:
        return f"{self.id}^^^&{self.authority}&ISO"


@dataclass
class Patient:
    key: PatientKey
    cx: str  # as received from the feed
    demographics: dict[str, str] = field(default_factory=dict)
    merged_into: PatientKey | None = None
