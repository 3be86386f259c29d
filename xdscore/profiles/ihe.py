"""The IHE base profile: XDS.b metadata optionality for a Document Registry (ITI TF-3 Table 4.3.1-3).

Columns of each row: rule id, object, where, IHE name, min, max, code, TF reference, value check.
The rows are a Document Registry's, ITI-42: hash, size and repositoryUniqueId are required there (a
Document Repository adds them to what a source sends in ITI-41).
"""

from __future__ import annotations

from xdscore.model import ObjectKind
from xdscore.profiles import Profile
from xdscore.rules import formats as f
from xdscore.rules.cardinality import Row, Target
from xdscore.vocabulary import UUID, ErrorCode, Slot

DE, SS, FD, AS = ObjectKind.DOCUMENT_ENTRY, ObjectKind.SUBMISSION_SET, ObjectKind.FOLDER, ObjectKind.ASSOCIATION
SLOT, CL, EI, AT, NAME = Target.SLOT, Target.CLASSIFICATION, Target.EXTERNAL_ID, Target.ATTRIBUTE, Target.NAME
MD = ErrorCode.XDSRegistryMetadataError
DE_TF = "ITI TF-3 4.2.3.2"  # DocumentEntry attributes (numbering of TF-3 Rev. 17 and later)
SS_TF = "ITI TF-3 4.2.3.3"  # SubmissionSet attributes
FD_TF = "ITI TF-3 4.2.3.4"  # Folder attributes

_DTM = (f.is_dtm, "an HL7 DTM (YYYY[MM[DD[hh[mm[ss]]]]])")
_OID = (f.is_oid, "an OID")
_CX = (f.is_patient_cx, "a CX with an ISO assigning authority (id^^^&OID&ISO)")


