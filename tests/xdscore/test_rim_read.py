"""The ebRIM readers (`xdscore.ebrim.rim`, `submit_objects`, `document_entry`) walk children once and compare
tags; they must read exactly what the ElementPath / per-attribute definitions below read: every object
of the conformance kits, and objects with comments, processing instructions, repeated and foreign
children mixed in."""

from __future__ import annotations

from lxml import etree

from tests.xdscore.kits import kit_registry_objects
from xdscore.ebrim import coded, document_entry, rim, submit_objects
from xdscore.model import DocumentEntry, RimClassification, RimExternalIdentifier, RimObject, RimSlot
from xdscore.vocabulary import NS, UUID, Slot

R = rim.R


# --- the definitions: find() / iterfind() per child kind, one scan per attribute ----------------------

def ref_slot(s: etree._Element) -> RimSlot:
    return RimSlot(s.get("name", ""), tuple((v.text or "").strip() for v in s.iterfind(f"{R}ValueList/{R}Value")))


def ref_localized(el: etree._Element | None) -> tuple:  # type: ignore[type-arg]
    return () if el is None else tuple(rim.RimLocalized(ls.get("value", ""), ls.get(rim.XML_LANG), ls.get("charset"))
                                       for ls in el.iterfind(f"{R}LocalizedString"))


def ref_classification(el: etree._Element, owner: str | None = None) -> RimClassification:
    return RimClassification(
        id=el.get("id", ""), classified_object=el.get("classifiedObject") or owner or "",
        scheme=el.get("classificationScheme"), node=el.get("classificationNode"),
        node_representation=el.get("nodeRepresentation"), name=ref_localized(el.find(f"{R}Name")),
        slots=tuple(ref_slot(s) for s in el.iterfind(f"{R}Slot")), object_type=el.get("objectType"))


def ref_identifier(el: etree._Element, owner: str | None = None) -> RimExternalIdentifier:
    return RimExternalIdentifier(
        id=el.get("id", ""), registry_object=el.get("registryObject") or owner or "",
        scheme=el.get("identificationScheme", ""), value=(el.get("value") or "").strip(),
        name=ref_localized(el.find(f"{R}Name")), object_type=el.get("objectType"))


def ref_object(el: etree._Element) -> RimObject:
    oid = el.get("id", "")
    version, content = el.find(f"{R}VersionInfo"), el.find(f"{R}ContentVersionInfo")
    return RimObject(
        tag=etree.QName(el).localname, id=oid, object_type=el.get("objectType"), lid=el.get("lid"),
        status=el.get("status"), home=el.get("home"), mime_type=el.get("mimeType"), is_opaque=el.get("isOpaque"),
        version_name=version.get("versionName") if version is not None else None,
        content_version=content.get("versionName") if content is not None else None,
        name=ref_localized(el.find(f"{R}Name")), description=ref_localized(el.find(f"{R}Description")),
        slots=tuple(ref_slot(s) for s in el.iterfind(f"{R}Slot")),
        classifications=tuple(ref_classification(c, oid) for c in el.iterfind(f"{R}Classification")),
        external_identifiers=tuple(ref_identifier(e, oid) for e in el.iterfind(f"{R}ExternalIdentifier")),
        association_type=el.get("associationType"), source_object=el.get("sourceObject"),
        target_object=el.get("targetObject"))


def ref_document_entry(o: RimObject) -> DocumentEntry:
    def first(scheme: str):  # type: ignore[no-untyped-def]
        found = o.classified(scheme)
        return coded.read_code(found[0]) if found else None
    return DocumentEntry(
        entry_uuid=o.id, rim=o, unique_id=o.external_id(UUID.DE_UNIQUE_ID), patient_id=o.external_id(UUID.DE_PATIENT_ID),
        mime_type=o.mime_type, object_type=o.object_type, availability_status=o.status, logical_id=o.lid,
        version=o.version_name, title=coded.first_text(o.name), comments=coded.first_text(o.description),
        confidentiality_codes=tuple(coded.read_code(c) for c in o.classified(UUID.DE_CONFIDENTIALITY_CODE)),
        event_codes=tuple(coded.read_code(c) for c in o.classified(UUID.DE_EVENT_CODE)),
        authors=tuple(coded.read_author(c) for c in o.classified(UUID.DE_AUTHOR)),
        source_patient_info=o.slot(Slot.SOURCE_PATIENT_INFO), reference_ids=o.slot(Slot.REFERENCE_ID_LIST),
        home_community_id=o.home,
        **{f: first(s) for f, s in document_entry.SINGLE_CODES},  # type: ignore[arg-type]
        **{f: o.slot_first(s) for f, s in document_entry.SINGLE_SLOTS},  # type: ignore[arg-type]
    )


# --- the readers against them ---------------------------------------------------------------------------

def kit_elements() -> list[etree._Element]:
    return kit_registry_objects((f"{R}ExtrinsicObject", f"{R}RegistryPackage", f"{R}Association"))


