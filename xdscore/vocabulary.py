"""XDS.b vocabulary: namespaces, classification / identification scheme UUIDs, URNs, error codes.

ITI TF-3 4.2.5 (metadata vocabulary), TF-3 4.2.4.1 (error codes), TF-2b 3.18.4.1.2.3.7 (stored query ids).
Every value is the exact wire string, so a grep for it finds the spec, the NIST test plans and our code.
"""

from __future__ import annotations

from enum import Enum


class NS:
    """XML namespaces used on the wire."""

    SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
    WSA = "http://www.w3.org/2005/08/addressing"
    XOP = "http://www.w3.org/2004/08/xop/include"
    XDSB = "urn:ihe:iti:xds-b:2007"
    RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
    RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
    LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
    WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
    WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    SAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
    DS = "http://www.w3.org/2000/09/xmldsig#"
    XSI = "http://www.w3.org/2001/XMLSchema-instance"


# Prefixes used when we write XML; readers never depend on them.
NSMAP = {
    "soap": NS.SOAP12,
    "wsa": NS.WSA,
    "xop": NS.XOP,
    "xdsb": NS.XDSB,
    "rim": NS.RIM,
    "rs": NS.RS,
    "lcm": NS.LCM,
    "query": NS.QUERY,
}


class Action(str, Enum):
    """wsa:Action of each transaction request and its response (ITI TF-2b, the WSDLs)."""

    PROVIDE_AND_REGISTER = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
    PROVIDE_AND_REGISTER_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
    REGISTER = "urn:ihe:iti:2007:RegisterDocumentSet-b"
    REGISTER_RESPONSE = "urn:ihe:iti:2007:RegisterDocumentSet-bResponse"
    STORED_QUERY = "urn:ihe:iti:2007:RegistryStoredQuery"
    STORED_QUERY_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
    RETRIEVE = "urn:ihe:iti:2007:RetrieveDocumentSet"
    RETRIEVE_RESPONSE = "urn:ihe:iti:2007:RetrieveDocumentSetResponse"
    UPDATE = "urn:ihe:iti:2010:UpdateDocumentSet"
    UPDATE_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
    RESTRICTED_UPDATE = "urn:ihe:iti:2018:RestrictedUpdateDocumentSet"
    RESTRICTED_UPDATE_RESPONSE = "urn:ihe:iti:2018:RestrictedUpdateDocumentSetResponse"
    DELETE = "urn:ihe:iti:2010:DeleteDocumentSet"
    DELETE_RESPONSE = "urn:ihe:iti:2010:DeleteDocumentSetResponse"
    REMOVE_DOCUMENTS = "urn:ihe:iti:2017:RemoveDocuments"
    REMOVE_DOCUMENTS_RESPONSE = "urn:ihe:iti:2017:RemoveDocumentsResponse"
    SOAP_FAULT = "http://www.w3.org/2005/08/addressing/soap/fault"


class ObjectType(str, Enum):
    """objectType attribute values of the registry objects (ebRIM 3.0 and ITI TF-3 4.2.5.2)."""

    STABLE_DOCUMENT = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    ON_DEMAND_DOCUMENT = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
    REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
    ASSOCIATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"
    CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
    EXTERNAL_IDENTIFIER = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"


class Status(str, Enum):
    """availabilityStatus values (ITI TF-3 4.2.3.2.1). XDS uses Approved and Deprecated; an affinity domain
    may add its own, set through ITI-57 UpdateAvailabilityStatus (the profile lists them)."""

    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
    SUBMITTED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Submitted"


class DmpStatus(str, Enum):
    """availabilityStatus values the French DMP adds to XDS (JDV_J52 AvailabilityStatus-CISIS / TRE_R270):
    a document archived by its author or the patient's doctor, and a logically deleted one. They are set
    through ITI-57 UpdateAvailabilityStatus (DMP TD3.3c / TD3.3d), never submitted with ITI-42."""

    ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
    DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"


class ResponseStatus(str, Enum):
    SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
    FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


