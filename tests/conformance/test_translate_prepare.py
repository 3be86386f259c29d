"""ebRS 2.1 → 3.0 translation and request preparation (ids, patient, linkage) on hand-made templates."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from conformance.prepare import (
    Allocator,
    PrepareError,
    Settings,
    assign_uuids,
    clean_params,
    prepare_submission,
)
from conformance.testplan import Transaction, UseId, UseReport
from conformance.translate import submit_objects_request
from xdscore.vocabulary import NS, UUID

RIM = NS.RIM

TEMPLATE_21 = f"""
<rs:SubmitObjectsRequest xmlns:rs="urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1">
 <rim:LeafRegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1">
  <rim:ObjectRef id="{UUID.SS_NODE}"/>
  <rim:ExtrinsicObject id="Document01" mimeType="text/plain" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
      majorVersion="1">
   <rim:ExternalIdentifier value="$patientid$" identificationScheme="{UUID.DE_PATIENT_ID}"/>
   <rim:Name><rim:LocalizedString lang="en-us" value="Physical"/></rim:Name>
   <rim:ExternalIdentifier value="Document01" identificationScheme="{UUID.DE_UNIQUE_ID}"/>
   <rim:Slot name="creationTime"><rim:ValueList><rim:Value>20051224</rim:Value></rim:ValueList></rim:Slot>
   <rim:Classification classifiedObject="Document01" nodeRepresentation="REPORTS"
       classificationScheme="{UUID.DE_CLASS_CODE}"/>
  </rim:ExtrinsicObject>
  <rim:RegistryPackage id="SubmissionSet01" status="Approved">
   <rim:ExternalIdentifier value="SubmissionSet01" identificationScheme="{UUID.SS_UNIQUE_ID}"/>
   <rim:ExternalIdentifier value="1.2.3" identificationScheme="{UUID.SS_SOURCE_ID}"/>
   <rim:ExternalIdentifier value="$patientid$" identificationScheme="{UUID.SS_PATIENT_ID}"/>
  </rim:RegistryPackage>
  <rim:Classification classifiedObject="SubmissionSet01" classificationNode="{UUID.SS_NODE}"/>
  <rim:Association sourceObject="SubmissionSet01" targetObject="Document01" associationType="HasMember"/>
  <rim:Association sourceObject="Document01" targetObject="$old$" associationType="RPLC"/>
 </rim:LeafRegistryObjectList>
