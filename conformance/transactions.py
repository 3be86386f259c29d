"""The transactions the kit sends: where each goes, with which wsa:Action, and which answer it expects.

One row per transaction element of the NIST test plans (the toolkit's transaction classes and their
`getRequestAction`; ITI TF-2a/2b/3 for the bodies):

| element | transaction | receiver |
|---|---|---|
| RegisterTransaction | ITI-42 Register Document Set-b | registry |
| ProvideAndRegisterTransaction | ITI-41 Provide and Register Document Set-b (MTOM) | repository |
| StoredQueryTransaction | ITI-18 Registry Stored Query | registry |
| RetrieveTransaction | ITI-43 Retrieve Document Set (MTOM) | repository |
| MuTransaction | ITI-57 Update Document Set | registry |
| RmuTransaction | ITI-92 Restricted Update Document Set | registry |
| RemoveMetadataTransaction | ITI-62 Remove Metadata (DeleteDocumentSet) | registry |
| RdTransaction | ITI-86 Remove Documents | repository |
| RegisterODDETransaction | ITI-61 Register On-Demand Document Entry | registry |
| MPQTransaction | ITI-51 Multi-Patient Stored Query | registry |
| PatientIdentityFeedTransaction | ITI-8 Patient Identity Feed (HL7v2 ADT^A01, MLLP) | registry |
| PatientMoveTransaction | ITI-64 Notify XAD-PID Link Change (HL7v2 ADT^A43, MLLP) | registry |

`optional`: the transaction belongs to an actor option (ITI TF-1 10.2: Metadata Update, Remove Metadata and
Documents, On-Demand Documents, Multi-Patient Query, XAD-PID Change Management). A receiver that answers
it with the WS-Addressing fault `wsa:ActionNotSupported` (or, over MLLP, HL7 error 200 / 201: message type
or event not supported) does not implement that option, and the test is reported "not applicable" with
that answer as the reason instead of failed. The core transactions are never optional: a registry that
refuses ITI-18 fails.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdscore.vocabulary import NS

RMD = "urn:ihe:iti:rmd:2017"  # ITI-86 RemoveDocumentsRequest namespace
_SOR = f"{{{NS.LCM}}}SubmitObjectsRequest"
_REGISTRY_RESPONSE = f"{{{NS.RS}}}RegistryResponse"
_QUERY_REQUEST = f"{{{NS.QUERY}}}AdhocQueryRequest"
_QUERY_RESPONSE = f"{{{NS.QUERY}}}AdhocQueryResponse"


@dataclass(frozen=True)
class Kind:
    element: str  # the test plan's transaction element
    transaction: str  # e.g. "ITI-57 Update Document Set"
    receiver: str  # "registry" | "repository" | "feed" | "" (nothing sent)
    preparation: str  # "submission" | "request" | "feed" | "move" | "none"
    action: str = ""  # wsa:Action of the request
    request: str = ""  # the request body element ({namespace}local) the MetadataFile must hold
    response: str = ""  # the response body element ({namespace}local)
    mtom: bool = False
    optional: bool = False

    @property
    def soap(self) -> bool:
        return self.receiver in ("registry", "repository")


_ALL = (
    Kind("RegisterTransaction", "ITI-42 Register Document Set-b", "registry", "submission",
         "urn:ihe:iti:2007:RegisterDocumentSet-b", _SOR, _REGISTRY_RESPONSE),
    Kind("ProvideAndRegisterTransaction", "ITI-41 Provide and Register Document Set-b", "repository", "submission",
         "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b", f"{{{NS.XDSB}}}ProvideAndRegisterDocumentSetRequest",
         _REGISTRY_RESPONSE, mtom=True),
    Kind("StoredQueryTransaction", "ITI-18 Registry Stored Query", "registry", "request",
         "urn:ihe:iti:2007:RegistryStoredQuery", _QUERY_REQUEST, _QUERY_RESPONSE),
    Kind("RetrieveTransaction", "ITI-43 Retrieve Document Set", "repository", "request",
         "urn:ihe:iti:2007:RetrieveDocumentSet", f"{{{NS.XDSB}}}RetrieveDocumentSetRequest",
         f"{{{NS.XDSB}}}RetrieveDocumentSetResponse", mtom=True),
    Kind("MuTransaction", "ITI-57 Update Document Set", "registry", "submission",
         "urn:ihe:iti:2010:UpdateDocumentSet", _SOR, _REGISTRY_RESPONSE, optional=True),
    Kind("RmuTransaction", "ITI-92 Restricted Update Document Set", "registry", "submission",
         "urn:ihe:iti:2018:RestrictedUpdateDocumentSet", _SOR, _REGISTRY_RESPONSE, optional=True),
    Kind("RemoveMetadataTransaction", "ITI-62 Remove Metadata", "registry", "request",
         "urn:ihe:iti:2010:DeleteDocumentSet", f"{{{NS.LCM}}}RemoveObjectsRequest", _REGISTRY_RESPONSE, optional=True),
    Kind("RdTransaction", "ITI-86 Remove Documents", "repository", "request",
         "urn:ihe:iti:2017:RemoveDocuments", f"{{{RMD}}}RemoveDocumentsRequest", _REGISTRY_RESPONSE, optional=True),
    Kind("RegisterODDETransaction", "ITI-61 Register On-Demand Document Entry", "registry", "submission",
         "urn:ihe:iti:2010:RegisterOnDemandDocumentEntry", _SOR, _REGISTRY_RESPONSE, optional=True),
    Kind("MPQTransaction", "ITI-51 Multi-Patient Stored Query", "registry", "request",
         "urn:ihe:iti:2009:MultiPatientStoredQuery", _QUERY_REQUEST, _QUERY_RESPONSE, optional=True),
    Kind("PatientIdentityFeedTransaction", "ITI-8 Patient Identity Feed", "feed", "feed"),
    Kind("PatientMoveTransaction", "ITI-64 Notify XAD-PID Link Change", "feed", "move", optional=True),
    Kind("NullTransaction", "no transaction (assertions over the log)", "", "none"),
)
KINDS: dict[str, Kind] = {k.element: k for k in _ALL}

# The WS-Addressing 1.0 SOAP Binding fault (§6.4.4) a SOAP node answers to an action it does not serve.
ACTION_NOT_SUPPORTED = f"{{{NS.WSA}}}ActionNotSupported"
# HL7 v2 table 0357 codes meaning "this message is not implemented here" (not "this message is wrong").
HL7_NOT_SUPPORTED = frozenset({"200", "201"})
