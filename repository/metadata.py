"""What the repository reads and patches in a Provide and Register request (ITI TF-2b 3.41.4.1.2; ebRIM 3.0).

The repository does not rebuild the metadata: it works on the received XML tree, reads what it needs
(DocumentEntries, their uniqueId, patientId, mimeType, hash and size slots; the Document elements; the
submission set's uniqueId and patientId, which the ITI-41 audit message names) and overwrites
three slots before forwarding the SubmitObjectsRequest as it came (ITI TF-2b 3.41.4.1.3.2). So every
slot, classification and extra attribute the source sent reaches the registry untouched.
"""

from __future__ import annotations

from lxml import etree

from xdscore.errors import FaultCode, SoapFault
from xdscore.vocabulary import NS, UUID

XDSB = f"{{{NS.XDSB}}}"
RIM = f"{{{NS.RIM}}}"
LCM = f"{{{NS.LCM}}}"

PROVIDE_AND_REGISTER_REQUEST = f"{XDSB}ProvideAndRegisterDocumentSetRequest"
SUBMIT_OBJECTS_REQUEST = f"{LCM}SubmitObjectsRequest"
DOCUMENT = f"{XDSB}Document"
EXTRINSIC_OBJECT = f"{RIM}ExtrinsicObject"
REGISTRY_PACKAGE = f"{RIM}RegistryPackage"

# ebRIM 3.0 RegistryObject children after the slots, in schema order: a new Slot goes before these.
_AFTER_SLOTS = {f"{RIM}{n}" for n in ("Name", "Description", "VersionInfo", "Classification", "ExternalIdentifier", "ContentVersionInfo")}


def split_request(body: etree._Element) -> tuple[etree._Element, list[etree._Element]]:
    """The SubmitObjectsRequest and the Document elements of a ProvideAndRegisterDocumentSetRequest."""
    if body.tag != PROVIDE_AND_REGISTER_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"the SOAP Body holds {body.tag}, not xdsb:ProvideAndRegisterDocumentSetRequest")
    sor = body.find(SUBMIT_OBJECTS_REQUEST)
    if sor is None:
        raise SoapFault(FaultCode.SENDER, "ProvideAndRegisterDocumentSetRequest has no lcm:SubmitObjectsRequest")
    return sor, body.findall(DOCUMENT)


def document_entries(sor: etree._Element) -> list[etree._Element]:
    """Every DocumentEntry (rim:ExtrinsicObject) of the submission, in document order."""
    return list(sor.iterfind(f"{RIM}RegistryObjectList/{EXTRINSIC_OBJECT}"))


def external_id(obj: etree._Element, scheme: str) -> str | None:
    """The value of the object's ExternalIdentifier with this identificationScheme (None: absent or empty)."""
    for ext in obj.iterchildren(f"{RIM}ExternalIdentifier"):
        if ext.get("identificationScheme") == scheme:
            return (ext.get("value") or "").strip() or None
    return None


def unique_id(entry: etree._Element) -> str | None:
    """XDSDocumentEntry.uniqueId (ExternalIdentifier with the uniqueId identification scheme)."""
    return external_id(entry, UUID.DE_UNIQUE_ID)


def patient_id(entry: etree._Element) -> str | None:
    """XDSDocumentEntry.patientId (CX)."""
    return external_id(entry, UUID.DE_PATIENT_ID)


def submission_set_ids(sor: etree._Element) -> tuple[str | None, str | None]:
    """(XDSSubmissionSet.patientId, XDSSubmissionSet.uniqueId) of the first RegistryPackage carrying either."""
    for package in sor.iterfind(f"{RIM}RegistryObjectList/{REGISTRY_PACKAGE}"):
        patient, unique = external_id(package, UUID.SS_PATIENT_ID), external_id(package, UUID.SS_UNIQUE_ID)
        if patient or unique:
            return patient, unique
    return None, None


def slot_values(entry: etree._Element, name: str) -> list[str] | None:
    """Values of the named slot, or None when the object has no such slot."""
    for slot in entry.iterchildren(f"{RIM}Slot"):
        if slot.get("name") == name:
            values: list[str] = [(v.text or "").strip() for v in slot.iterfind(f"{RIM}ValueList/{RIM}Value")]
            return values
    return None


def set_slot(entry: etree._Element, name: str, values: list[str]) -> None:
    """Add or overwrite a slot, keeping ebRIM's child order (slots come first)."""
    slot = next((s for s in entry.iterchildren(f"{RIM}Slot") if s.get("name") == name), None)
    if slot is None:
        slot = etree.Element(f"{RIM}Slot", name=name)
        anchor = next((c for c in entry if c.tag in _AFTER_SLOTS), None)
        if anchor is None:
            entry.append(slot)
        else:
            anchor.addprevious(slot)
    for child in list(slot):
        slot.remove(child)
    value_list = etree.SubElement(slot, f"{RIM}ValueList")
    for v in values:
        etree.SubElement(value_list, f"{RIM}Value").text = v