</rs:SubmitObjectsRequest>
"""


def translated() -> etree._Element:
    return submit_objects_request(etree.fromstring(TEMPLATE_21))


def test_translation_wraps_objects_in_a_v3_request_without_object_refs() -> None:
    sor = translated()
    assert sor.tag == f"{{{NS.LCM}}}SubmitObjectsRequest"
    kinds = [etree.QName(o).localname for o in sor.find(f"{{{RIM}}}RegistryObjectList")]
    assert kinds == ["ExtrinsicObject", "RegistryPackage", "Classification", "Association", "Association"]
    assert all(etree.QName(e).namespace == RIM for e in sor.iter() if e is not sor)


def test_translation_orders_children_as_ebrim_3() -> None:
    eo = translated().find(f".//{{{RIM}}}ExtrinsicObject")
    order = [etree.QName(c).localname for c in eo]
    assert order == ["Slot", "Name", "Classification", "ExternalIdentifier", "ExternalIdentifier"]


def test_translation_rewrites_attributes() -> None:
    sor = translated()
    eo = sor.find(f".//{{{RIM}}}ExtrinsicObject")
    assert "majorVersion" not in eo.attrib
    ls = eo.find(f"{{{RIM}}}Name/{{{RIM}}}LocalizedString")
    assert ls.get("{http://www.w3.org/XML/1998/namespace}lang") == "en-us"
    ss = sor.find(f".//{{{RIM}}}RegistryPackage")
    assert ss.get("status") == "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    assert ss.get("objectType") == "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
    types = [a.get("associationType") for a in sor.iter(f"{{{RIM}}}Association")]
    assert types == ["urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember", "urn:ihe:iti:2007:AssociationType:RPLC"]
    ei = ss.find(f"{{{RIM}}}ExternalIdentifier")
    assert ei.get("registryObject") == "SubmissionSet01" and ei.get("id", "").startswith("id_")
    assert all(c.get("id") for c in sor.iter(f"{{{RIM}}}Classification"))


class FixedResolver:
    def __init__(self, values: dict[str, str], parameters: dict[str, str] | None = None):
        self.values = values
        self.parameters = parameters or {}

    def run_parameters(self) -> dict[str, str]:
        return self.parameters

    def use_id(self, use: UseId) -> str:
        return self.values[use.symbol]

    def use_report(self, use: UseReport) -> str:
        return self.values[use.use_as]


def write_template(tmp_path: Path) -> Path:
    path = tmp_path / "single_doc.xml"
    path.write_text(TEMPLATE_21)
    return path


def test_patient_uids_source_and_uuids_are_assigned(tmp_path: Path) -> None:
    tx = Transaction(kind="RegisterTransaction", metadata_file=write_template(tmp_path), assign_uuids=True)
    tx.use_ids.append(UseId(symbol="$old$", id="Document01", step="s", section="AssignedUuids"))
    out = prepare_submission(tx, FixedResolver({"$old$": "urn:uuid:old"}), Settings(source_id="9.9"), Allocator(), "P1^^^&1.2&ISO")
    body = out.body
    values = {e.get("identificationScheme"): e.get("value") for e in body.iter(f"{{{RIM}}}ExternalIdentifier")}
    assert values[UUID.DE_PATIENT_ID] == values[UUID.SS_PATIENT_ID] == "P1^^^&1.2&ISO"
    assert values[UUID.SS_SOURCE_ID] == "9.9"
    assert values[UUID.DE_UNIQUE_ID] == out.assigned["AssignedUids"]["Document01"] == out.reports["Document01_uid"]
    doc_uuid = out.assigned["AssignedUuids"]["Document01"]
    assert body.find(f".//{{{RIM}}}ExtrinsicObject").get("id") == doc_uuid
    rplc = list(body.iter(f"{{{RIM}}}Association"))[1]
    assert (rplc.get("sourceObject"), rplc.get("targetObject")) == (doc_uuid, "urn:uuid:old")
    assert all(c.get("classifiedObject", "urn:uuid:").startswith("urn:uuid:") for c in body.iter(f"{{{RIM}}}Classification"))


def test_no_patient_id_uses_the_reported_value_and_no_assign_uids_keeps_one(tmp_path: Path) -> None:
    tx = Transaction(kind="RegisterTransaction", metadata_file=write_template(tmp_path), assign_patient_id=False,
                     no_assign_uid_to="SubmissionSet01")
    tx.use_reports.append(UseReport("$patientid$", "$patientid$", "step", "pif", "15817"))
    tx.use_ids.append(UseId(symbol="$old$", value="urn:uuid:old"))
    out = prepare_submission(tx, FixedResolver({"$patientid$": "FED^^^&1.2&ISO", "$old$": "urn:uuid:old"}),
                             Settings(), Allocator(), None)
    values = {e.get("identificationScheme"): e.get("value") for e in out.body.iter(f"{{{RIM}}}ExternalIdentifier")}
    assert values[UUID.SS_PATIENT_ID] == "FED^^^&1.2&ISO"
    assert values[UUID.SS_UNIQUE_ID] == "SubmissionSet01"  # spared by NoAssignUids id=
    assert values[UUID.DE_UNIQUE_ID] != "Document01"


def test_undefined_symbolic_reference_is_an_error() -> None:
    sor = etree.fromstring(
        f'<lcm:SubmitObjectsRequest xmlns:lcm="{NS.LCM}" xmlns:rim="{RIM}"><rim:RegistryObjectList>'
        '<rim:Association id="a" sourceObject="ss" targetObject="nowhere" associationType="x"/>'
        "</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"
    )
    with pytest.raises(PrepareError):
        assign_uuids(sor)


def test_clean_params_drops_unresolved_values() -> None:
    q = etree.fromstring(
        f'<q:AdhocQueryRequest xmlns:q="{NS.QUERY}" xmlns:rim="{RIM}"><rim:AdhocQuery id="x" home="$home$">'
        "<rim:Slot name='$a'><rim:ValueList><rim:Value>'$unset$'</rim:Value></rim:ValueList></rim:Slot>"
        "<rim:Slot name='$b'><rim:ValueList><rim:Value>'set'</rim:Value></rim:ValueList></rim:Slot>"
        "</rim:AdhocQuery></q:AdhocQueryRequest>"
    )
    clean_params(q)
    assert [s.get("name") for s in q.iter(f"{{{RIM}}}Slot")] == ["$b"]
    assert "home" not in q.find(f"{{{RIM}}}AdhocQuery").attrib
