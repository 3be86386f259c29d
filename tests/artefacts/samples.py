"""Sample XDS.b messages built with lxml, one builder per message kind (ITI-41/42/18/43/57/62).

They use every element the schemas describe, so a schema that forgets one fails the tests. Each call
returns a fresh tree that a test may modify.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path

from lxml import etree
from lxml.builder import ElementMaker

from xdscore.vocabulary import (
    NS,
    UUID,
    AssociationType,
    ObjectType,
    ResponseStatus,
    Severity,
    Status,
    StoredQueryId,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "schemas"
WSDL_DIR = ROOT / "wsdl"
NIST_TESTKIT = ROOT.parent / "shared" / "testkits" / "nist-xdstools" / "testkit"


@lru_cache(maxsize=1)
def xds_schema() -> etree.XMLSchema:
    """Every XDS.b message element: IHEXDSB.xsd imports rim, rs, lcm and query."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "IHEXDSB.xsd")))


RIM = ElementMaker(namespace=NS.RIM, nsmap={"rim": NS.RIM})
RS = ElementMaker(namespace=NS.RS, nsmap={"rs": NS.RS})
LCM = ElementMaker(namespace=NS.LCM, nsmap={"lcm": NS.LCM})
QUERY = ElementMaker(namespace=NS.QUERY, nsmap={"query": NS.QUERY})
XDSB = ElementMaker(namespace=NS.XDSB, nsmap={"xdsb": NS.XDSB})
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

PATIENT = "8a6b1e9c5d^^^&1.2.250.1.213.1.4.10&ISO"
REPOSITORY_ID = "1.2.250.1.999.1.1"
DOC_UID = "1.2.250.1.999.1.2.3.4"
DOC_ID = "Document01"
DOC_BYTES = b"%PDF-1.4\n" + bytes(range(256)) * 4  # 1 KB+ of every byte value


def slot(name: str, *values: str) -> etree._Element:
    return RIM.Slot(RIM.ValueList(*[RIM.Value(v) for v in values]), name=name)


def name(text: str, lang: str | None = None) -> etree._Element:
    ls = RIM.LocalizedString(value=text)
    if lang:
        ls.set(XML_LANG, lang)
        ls.set("charset", "UTF-8")
    return RIM.Name(ls)


def code(cid: str, scheme: str, obj: str, value: str, system: str, display: str) -> etree._Element:
    return RIM.Classification(
        slot("codingScheme", system),
        name(display),
        id=cid,
        classificationScheme=scheme,
        classifiedObject=obj,
        nodeRepresentation=value,
        objectType=ObjectType.CLASSIFICATION.value,
    )


def ext_id(eid: str, scheme: str, obj: str, value: str, label: str) -> etree._Element:
    return RIM.ExternalIdentifier(
        name(label),
        id=eid,
        registryObject=obj,
        identificationScheme=scheme,
        value=value,
        objectType=ObjectType.EXTERNAL_IDENTIFIER.value,
    )


