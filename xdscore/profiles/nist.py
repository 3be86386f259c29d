"""The NIST XDS Toolkit affinity domain: the codes of its `codes.xml` (environment/default/codes.xml).

`profile_from_codes_xml(data)` turns the file's bytes into value-set rows on top of the IHE base profile.
The registry reads the file (its path is configuration); this module only parses.
"""

from __future__ import annotations

from xdscore.model import ObjectKind
from xdscore.profiles import Profile
from xdscore.profiles.ihe import PROFILE as IHE
from xdscore.rules.cardinality import Row, Target, ValueSet
from xdscore.vocabulary import UUID, ErrorCode
from xdscore.xmlsafe import parse_bytes

MD = ErrorCode.XDSRegistryMetadataError
REF = "NIST codes.xml (affinity domain)"

# CodeType/@name → (object kind, classification scheme)
CODE_TYPES: dict[str, tuple[ObjectKind, str]] = {
    "classCode": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_CLASS_CODE),
    "typeCode": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_TYPE_CODE),
    "formatCode": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_FORMAT_CODE),
    "confidentialityCode": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_CONFIDENTIALITY_CODE),
    "healthcareFacilityTypeCode": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE),
    "practiceSettingCode": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_PRACTICE_SETTING_CODE),
    "eventCodeList": (ObjectKind.DOCUMENT_ENTRY, UUID.DE_EVENT_CODE),
    "contentTypeCode": (ObjectKind.SUBMISSION_SET, UUID.SS_CONTENT_TYPE_CODE),
    "folderCodeList": (ObjectKind.FOLDER, UUID.FOLDER_CODE_LIST),
    "associationDocumentation": (ObjectKind.ASSOCIATION, UUID.ASSOCIATION_DOCUMENTATION),
}


def profile_from_codes_xml(data: bytes, name: str = "nist") -> Profile:
    root = parse_bytes(data, what="codes.xml")
    value_sets: list[ValueSet] = []
    rows: list[Row] = []
    for code_type in root.iter("CodeType"):
        type_name = code_type.get("name", "")
        pairs = frozenset((c.get("code", ""), c.get("codingScheme", "")) for c in code_type.iter("Code"))
        if type_name in CODE_TYPES:
            kind, scheme = CODE_TYPES[type_name]
            value_sets.append(ValueSet(f"VS-{type_name}", kind, scheme, type_name, pairs, MD, REF))
        elif type_name == "mimeType":
            allowed = frozenset(code for code, _ in pairs)
            rows.append(
                Row("DE-mimeType-valueset", ObjectKind.DOCUMENT_ENTRY, Target.ATTRIBUTE, "mimeType", "mimeType",
                    0, 1, MD, REF, allowed.__contains__, "a mimeType of the affinity domain")
            )
    return IHE.extended(name, tuple(rows), tuple(value_sets))
