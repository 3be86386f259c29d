"""query:AdhocQueryResponse (ITI TF-2a 3.18.4.1.3; ebRS 3.0 query.xsd).

LeafClass objects are written from the XML the registry stored, with what changes after registration
patched in: availabilityStatus, a Folder's lastUpdateTime, the patientId after a merge, and `home` when
the request carried a homeCommunityId. Element order follows the schema: RegistryErrorList before
RegistryObjectList, which is always present.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from lxml import etree

from xdscore.ebrim.response import write_error_list
from xdscore.errors import Violation
from xdscore.model import PatientKey
from xdscore.vocabulary import NS, UUID, ResponseStatus, Slot

RIM = f"{{{NS.RIM}}}"
_PATIENT_SCHEMES = frozenset({UUID.DE_PATIENT_ID, UUID.SS_PATIENT_ID, UUID.FOLDER_PATIENT_ID})
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


class StoredObjectLike(Protocol):
    uuid: str
    kind: str
    status: str
    patient: str | None
    xml: str
    last_update_time: str | None


def _response(status: ResponseStatus, violations: list[Violation] | None = None) -> tuple[etree._Element, etree._Element]:
    el = etree.Element(f"{{{NS.QUERY}}}AdhocQueryResponse", nsmap={"query": NS.QUERY, "rim": NS.RIM, "rs": NS.RS})
    el.set("status", status.value)
    if violations:
        write_error_list(el, violations)
    return el, etree.SubElement(el, f"{RIM}RegistryObjectList")


def failure(violations: list[Violation]) -> etree._Element:
    status = ResponseStatus.FAILURE if any(v.is_error for v in violations) else ResponseStatus.SUCCESS
    return _response(status, violations)[0]


def object_refs(uuids: Iterable[str], home: str | None = None) -> etree._Element:
    el, lst = _response(ResponseStatus.SUCCESS)
    for u in uuids:
        ref = etree.SubElement(lst, f"{RIM}ObjectRef", id=u)
        if home:
            ref.set("home", home)
    return el


def stored_object(obj: StoredObjectLike, home: str | None = None) -> etree._Element:
    el = etree.fromstring(obj.xml, parser=_PARSER)
    el.set("status", obj.status)
    if home:
        el.set("home", home)
    if obj.kind == "FD" and obj.last_update_time:
        for slot in el.iterchildren(f"{RIM}Slot"):
            if slot.get("name") == Slot.LAST_UPDATE_TIME:
                value = slot.find(f"{RIM}ValueList/{RIM}Value")
                if value is not None:
                    value.text = obj.last_update_time
    if obj.patient:
        for ext in el.iterchildren(f"{RIM}ExternalIdentifier"):
            if ext.get("identificationScheme") in _PATIENT_SCHEMES:
                if PatientKey.parse(ext.get("value", "")) != PatientKey.parse(obj.patient):
                    ext.set("value", obj.patient)  # merged (ITI-8 A40): answered under the surviving id
    return el


def leaf_class(objects: Iterable[StoredObjectLike], home: str | None = None) -> etree._Element:
    el, lst = _response(ResponseStatus.SUCCESS)
    for o in objects:
        lst.append(stored_object(o, home))
    return el