def document_entry(eid: str = DOC_ID, registry_view: bool = False) -> etree._Element:
    """An ExtrinsicObject with every kind of child; `registry_view` adds status, lid and VersionInfo."""
    children: list[etree._Element] = [
        slot("creationTime", "20240115103000"),
        slot("hash", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
        slot("size", "1033"),
        slot("languageCode", "fr-FR"),
        slot("repositoryUniqueId", REPOSITORY_ID),
        slot("sourcePatientId", PATIENT),
        slot("sourcePatientInfo", "PID-5|DUPONT^JEAN^^^^^L", "PID-7|19700101", "PID-8|M"),
        name("Compte rendu", "fr-FR"),
        RIM.Description(RIM.LocalizedString(value="Compte rendu de consultation")),
    ]
    if registry_view:
        children.append(RIM.VersionInfo(versionName="1"))
    children += [
        RIM.Classification(
            slot("authorPerson", "123456^MARTIN^PAUL^^^Dr^^^&1.2.250.1.71.4.2.1&ISO"),
            slot("authorInstitution", "Hopital^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1234"),
            id=f"{eid}-author",
            classificationScheme=UUID.DE_AUTHOR,
            classifiedObject=eid,
            nodeRepresentation="",
        ),
        code(f"{eid}-class", UUID.DE_CLASS_CODE, eid, "11488-4", "2.16.840.1.113883.6.1", "Consult note"),
        code(f"{eid}-conf", UUID.DE_CONFIDENTIALITY_CODE, eid, "N", "2.16.840.1.113883.5.25", "Normal"),
        code(f"{eid}-format", UUID.DE_FORMAT_CODE, eid, "urn:ihe:iti:xds:2017:mimeTypeSufficient", "1.3.6.1.4.1.19376.1.2.3", "Default"),
        code(f"{eid}-hcf", UUID.DE_HEALTHCARE_FACILITY_TYPE_CODE, eid, "SA01", "1.2.250.1.71.4.2.4", "Etablissement"),
        code(f"{eid}-ps", UUID.DE_PRACTICE_SETTING_CODE, eid, "ETABLISSEMENT", "1.2.250.1.213.1.1.4.9", "Etablissement"),
        code(f"{eid}-type", UUID.DE_TYPE_CODE, eid, "11488-4", "2.16.840.1.113883.6.1", "Consult note"),
        ext_id(f"{eid}-pid", UUID.DE_PATIENT_ID, eid, PATIENT, "XDSDocumentEntry.patientId"),
        ext_id(f"{eid}-uid", UUID.DE_UNIQUE_ID, eid, DOC_UID, "XDSDocumentEntry.uniqueId"),
    ]
    eo = RIM.ExtrinsicObject(*children, id=eid, mimeType="application/pdf", objectType=ObjectType.STABLE_DOCUMENT.value)
    if registry_view:
        eo.set("status", Status.APPROVED.value)
        eo.set("lid", eid)
    return eo


def submission_set() -> etree._Element:
    ss = "SubmissionSet01"
    return RIM.RegistryPackage(
        slot("submissionTime", "20240115103500"),
        slot("intendedRecipient", "|ONE^JOHN^^^^^^^&1.2.3&ISO"),
        name("Envoi"),
        code("ss-ct", UUID.SS_CONTENT_TYPE_CODE, ss, "04", "1.2.250.1.213.1.1.4.12", "Hospitalisation"),
        ext_id("ss-uid", UUID.SS_UNIQUE_ID, ss, "1.2.250.1.999.1.5.6", "XDSSubmissionSet.uniqueId"),
        ext_id("ss-src", UUID.SS_SOURCE_ID, ss, "1.2.250.1.999.1", "XDSSubmissionSet.sourceId"),
        ext_id("ss-pid", UUID.SS_PATIENT_ID, ss, PATIENT, "XDSSubmissionSet.patientId"),
        id=ss,
        objectType=ObjectType.REGISTRY_PACKAGE.value,
    )


def folder() -> etree._Element:
    fd = "Folder01"
    return RIM.RegistryPackage(
        slot("lastUpdateTime", "20240115103500"),
        name("Dossier"),
        code("fd-code", UUID.FOLDER_CODE_LIST, fd, "C1", "1.2.3", "Folder code"),
        ext_id("fd-pid", UUID.FOLDER_PATIENT_ID, fd, PATIENT, "XDSFolder.patientId"),
        ext_id("fd-uid", UUID.FOLDER_UNIQUE_ID, fd, "1.2.250.1.999.1.7.8", "XDSFolder.uniqueId"),
        id=fd,
        objectType=ObjectType.REGISTRY_PACKAGE.value,
    )


def association(aid: str, kind: AssociationType, source: str, target: str, *slots: etree._Element) -> etree._Element:
    return RIM.Association(
        *slots,
        id=aid,
        associationType=kind.value,
        sourceObject=source,
        targetObject=target,
        objectType=ObjectType.ASSOCIATION.value,
    )


def registry_object_list() -> etree._Element:
    """DocumentEntry, SubmissionSet, Folder, their classifications, associations and an ObjectRef."""
    return RIM.RegistryObjectList(
        document_entry(),
        submission_set(),
        RIM.Classification(id="ss-node", classifiedObject="SubmissionSet01", classificationNode=UUID.SS_NODE),
        folder(),
        RIM.Classification(id="fd-node", classifiedObject="Folder01", classificationNode=UUID.FOLDER_NODE),
        association("as01", AssociationType.HAS_MEMBER, "SubmissionSet01", DOC_ID, slot("SubmissionSetStatus", "Original")),
        association("as02", AssociationType.HAS_MEMBER, "SubmissionSet01", "Folder01"),
        association("as03", AssociationType.HAS_MEMBER, "Folder01", DOC_ID),
        association("as04", AssociationType.HAS_MEMBER, "SubmissionSet01", "as03"),
        association("as05", AssociationType.REPLACE, DOC_ID, "urn:uuid:2f2f5f2c-6c2e-4e0a-9c1a-0a1b2c3d4e5f"),
        RIM.ObjectRef(id="urn:uuid:2f2f5f2c-6c2e-4e0a-9c1a-0a1b2c3d4e5f"),
    )


def submit_objects_request() -> etree._Element:
    """ITI-42 (and ITI-57) body."""
    return LCM.SubmitObjectsRequest(registry_object_list())


def provide_and_register(data: bytes = DOC_BYTES) -> etree._Element:
    """ITI-41 body, with the document inline in base64."""
    doc = XDSB.Document(base64.b64encode(data).decode("ascii"), id=DOC_ID)
    return XDSB.ProvideAndRegisterDocumentSetRequest(submit_objects_request(), doc)


def adhoc_query_request(return_type: str = "LeafClass") -> etree._Element:
    """ITI-18 FindDocuments body."""
    return QUERY.AdhocQueryRequest(
        QUERY.ResponseOption(returnType=return_type, returnComposedObjects="true"),
        RIM.AdhocQuery(
            slot("$XDSDocumentEntryPatientId", f"'{PATIENT}'"),
            slot("$XDSDocumentEntryStatus", f"('{Status.APPROVED.value}')"),
            id=StoredQueryId.FindDocuments.value,
        ),
    )


def adhoc_query_response() -> etree._Element:
    """ITI-18 LeafClass answer."""
    return QUERY.AdhocQueryResponse(
        RIM.RegistryObjectList(document_entry(registry_view=True)),
        status=ResponseStatus.SUCCESS.value,
    )


def adhoc_query_failure() -> etree._Element:
    """ITI-18 failure: errors, then the (required, empty) RegistryObjectList."""
    return QUERY.AdhocQueryResponse(
        RS.RegistryErrorList(
            RS.RegistryError(
                errorCode="XDSStoredQueryMissingParam",
                codeContext="$XDSDocumentEntryPatientId is required",
                severity=Severity.ERROR.value,
                location="FindDocuments",
            ),
            highestSeverity=Severity.ERROR.value,
        ),
        RIM.RegistryObjectList(),
        status=ResponseStatus.FAILURE.value,
    )


def registry_response_failure() -> etree._Element:
    """ITI-41/42/57 answer with a response slot, an error and a warning."""
    return RS.RegistryResponse(
        RS.ResponseSlotList(slot("homeCommunityId", "urn:oid:1.2.3")),
        RS.RegistryErrorList(
            RS.RegistryError(
                "free text is allowed",
                errorCode="XDSRegistryMetadataError",
                codeContext="DocumentEntry Document01 has no classCode",
                location="Document01",
            ),
            RS.RegistryError(
                errorCode="XDSExtraMetadataNotSaved",
                codeContext="extra slot ignored",
                severity=Severity.WARNING.value,
            ),
            highestSeverity=Severity.ERROR.value,
        ),
        status=ResponseStatus.FAILURE.value,
        requestId="urn:uuid:1b6b79da-eda0-4633-ad7e-30245f0ca200",
    )


def registry_response_success() -> etree._Element:
    return RS.RegistryResponse(status=ResponseStatus.SUCCESS.value)


def retrieve_request() -> etree._Element:
    """ITI-43 body: one local and one cross-community request."""
    return XDSB.RetrieveDocumentSetRequest(
        XDSB.DocumentRequest(XDSB.RepositoryUniqueId(REPOSITORY_ID), XDSB.DocumentUniqueId(DOC_UID)),
        XDSB.DocumentRequest(
            XDSB.HomeCommunityId("urn:oid:1.2.3"),
            XDSB.RepositoryUniqueId(REPOSITORY_ID),
            XDSB.DocumentUniqueId("1.2.250.1.999.1.2.3.5"),
        ),
    )


def retrieve_response(data: bytes = DOC_BYTES) -> etree._Element:
    """ITI-43 answer (inline base64; MTOM moves it to a part on the wire)."""
    return XDSB.RetrieveDocumentSetResponse(
        RS.RegistryResponse(status=ResponseStatus.SUCCESS.value),
        XDSB.DocumentResponse(
            XDSB.RepositoryUniqueId(REPOSITORY_ID),
            XDSB.DocumentUniqueId(DOC_UID),
            XDSB.mimeType("application/pdf"),
            XDSB.Document(base64.b64encode(data).decode("ascii")),
        ),
    )


def remove_objects_request() -> etree._Element:
    """ITI-62 body."""
    return LCM.RemoveObjectsRequest(RIM.ObjectRefList(RIM.ObjectRef(id="urn:uuid:2f2f5f2c-6c2e-4e0a-9c1a-0a1b2c3d4e5f")))


BUILDERS = {
    "SubmitObjectsRequest": submit_objects_request,
    "ProvideAndRegisterDocumentSetRequest": provide_and_register,
    "AdhocQueryRequest": adhoc_query_request,
    "AdhocQueryResponse": adhoc_query_response,
    "AdhocQueryResponse-failure": adhoc_query_failure,
    "RegistryResponse-success": registry_response_success,
    "RegistryResponse-failure": registry_response_failure,
    "RetrieveDocumentSetRequest": retrieve_request,
    "RetrieveDocumentSetResponse": retrieve_response,
    "RemoveObjectsRequest": remove_objects_request,
}