class Severity(str, Enum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


class AssociationType(str, Enum):
    """associationType URNs (ITI TF-3 4.2.2)."""

    HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
    REPLACE = "urn:ihe:iti:2007:AssociationType:RPLC"
    TRANSFORM = "urn:ihe:iti:2007:AssociationType:XFRM"
    APPEND = "urn:ihe:iti:2007:AssociationType:APND"
    TRANSFORM_AND_REPLACE = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
    SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
    IS_SNAPSHOT_OF = "urn:ihe:iti:2010:AssociationType:IsSnapshotOf"
    UPDATE_AVAILABILITY_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
    SUBMIT_ASSOCIATION = "urn:ihe:iti:2010:AssociationType:SubmitAssociation"

    @property
    def short(self) -> str:
        return self.value.rsplit(":", 1)[1]


# Document relationships: source is a new DocumentEntry, target an existing or co-submitted one.
DOCUMENT_RELATIONSHIPS = frozenset(
    {
        AssociationType.REPLACE,
        AssociationType.TRANSFORM,
        AssociationType.APPEND,
        AssociationType.TRANSFORM_AND_REPLACE,
        AssociationType.SIGNS,
    }
)
REPLACEMENTS = frozenset({AssociationType.REPLACE, AssociationType.TRANSFORM_AND_REPLACE})


class UUID:
    """Classification schemes, classification nodes and identification schemes (ITI TF-3 4.2.5)."""

    # DocumentEntry
    DE_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    DE_CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    DE_CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    DE_EVENT_CODE = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    DE_FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    DE_HEALTHCARE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    DE_PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    DE_TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"
    DE_LIMITED_METADATA = "urn:uuid:ab9b591b-83ab-4d03-8f5d-f93b1fb92e85"
    DE_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    DE_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
    # SubmissionSet
    SS_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
    SS_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
    SS_CONTENT_TYPE_CODE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
    SS_LIMITED_METADATA = "urn:uuid:5003a9db-8d8d-49e6-bf0c-990e34ac7707"
    SS_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
    SS_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
    SS_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
    # Folder
    FOLDER_NODE = "urn:uuid:d9d542f3-6cc4-48b6-8870-ea235fbc94c2"
    FOLDER_CODE_LIST = "urn:uuid:1ba97051-7806-41a8-a48b-8fce7af683c5"
    FOLDER_LIMITED_METADATA = "urn:uuid:2c144a76-29a9-4b7c-af54-b25409fe7d03"
    FOLDER_PATIENT_ID = "urn:uuid:f64ffdf0-4b97-4e06-b79f-a52b38ec2f8a"
    FOLDER_UNIQUE_ID = "urn:uuid:75df8f67-9973-4fbe-a900-df66cefecc5a"
    # Association documentation (the "doc code" of a document relationship)
    ASSOCIATION_DOCUMENTATION = "urn:uuid:abd807a3-4432-4053-87b4-fd82c643d1f3"


# Names carried in ExternalIdentifier/Name/LocalizedString (ITI TF-3 4.2.3).
EXTERNAL_IDENTIFIER_NAMES = {
    UUID.DE_PATIENT_ID: "XDSDocumentEntry.patientId",
    UUID.DE_UNIQUE_ID: "XDSDocumentEntry.uniqueId",
    UUID.SS_PATIENT_ID: "XDSSubmissionSet.patientId",
    UUID.SS_UNIQUE_ID: "XDSSubmissionSet.uniqueId",
    UUID.SS_SOURCE_ID: "XDSSubmissionSet.sourceId",
    UUID.FOLDER_PATIENT_ID: "XDSFolder.patientId",
    UUID.FOLDER_UNIQUE_ID: "XDSFolder.uniqueId",
}


class Slot:
    """Slot names defined by IHE (ITI TF-3 4.2.3). Anything else is extra metadata (TF-3 4.1.14)."""

    CREATION_TIME = "creationTime"
    HASH = "hash"
    LANGUAGE_CODE = "languageCode"
    LEGAL_AUTHENTICATOR = "legalAuthenticator"
    SERVICE_START_TIME = "serviceStartTime"
    SERVICE_STOP_TIME = "serviceStopTime"
    SIZE = "size"
    SOURCE_PATIENT_ID = "sourcePatientId"
    SOURCE_PATIENT_INFO = "sourcePatientInfo"
    URI = "URI"
    REPOSITORY_UNIQUE_ID = "repositoryUniqueId"
    DOCUMENT_AVAILABILITY = "documentAvailability"
    REFERENCE_ID_LIST = "urn:ihe:iti:xds:2013:referenceIdList"
    SUBMISSION_TIME = "submissionTime"
    INTENDED_RECIPIENT = "intendedRecipient"
    LAST_UPDATE_TIME = "lastUpdateTime"
    SUBMISSION_SET_STATUS = "SubmissionSetStatus"
    PREVIOUS_VERSION = "PreviousVersion"
    ORIGINAL_STATUS = "OriginalStatus"
    NEW_STATUS = "NewStatus"
    ASSOCIATION_PROPAGATION = "AssociationPropagation"
    CODING_SCHEME = "codingScheme"
    AUTHOR_PERSON = "authorPerson"
    AUTHOR_INSTITUTION = "authorInstitution"
    AUTHOR_ROLE = "authorRole"
    AUTHOR_SPECIALTY = "authorSpecialty"
    AUTHOR_TELECOMMUNICATION = "authorTelecommunication"
    HOME_COMMUNITY_ID = "homeCommunityId"


# Slots IHE defines in the urn:ihe: namespace; any other urn:ihe: slot is an error (TF-3 4.1.14).
IHE_URN_SLOTS = frozenset({Slot.REFERENCE_ID_LIST, "urn:ihe:iti:xds:2015:documentAvailability"})


class ErrorCode(str, Enum):
    """RegistryError/@errorCode values (ITI TF-3 Table 4.2.4.1-2), written exactly as on the wire."""

    XDSMissingDocument = "XDSMissingDocument"
    XDSMissingDocumentMetadata = "XDSMissingDocumentMetadata"
    XDSRegistryNotAvailable = "XDSRegistryNotAvailable"
    XDSRegistryError = "XDSRegistryError"
    XDSRepositoryError = "XDSRepositoryError"
    XDSRegistryDuplicateUniqueIdInMessage = "XDSRegistryDuplicateUniqueIdInMessage"
    XDSRepositoryDuplicateUniqueIdInMessage = "XDSRepositoryDuplicateUniqueIdInMessage"
    XDSDuplicateUniqueIdInRegistry = "XDSDuplicateUniqueIdInRegistry"
    XDSNonIdenticalHash = "XDSNonIdenticalHash"
    XDSNonIdenticalSize = "XDSNonIdenticalSize"
    XDSRegistryBusy = "XDSRegistryBusy"
    XDSRepositoryBusy = "XDSRepositoryBusy"
    XDSRegistryOutOfResources = "XDSRegistryOutOfResources"
    XDSRepositoryOutOfResources = "XDSRepositoryOutOfResources"
    XDSRegistryMetadataError = "XDSRegistryMetadataError"
    XDSRepositoryMetadataError = "XDSRepositoryMetadataError"
    XDSTooManyResults = "XDSTooManyResults"
    XDSExtraMetadataNotSaved = "XDSExtraMetadataNotSaved"
    XDSUnknownPatientId = "XDSUnknownPatientId"
    XDSPatientIdDoesNotMatch = "XDSPatientIdDoesNotMatch"
    XDSUnknownStoredQuery = "XDSUnknownStoredQuery"
    XDSStoredQueryMissingParam = "XDSStoredQueryMissingParam"
    XDSStoredQueryParamNumber = "XDSStoredQueryParamNumber"
    XDSRegistryDeprecatedDocumentError = "XDSRegistryDeprecatedDocumentError"
    XDSUnknownRepositoryId = "XDSUnknownRepositoryId"
    XDSDocumentUniqueIdError = "XDSDocumentUniqueIdError"
    XDSResultNotSinglePatient = "XDSResultNotSinglePatient"
    PartialFolderContentNotProcessed = "PartialFolderContentNotProcessed"
    PartialReplaceContentNotProcessed = "PartialReplaceContentNotProcessed"
    PartialTransformNotProcessed = "PartialTransformNotProcessed"
    PartialAppendContentNotProcessed = "PartialAppendContentNotProcessed"
    PartialRelationshipContentNotProcessed = "PartialRelationshipContentNotProcessed"
    PartialTransformReplaceNotProcessed = "PartialTransformReplaceNotProcessed"
    UnresolvedReferenceException = "UnresolvedReferenceException"
    XDSMetadataUpdateError = "XDSMetadataUpdateError"
    XDSMetadataUpdateOperationError = "XDSMetadataUpdateOperationError"
    XDSMetadataVersionError = "XDSMetadataVersionError"
    XDSPatientIDReconciliationError = "XDSPatientIDReconciliationError"
    UnmodifiableMetadataError = "UnmodifiableMetadataError"
    XDSMetadataIdentifierError = "XDSMetadataIdentifierError"
    XDSObjectTypeError = "XDSObjectTypeError"
    XDSInvalidRequestException = "XDSInvalidRequestException"
    ReferencesExistException = "ReferencesExistException"
    XDSUnreferencedObjectException = "XDSUnreferencedObjectException"
    XDSRemoveDocumentsError = "XDSRemoveDocumentsError"


class StoredQueryId(str, Enum):
    """Stored query ids (ITI TF-2a 3.18.4.1.2.3.7)."""

    FindDocuments = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    FindDocumentsByReferenceId = "urn:uuid:12941a89-e02e-4be5-967c-ce4bfc8fe492"
    FindSubmissionSets = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"
    FindFolders = "urn:uuid:958f3006-baad-4929-a4de-ff1114824431"
    GetAll = "urn:uuid:10b545ea-725c-446d-9b95-8aeb444eddf3"
    GetDocuments = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
    GetFolders = "urn:uuid:5737b14c-8a1a-4539-b659-e03a34a5e1e4"
    GetAssociations = "urn:uuid:a7ae438b-4bc2-4642-93e9-be891f7bb155"
    GetDocumentsAndAssociations = "urn:uuid:bab9529a-4a10-40b3-a01f-f68a615d247a"
    GetSubmissionSets = "urn:uuid:51224314-5390-4169-9b91-b1980040715a"
    GetSubmissionSetAndContents = "urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83"
    GetFolderAndContents = "urn:uuid:b909a503-523d-4517-8acf-8e5834dfc4c7"
    GetFoldersForDocument = "urn:uuid:10cae35a-c7f9-4cf5-b61e-fc3278ffb578"
    GetRelatedDocuments = "urn:uuid:d90e5407-b356-4d91-a89f-873917b4b0e6"
