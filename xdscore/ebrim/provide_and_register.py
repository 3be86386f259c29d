"""xdsb:ProvideAndRegisterDocumentSetRequest (ITI TF-2b 3.41.4.1.2; IHEXDSB.xsd): the SubmitObjectsRequest
it carries and its Document elements.

The Document Repository checks little of the metadata itself (ITI TF-2b 3.41.4.1.3): each DocumentEntry's
id (to match its Document), uniqueId, mimeType and patientId, the hash and size a source may have supplied,
and, for the audit message, the SubmissionSet's patientId and uniqueId. `outline` reads just those, in one
pass over the RegistryObjectList, with the same folding of top-level Classifications and ExternalIdentifiers
as `submit_objects.read` (which the registry runs on the whole request). The repository patches three slots
of each DocumentEntry in the received tree (`rim.set_slot`) and forwards that SubmitObjectsRequest as it
came (ITI TF-2b 3.41.4.1.3.2), so every slot, classification and extra attribute the source sent reaches
the registry untouched. `read` gives the whole typed `Submission`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from xdscore.ebrim import submit_objects
from xdscore.errors import FaultCode, SoapFault
from xdscore.model import Submission
from xdscore.vocabulary import NS, UUID, Slot

XDSB = f"{{{NS.XDSB}}}"
RIM = f"{{{NS.RIM}}}"
PROVIDE_AND_REGISTER_REQUEST = f"{XDSB}ProvideAndRegisterDocumentSetRequest"
DOCUMENT = f"{XDSB}Document"
_SLOT = f"{RIM}Slot"
_VALUE_LIST = f"{RIM}ValueList"
_VALUE = f"{RIM}Value"
_CLASSIFICATION = f"{RIM}Classification"
_EXTERNAL_IDENTIFIER = f"{RIM}ExternalIdentifier"
_SUPPLIED_SLOTS = (Slot.HASH, Slot.SIZE)


@dataclass(frozen=True)
class ProvideRequest:
    submit_objects: etree._Element  # the lcm:SubmitObjectsRequest, patched in place and forwarded
    submission: Submission  # what it says, typed
    documents: list[etree._Element]  # the xdsb:Document elements

    def entry_elements(self) -> dict[str, etree._Element]:
        """Each DocumentEntry's rim:ExtrinsicObject in the received tree, by id (the first of a repeated id)."""
        found: dict[str, etree._Element] = {}
        for el in self.submit_objects.iterfind(f"{RIM}RegistryObjectList/{RIM}ExtrinsicObject"):
            found.setdefault(el.get("id") or "", el)
        return found


@dataclass(frozen=True)
class EntryOutline:
    """What the repository reads of one DocumentEntry; the values as `document_entry.read` gives them."""

    element: etree._Element  # its rim:ExtrinsicObject in the received tree
    entry_id: str
    unique_id: str | None
    patient_id: str | None
    mime_type: str | None
    hash: tuple[str, ...] | None  # the values of the hash slot the source sent; None: no such slot
    size: tuple[str, ...] | None


@dataclass(frozen=True)
class ProvideOutline:
    submit_objects: etree._Element  # the lcm:SubmitObjectsRequest, patched in place and forwarded
    entries: tuple[EntryOutline, ...]  # every ExtrinsicObject, in document order
    documents: list[etree._Element]  # the xdsb:Document elements
    submission_set_patient_id: str | None = None  # of the first RegistryPackage classified as SubmissionSet
    submission_set_unique_id: str | None = None


@dataclass
class _Object:
    element: etree._Element
    kind: str  # ExtrinsicObject, RegistryPackage or Association (local name)
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (scheme, value), nested then folded
    nodes: list[str] = field(default_factory=list)  # classificationNode of its Classifications
    supplied: dict[str, tuple[str, ...]] = field(default_factory=dict)  # first hash / size slot

    def external_id(self, scheme: str) -> str | None:
        return next((value for s, value in self.identifiers if s == scheme), None)