ROWS: tuple[Row, ...] = (
    # DocumentEntry
    Row("DE-mimeType", DE, AT, "mimeType", "mimeType", 1, 1, MD, f"{DE_TF}.15", f.is_mime_type, "a MIME type"),
    Row("DE-objectType", DE, AT, "objectType", "objectType", 1, 1, MD, f"{DE_TF}.30"),
    Row("DE-patientId", DE, EI, UUID.DE_PATIENT_ID, "patientId", 1, 1, MD, f"{DE_TF}.16", *_CX),
    Row("DE-uniqueId", DE, EI, UUID.DE_UNIQUE_ID, "uniqueId", 1, 1, MD, f"{DE_TF}.26",
        f.is_document_unique_id, "an identifier of at most 128 characters"),
    Row("DE-classCode", DE, CL, UUID.DE_CLASS_CODE, "classCode", 1, 1, MD, f"{DE_TF}.3"),
    Row("DE-confidentialityCode", DE, CL, UUID.DE_CONFIDENTIALITY_CODE, "confidentialityCode", 1, None, MD, f"{DE_TF}.5"),
    Row("DE-eventCodeList", DE, CL, UUID.DE_EVENT_CODE, "eventCodeList", 0, None, MD, f"{DE_TF}.8"),
    Row("DE-formatCode", DE, CL, UUID.DE_FORMAT_CODE, "formatCode", 1, 1, MD, f"{DE_TF}.9"),
    Row("DE-healthcareFacilityTypeCode", DE, CL, UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE,
        "healthcareFacilityTypeCode", 1, 1, MD, f"{DE_TF}.11"),
    Row("DE-practiceSettingCode", DE, CL, UUID.DE_PRACTICE_SETTING_CODE, "practiceSettingCode", 1, 1, MD, f"{DE_TF}.17"),
    Row("DE-typeCode", DE, CL, UUID.DE_TYPE_CODE, "typeCode", 1, 1, MD, f"{DE_TF}.25"),
    Row("DE-creationTime", DE, SLOT, Slot.CREATION_TIME, "creationTime", 1, 1, MD, f"{DE_TF}.6", *_DTM),
    Row("DE-serviceStartTime", DE, SLOT, Slot.SERVICE_START_TIME, "serviceStartTime", 0, 1, MD, f"{DE_TF}.19", *_DTM),
    Row("DE-serviceStopTime", DE, SLOT, Slot.SERVICE_STOP_TIME, "serviceStopTime", 0, 1, MD, f"{DE_TF}.20", *_DTM),
    Row("DE-hash", DE, SLOT, Slot.HASH, "hash", 1, 1, MD, f"{DE_TF}.10", f.is_hash, "40 hexadecimal digits (SHA-1)"),
    Row("DE-size", DE, SLOT, Slot.SIZE, "size", 1, 1, MD, f"{DE_TF}.21", f.is_size, "a byte count"),
    Row("DE-repositoryUniqueId", DE, SLOT, Slot.REPOSITORY_UNIQUE_ID, "repositoryUniqueId", 1, 1, MD,
        f"{DE_TF}.18", *_OID),
    Row("DE-languageCode", DE, SLOT, Slot.LANGUAGE_CODE, "languageCode", 1, 1, MD, f"{DE_TF}.13",
        f.is_language, "an RFC 3066 language tag"),
    Row("DE-legalAuthenticator", DE, SLOT, Slot.LEGAL_AUTHENTICATOR, "legalAuthenticator", 0, 1, MD, f"{DE_TF}.14",
        f.is_xcn, "an XCN"),
    Row("DE-sourcePatientId", DE, SLOT, Slot.SOURCE_PATIENT_ID, "sourcePatientId", 1, 1, MD, f"{DE_TF}.22",
        f.is_cx_with_authority, "a CX with an assigning authority"),
    Row("DE-sourcePatientInfo", DE, SLOT, Slot.SOURCE_PATIENT_INFO, "sourcePatientInfo", 0, None, MD, f"{DE_TF}.23",
        f.is_source_patient_info, "of the form PID-n|value"),
    Row("DE-URI", DE, SLOT, Slot.URI, "URI", 0, 1, MD, f"{DE_TF}.27"),
    Row("DE-title", DE, NAME, "Name", "title", 0, 1, MD, f"{DE_TF}.24",
        lambda v: len(v) <= 128, "at most 128 characters"),
    # SubmissionSet
    Row("SS-patientId", SS, EI, UUID.SS_PATIENT_ID, "patientId", 1, 1, MD, f"{SS_TF}.8", *_CX),
    Row("SS-uniqueId", SS, EI, UUID.SS_UNIQUE_ID, "uniqueId", 1, 1, MD, f"{SS_TF}.12", *_OID),
    Row("SS-sourceId", SS, EI, UUID.SS_SOURCE_ID, "sourceId", 1, 1, MD, f"{SS_TF}.9", *_OID),
    Row("SS-submissionTime", SS, SLOT, Slot.SUBMISSION_TIME, "submissionTime", 1, 1, MD, f"{SS_TF}.10", *_DTM),
    Row("SS-contentTypeCode", SS, CL, UUID.SS_CONTENT_TYPE_CODE, "contentTypeCode", 1, 1, MD, f"{SS_TF}.4"),
    # Folder
    Row("FD-patientId", FD, EI, UUID.FOLDER_PATIENT_ID, "patientId", 1, 1, MD, f"{FD_TF}.7", *_CX),
    Row("FD-uniqueId", FD, EI, UUID.FOLDER_UNIQUE_ID, "uniqueId", 1, 1, MD, f"{FD_TF}.9", *_OID),
    Row("FD-codeList", FD, CL, UUID.FOLDER_CODE_LIST, "codeList", 1, None, MD, f"{FD_TF}.2"),
    Row("FD-title", FD, NAME, "Name", "title", 1, 1, MD, f"{FD_TF}.8"),
    Row("FD-lastUpdateTime", FD, SLOT, Slot.LAST_UPDATE_TIME, "lastUpdateTime", 0, 1, MD, f"{FD_TF}.6", *_DTM),
    # Association
    Row("AS-SubmissionSetStatus", AS, SLOT, Slot.SUBMISSION_SET_STATUS, "SubmissionSetStatus", 0, 1, MD,
        "ITI TF-3 4.2.2.1.1", lambda v: v in ("Original", "Reference"), "Original or Reference"),
)


PROFILE = Profile("ihe", ROWS)
