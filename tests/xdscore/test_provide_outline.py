"""`provide_and_register.outline` reads what the Document Repository needs exactly as the full reader
(`submit_objects.read`) gives it: every ebRS 3.0 SubmitObjectsRequest of the conformance kits (87), and the cases where
the two could part (top-level Classifications and ExternalIdentifiers, repeated slots, no SubmissionSet)."""

from __future__ import annotations

import copy

import pytest
from lxml import etree

from harness.builders import single_document
from tests.xdscore.kits import kit_roots
from xdscore.ebrim import provide_and_register as pnr
from xdscore.ebrim import rim, submit_objects
from xdscore.vocabulary import UUID, Slot


def as_provide(sor: etree._Element) -> etree._Element:
    body = etree.Element(pnr.PROVIDE_AND_REGISTER_REQUEST)
    body.append(copy.deepcopy(sor))
    return body


def expected(body: etree._Element) -> tuple[object, ...]:
    """The outline's fields as derived from the full read."""
    request = pnr.read(body)
    sub = request.submission
    ss = sub.submission_sets[0] if sub.submission_sets else None
    entries = tuple(
        (e.entry_uuid, e.unique_id, e.patient_id, e.mime_type,
         next((s.values for s in e.rim.slots if s.name == Slot.HASH), None),
         next((s.values for s in e.rim.slots if s.name == Slot.SIZE), None))
        for e in sub.document_entries)
    return entries, ss.patient_id if ss else None, ss.unique_id if ss else None


def outlined(body: etree._Element) -> tuple[object, ...]:
    o = pnr.outline(body)
    entries = tuple((e.entry_id, e.unique_id, e.patient_id, e.mime_type, e.hash, e.size) for e in o.entries)
    assert all(e.element.get("id", "") == e.entry_id for e in o.entries)
    return entries, o.submission_set_patient_id, o.submission_set_unique_id


def kit_requests() -> list[etree._Element]:
    return [as_provide(sor) for root in kit_roots(b"SubmitObjectsRequest")
            for sor in root.iter(submit_objects.SUBMIT_OBJECTS_REQUEST)]


def test_every_submission_of_the_conformance_kits() -> None:
    bodies = kit_requests()
    assert len(bodies) > 80  # the kits are there (a path mistake must not pass as "nothing differs")
    with_entries = 0
    for body in bodies:
        want = expected(body)
        assert outlined(body) == want
        with_entries += bool(want[0])
    assert with_entries > 60


def _body() -> etree._Element:
    return as_provide(single_document().xml())


def test_top_level_classification_and_identifiers_are_folded() -> None:
    """A SubmissionSet classified by a top-level Classification and a uniqueId given as a top-level
    ExternalIdentifier (both legal ebRIM) are read as the registry reads them."""
    body = _body()
    objects = body.find(f"{submit_objects.SUBMIT_OBJECTS_REQUEST}/{rim.R}RegistryObjectList")
    assert objects is not None
    ss = next(el for el in objects.iterchildren(rim.q("RegistryPackage")))
    de = next(el for el in objects.iterchildren(rim.q("ExtrinsicObject")))
    for c in list(ss.iterchildren(rim.q("Classification"))):
        if c.get("classificationNode") == UUID.SS_NODE:
            ss.remove(c)
            c.set("classifiedObject", ss.get("id", ""))
            objects.append(c)
    for e in list(de.iterchildren(rim.q("ExternalIdentifier"))):
        if e.get("identificationScheme") == UUID.DE_UNIQUE_ID:
            de.remove(e)
            e.set("registryObject", de.get("id", ""))
            objects.append(e)
    o = pnr.outline(body)
    assert o.submission_set_unique_id and o.entries[0].unique_id
    assert outlined(body) == expected(body)


def test_no_submission_set_and_repeated_slots() -> None:
    body = _body()
    objects = body.find(f"{submit_objects.SUBMIT_OBJECTS_REQUEST}/{rim.R}RegistryObjectList")
    assert objects is not None
    de = next(el for el in objects.iterchildren(rim.q("ExtrinsicObject")))
    rim.set_slot(de, Slot.HASH, ["aa", " bb "])
    second = etree.Element(rim.q("Slot"), name=Slot.HASH)
    etree.SubElement(etree.SubElement(second, rim.q("ValueList")), rim.q("Value")).text = "cc"
    de.insert(0, second)  # two hash slots: the first counts
    for ss in list(objects.iterchildren(rim.q("RegistryPackage"))):
        objects.remove(ss)
    o = pnr.outline(body)
    assert o.entries[0].hash == ("cc",)
    assert o.submission_set_patient_id is None
    assert outlined(body) == expected(body)


def test_another_body_is_a_fault() -> None:
    from xdscore.errors import SoapFault

    with pytest.raises(SoapFault):
        pnr.outline(etree.Element("other"))