def submit_objects_element(body: etree._Element) -> etree._Element:
    """The lcm:SubmitObjectsRequest of a ProvideAndRegisterDocumentSetRequest; SoapFault for another body."""
    if body.tag != PROVIDE_AND_REGISTER_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"the SOAP Body holds {body.tag}, not xdsb:ProvideAndRegisterDocumentSetRequest")
    sor = body.find(submit_objects.SUBMIT_OBJECTS_REQUEST)
    if sor is None:
        raise SoapFault(FaultCode.SENDER, "ProvideAndRegisterDocumentSetRequest has no lcm:SubmitObjectsRequest")
    return sor


def read(body: etree._Element) -> ProvideRequest:
    sor = submit_objects_element(body)
    return ProvideRequest(sor, submit_objects.read(sor), body.findall(DOCUMENT))


def outline(body: etree._Element) -> ProvideOutline:
    """The repository's part of a request, read in one pass (a tenth of `read`'s work); SoapFault as `read`."""
    sor = submit_objects_element(body)
    objects: list[_Object] = []
    loose_nodes: list[tuple[str, str]] = []  # (classifiedObject, classificationNode)
    loose_identifiers: list[tuple[str, str, str]] = []  # (registryObject, scheme, value)
    object_list = sor.find(f"{RIM}RegistryObjectList")
    for child in object_list if object_list is not None else ():
        tag = child.tag
        if not isinstance(tag, str):
            continue
        local = tag.rpartition("}")[2]  # any namespace, as submit_objects.read
        if local in ("ExtrinsicObject", "RegistryPackage"):
            objects.append(_read_object(child, local))
        elif local == "Association":
            objects.append(_Object(child, local))  # only its id counts: a Classification may name it
        elif local == "Classification":
            loose_nodes.append((child.get("classifiedObject") or "", child.get("classificationNode") or ""))
        elif local == "ExternalIdentifier":
            loose_identifiers.append((child.get("registryObject") or "", child.get("identificationScheme", ""),
                                      (child.get("value") or "").strip()))
    if loose_nodes or loose_identifiers:  # folded into the object they name (the last of a repeated id)
        index = {o.element.get("id", ""): o for o in objects}
        for owner, node in loose_nodes:
            if owner in index:
                index[owner].nodes.append(node)
        for owner, scheme, value in loose_identifiers:
            if owner in index:
                index[owner].identifiers.append((scheme, value))
    entries = tuple(
        EntryOutline(o.element, o.element.get("id", ""), o.external_id(UUID.DE_UNIQUE_ID), o.external_id(UUID.DE_PATIENT_ID),
                     o.element.get("mimeType"), o.supplied.get(Slot.HASH), o.supplied.get(Slot.SIZE))
        for o in objects if o.kind == "ExtrinsicObject")
    ss = next((o for o in objects if o.kind == "RegistryPackage" and UUID.SS_NODE in o.nodes), None)
    return ProvideOutline(
        sor, entries, body.findall(DOCUMENT),
        ss.external_id(UUID.SS_PATIENT_ID) if ss is not None else None,
        ss.external_id(UUID.SS_UNIQUE_ID) if ss is not None else None,
    )


def _read_object(el: etree._Element, kind: str) -> _Object:
    obj = _Object(el, kind)
    for child in el.iterchildren(_SLOT, _CLASSIFICATION, _EXTERNAL_IDENTIFIER):
        tag = child.tag
        if tag == _EXTERNAL_IDENTIFIER:
            obj.identifiers.append((child.get("identificationScheme", ""), (child.get("value") or "").strip()))
        elif tag == _CLASSIFICATION:
            obj.nodes.append(child.get("classificationNode") or "")
        else:
            name = child.get("name", "")
            if name in _SUPPLIED_SLOTS and name not in obj.supplied:
                obj.supplied[name] = tuple((v.text or "").strip() for vl in child.iterchildren(_VALUE_LIST)
                                           for v in vl.iterchildren(_VALUE))
    return obj