def test_every_object_of_the_conformance_kits() -> None:
    elements = kit_elements()
    assert len(elements) > 250  # the kits are there
    extrinsic = 0
    for el in elements:
        obj = rim.read_object(el)
        assert obj == ref_object(el), el.get("id")
        if obj.tag == "ExtrinsicObject":
            extrinsic += 1
            assert document_entry.read(obj) == ref_document_entry(obj), el.get("id")
    assert extrinsic > 50


MIXED = f"""<lcm:SubmitObjectsRequest xmlns:lcm="{NS.LCM}" xmlns:rim="{NS.RIM}" xmlns:rs="{NS.RS}" xmlns:x="urn:x">
 <rs:RequestSlotList><rim:Slot name="rs"><rim:ValueList><rim:Value>no</rim:Value></rim:ValueList></rim:Slot></rs:RequestSlotList>
 <rim:RequestSlotList><!-- c --><rim:Slot name="a"><rim:ValueList><rim:Value> 1 </rim:Value></rim:ValueList></rim:Slot></rim:RequestSlotList>
 <rim:RegistryObjectList>
  <!-- a comment --><?pi here?>
  <rim:ExtrinsicObject id="Doc" mimeType="text/xml" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
   <rim:Slot name="creationTime"><rim:ValueList><!-- c --><rim:Value>2024</rim:Value><?p?><rim:Value/>
     <x:Value>foreign</x:Value></rim:ValueList><rim:ValueList><rim:Value>second list</rim:Value></rim:ValueList></rim:Slot>
   <rim:Slot name="creationTime"><rim:ValueList><rim:Value>later</rim:Value></rim:ValueList></rim:Slot>
   <rim:Slot name="hash"><rim:ValueList/></rim:Slot>
   <rim:Slot name="hash"><rim:ValueList><rim:Value>ignored: the first slot of a name counts</rim:Value></rim:ValueList></rim:Slot>
   <x:Slot name="foreign"/>
   <rim:Name><rim:LocalizedString value="t1" xml:lang="fr"/><!-- c --><x:LocalizedString value="no"/></rim:Name>
   <rim:Name><rim:LocalizedString value="second name"/></rim:Name>
   <rim:Description><rim:LocalizedString value="d" charset="UTF-8"/></rim:Description>
   <rim:VersionInfo versionName="2"/><rim:VersionInfo versionName="3"/>
   <rim:Classification classificationScheme="{UUID.DE_CLASS_CODE}" classifiedObject="Doc" id="c1" nodeRepresentation="A">
    <rim:Name><rim:LocalizedString value="first"/></rim:Name><rim:Name><rim:LocalizedString value="second"/></rim:Name>
    <?pi?><rim:Slot name="codingScheme"><rim:ValueList><rim:Value>s</rim:Value></rim:ValueList></rim:Slot></rim:Classification>
   <rim:Classification classificationScheme="{UUID.DE_CLASS_CODE}" id="c2" nodeRepresentation="B"/>
   <rim:Classification classificationScheme="{UUID.DE_EVENT_CODE}" id="c3" nodeRepresentation="E1"/>
   <rim:Classification classificationScheme="{UUID.DE_EVENT_CODE}" id="c4" nodeRepresentation="E2"/>
   <rim:ExternalIdentifier id="e1" identificationScheme="{UUID.DE_UNIQUE_ID}" value=" 1.2 "><!-- c -->
    <x:Name/><rim:Name><rim:LocalizedString value="n"/></rim:Name></rim:ExternalIdentifier>
   <rim:ContentVersionInfo versionName="7"/><rim:ContentVersionInfo versionName="8"/>
  </rim:ExtrinsicObject>
  <x:Association id="foreign-namespace" associationType="t" sourceObject="Doc" targetObject="Doc"/>
  <rim:Classification classificationScheme="{UUID.DE_EVENT_CODE}" classifiedObject="Doc" id="loose" nodeRepresentation="E3"/>
  <rim:ObjectRef id="urn:uuid:ref"/>
 </rim:RegistryObjectList>
</lcm:SubmitObjectsRequest>"""


def test_comments_instructions_repeats_and_foreign_children() -> None:
    el = etree.fromstring(MIXED.encode())
    doc = el.find(f"{R}RegistryObjectList/{R}ExtrinsicObject")
    obj = rim.read_object(doc)
    assert obj == ref_object(doc)
    assert obj.slot("creationTime") == ("2024", "", "second list") and obj.version_name == "2"
    assert obj.content_version == "7" and obj.name[0].value == "t1" and len(obj.name) == 1
    assert obj.classifications[0].name[0].value == "first" and obj.external_identifiers[0].name[0].value == "n"
    sub = submit_objects.read(el)
    assert sub.request_slots == (RimSlot("a", ("1",)),)  # rim:RequestSlotList before rs:
    assert [a.entry_uuid for a in sub.associations] == ["foreign-namespace"]  # objects are told by local name
    assert sub.object_refs == ("urn:uuid:ref",)
    de = sub.document_entries[0]
    assert de == ref_document_entry(de.rim)
    assert de.creation_time == "2024" and de.hash is None and de.class_code is not None and de.class_code.code == "A"
    assert [c.code for c in de.event_codes] == ["E1", "E2", "E3"]
