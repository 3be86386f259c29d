"""lcm:SubmitObjectsRequest <-> `Submission` (ITI TF-2b 3.42.4.1.2; ebRS 3.0 lcm.xsd).

Top-level Classifications (the usual way to classify a RegistryPackage as SubmissionSet or Folder) and
top-level ExternalIdentifiers are folded into the object they point at, so that each object is stored and
returned as one self-contained element.
"""

from __future__ import annotations

from dataclasses import replace

from lxml import etree

from xdscore.ebrim import association, document_entry, folder, rim, submission_set
from xdscore.errors import FaultCode, SoapFault
from xdscore.model import RimClassification, RimExternalIdentifier, RimObject, RimSlot, Submission
from xdscore.vocabulary import NS, UUID

LCM = f"{{{NS.LCM}}}"
RIM = f"{{{NS.RIM}}}"
RS = f"{{{NS.RS}}}"
SUBMIT_OBJECTS_REQUEST = f"{LCM}SubmitObjectsRequest"
_RIM_SLOT_LIST = f"{RIM}RequestSlotList"
_RS_SLOT_LIST = f"{RS}RequestSlotList"
_OBJECT_LIST = f"{RIM}RegistryObjectList"


def read(el: etree._Element) -> Submission:
    if el.tag != SUBMIT_OBJECTS_REQUEST:
        raise SoapFault(FaultCode.SENDER, f"body element is {el.tag}, expected lcm:SubmitObjectsRequest")
    objects: list[RimObject] = []
    loose_classifications: list[RimClassification] = []
    loose_identifiers: list[RimExternalIdentifier] = []
    object_refs: list[str] = []
    request_slots: tuple[RimSlot, ...] = ()
    rim_slots = rs_slots = object_list = None
    for child in el:  # one pass: the first of each, as find() gave
        tag = child.tag
        if tag == _RIM_SLOT_LIST:
            rim_slots = child if rim_slots is None else rim_slots
        elif tag == _RS_SLOT_LIST:
            rs_slots = child if rs_slots is None else rs_slots
        elif tag == _OBJECT_LIST:
            object_list = child if object_list is None else object_list
    slot_list = rim_slots if rim_slots is not None else rs_slots
    if slot_list is not None:
        request_slots = rim.read_slots(slot_list)
    if object_list is not None:
        for child in object_list:
            if not isinstance(child.tag, str):
                continue
            local = child.tag.rpartition("}")[2]  # any namespace, as QName(child).localname
            if local in ("ExtrinsicObject", "RegistryPackage", "Association"):
                objects.append(rim.read_object(child))
            elif local == "Classification":
                loose_classifications.append(rim.read_classification(child))
            elif local == "ExternalIdentifier":
                loose_identifiers.append(rim.read_external_identifier(child))
            elif local == "ObjectRef":
                object_refs.append(child.get("id", ""))
    dangling: list[tuple[str, str, str]] = []
    objects = _fold(objects, loose_classifications, loose_identifiers, dangling)
    submission = classify(objects, request_slots=request_slots, object_refs=tuple(object_refs))
    return replace(submission, dangling_references=tuple(dangling)) if dangling else submission


def _fold(
    objects: list[RimObject],
    classifications: list[RimClassification],
    identifiers: list[RimExternalIdentifier],
    dangling: list[tuple[str, str, str]],
) -> list[RimObject]:
    """Fold each top-level Classification / ExternalIdentifier into its object; one naming no object of
    the submission is listed in `dangling` (never silently dropped: rule SUB-refs refuses it)."""
    if not classifications and not identifiers:
        return objects
    index = {o.id: i for i, o in enumerate(objects)}
    for c in classifications:
        i = index.get(c.classified_object)
        if i is None:
            dangling.append(("Classification", c.id, c.classified_object))
        else:
            objects[i] = replace(objects[i], classifications=(*objects[i].classifications, c))
    for e in identifiers:
        i = index.get(e.registry_object)
        if i is None:
            dangling.append(("ExternalIdentifier", e.id, e.registry_object))
        else:
            objects[i] = replace(objects[i], external_identifiers=(*objects[i].external_identifiers, e))
    return objects


def classify(objects: list[RimObject], request_slots: tuple[RimSlot, ...] = (), object_refs: tuple[str, ...] = ()) -> Submission:
    des, sss, fds, assocs, unknown = [], [], [], [], []
    for o in objects:
        if o.tag == "ExtrinsicObject":
            des.append(document_entry.read(o))
        elif o.tag == "Association":
            assocs.append(association.read(o))
        elif o.has_node(UUID.SS_NODE):
            sss.append(submission_set.read(o))
        elif o.has_node(UUID.FOLDER_NODE):
            fds.append(folder.read(o))
        else:
            unknown.append(o)
    return Submission(
        document_entries=tuple(des),
        submission_sets=tuple(sss),
        folders=tuple(fds),
        associations=tuple(assocs),
        unclassified_packages=tuple(unknown),
        request_slots=request_slots,
        object_refs=object_refs,
    )


def write(objects: list[RimObject]) -> etree._Element:
    """RimObjects → lcm:SubmitObjectsRequest (SubmissionSet first is customary, not required)."""
    req = etree.Element(SUBMIT_OBJECTS_REQUEST, nsmap={"lcm": NS.LCM, "rim": NS.RIM})
    lst = etree.SubElement(req, f"{RIM}RegistryObjectList")
    for o in objects:
        rim.write_object(o, lst)
    return req
