"""The kit's optional transactions (ITI-57, ITI-92, ITI-62, ITI-86, ITI-61, ITI-51, ITI-64), "not applicable"
when the receiver does not serve them, the toolkit's orchestration and built-in symbols, and XUA.

Hand-made plans against fakes (fakes.py) over real sockets, as in test_runner.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from lxml import etree

from conformance.__main__ import main
from conformance.runner import Endpoints, Runner
from conformance.testplan import TestKit
from conformance.transactions import KINDS
from conformance.xua import XuaSource
from tests.conformance.fakes import (
    RIM,
    FakeMllpListener,
    FakeSoapEndpoint,
    Received,
    Reply,
    query_response,
    registry_response,
)
from xdscore.vocabulary import NS, UUID
from xuatool.pki import generate

LCM = NS.LCM
SOR = f"""<lcm:SubmitObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}"><rim:RegistryObjectList>
 <rim:ExtrinsicObject id="Document01" lid="$lid$" mimeType="text/plain" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
  <rim:ExternalIdentifier identificationScheme="{UUID.DE_PATIENT_ID}" value="$patientid$"/>
  <rim:ExternalIdentifier identificationScheme="{UUID.DE_UNIQUE_ID}" value="$uid$"/>
 </rim:ExtrinsicObject>
 <rim:RegistryPackage id="SubmissionSet01">
  <rim:ExternalIdentifier identificationScheme="{UUID.SS_UNIQUE_ID}" value="x"/>
  <rim:ExternalIdentifier identificationScheme="{UUID.SS_SOURCE_ID}" value="1.2"/>
  <rim:ExternalIdentifier identificationScheme="{UUID.SS_PATIENT_ID}" value="$patientid$"/>
 </rim:RegistryPackage>
 <rim:Classification classifiedObject="SubmissionSet01" classificationNode="{UUID.SS_NODE}"/>
 <rim:Association sourceObject="SubmissionSet01" targetObject="Document01"
   associationType="urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"/>
</rim:RegistryObjectList></lcm:SubmitObjectsRequest>"""
REMOVE = f"""<lcm:RemoveObjectsRequest xmlns:lcm="{LCM}" xmlns:rim="{RIM}"><rim:ObjectRefList>
 <rim:ObjectRef id="$doc$"/></rim:ObjectRefList></lcm:RemoveObjectsRequest>"""
RD = f"""<rmd:RemoveDocumentsRequest xmlns:rmd="urn:ihe:iti:rmd:2017" xmlns:xds="{NS.XDSB}"><xds:DocumentRequest>
 <xds:RepositoryUniqueId>1.1.1</xds:RepositoryUniqueId><xds:DocumentUniqueId>$uid$</xds:DocumentUniqueId>
 </xds:DocumentRequest></rmd:RemoveDocumentsRequest>"""
MPQ = f"""<query:AdhocQueryRequest xmlns:query="{NS.QUERY}" xmlns:rim="{RIM}">
 <query:ResponseOption returnComposedObjects="true" returnType="ObjectRef"/>
 <rim:AdhocQuery id="urn:uuid:3d1bdb10-39a2-11de-89c2-2f44d94eaa9f">
  <rim:Slot name="$XDSDocumentEntryPatientId"><rim:ValueList><rim:Value>('$p1$','$p2$')</rim:Value></rim:ValueList></rim:Slot>
 </rim:AdhocQuery></query:AdhocQueryRequest>"""

PIF = """<TestStep id="step"><ExpectedStatus>Success</ExpectedStatus>
 <PatientIdentityFeedTransaction><XDSb/><NoMetadata/></PatientIdentityFeedTransaction></TestStep>"""


def step(sid: str, tx: str, inner: str, status: str = "Success") -> str:
    return f'<TestStep id="{sid}"><ExpectedStatus>{status}</ExpectedStatus><{tx}><XDSb/>{inner}</{tx}></TestStep>'


def write_test(kit: Path, test: str, sections: dict[str, str], files: dict[str, str], collections: str = "reg") -> None:
    d = kit / "tests" / test
    for name, steps in sections.items():
        (d / name).mkdir(parents=True)
        (d / name / "testplan.xml").write_text(f"<TestPlan><Test>{test}/{name}</Test>{steps}</TestPlan>")
        for fname, text in files.items():
            (d / name / fname).write_text(text)
    (d / "index.idx").write_text("\n".join(sections) + "\n")
    (d / "collections.txt").write_text(collections + "\n")


LIFECYCLE = {
    "pif": PIF,
    "original": step("submit", "RegisterTransaction", """<NoPatientId/><AssignUuids/><MetadataFile>sor.xml</MetadataFile>
        <UseReport reportName="$patientid$" test="L" section="pif" step="step" useAs="$patientid$"/>
        <UseId value="urn:uuid:11111111-1111-1111-1111-111111111111" symbol="$lid$"/>"""),
    "update": step("update", "MuTransaction", """<NoPatientId/><NoAssignUids id="Document01"/><AssignUuids/>
        <MetadataFile>sor.xml</MetadataFile>
        <UseReport reportName="$patientid$" test="L" section="pif" step="step" useAs="$patientid$"/>
        <UseId testdir="../original" id="Document01" symbol="$lid$" step="submit" section="AssignedUuids"/>
        <UseId testdir="../original" id="Document01" symbol="$uid$" step="submit" section="AssignedUids"/>"""),
    "rmu": step("rmu", "RmuTransaction", """<NoPatientId/><NoAssignUids id="Document01"/><AssignUuids/>
        <MetadataFile>sor.xml</MetadataFile>
        <UseReport reportName="$patientid$" test="L" section="pif" step="step" useAs="$patientid$"/>
        <UseId testdir="../original" id="Document01" symbol="$lid$" step="submit" section="AssignedUuids"/>
        <UseId testdir="../original" id="Document01" symbol="$uid$" step="submit" section="AssignedUids"/>"""),
    "remove": step("remove", "RemoveMetadataTransaction", """<NoPatientId/><ParseMetadata>False</ParseMetadata>
        <MetadataFile>remove.xml</MetadataFile>
        <UseId testdir="../original" id="Document01" symbol="$doc$" step="submit" section="AssignedUuids"/>"""),
    "rd": step("rd", "RdTransaction", """<MetadataFile>rd.xml</MetadataFile>
        <UseReport reportName="Document01_uid" section="original" step="submit" useAs="$uid$"/>"""),
    "odde": step("odde", "RegisterODDETransaction", """<NoPatientId/><AssignUuids/><MetadataFile>sor.xml</MetadataFile>
        <UseReport reportName="$patientid$" test="L" section="pif" step="step" useAs="$patientid$"/>
        <UseId value="urn:uuid:22222222-1111-1111-1111-111111111111" symbol="$lid$"/>"""),
    "mpq": step("mpq", "MPQTransaction", """<MetadataFile>mpq.xml</MetadataFile>
        <UseReport reportName="$patientid$" test="L" section="pif" step="step" useAs="$p1$"/>
        <UseReport reportName="$patientid$" test="L" section="pif" step="step" useAs="$p2$"/>
        <ExpectedContents><ObjectRefs count="0"/></ExpectedContents>"""),
}
FILES = {"sor.xml": SOR, "remove.xml": REMOVE, "rd.xml": RD, "mpq.xml": MPQ}


def lifecycle_kit(root: Path) -> Path:
    kit = root / "kit"
    write_test(kit, "L", LIFECYCLE, FILES, "reg_mu")
    return kit


class Serves:
    """A registry and repository that serve every transaction the kit knows, except `refuse`."""

    def __init__(self, refuse: frozenset[str] = frozenset(), refuse_after_probe: bool = False):
        self.refuse = refuse
        self.refuse_after_probe = refuse_after_probe
        self.seen: list[str] = []

    def __call__(self, rec: Received) -> Reply:
        probe = len(rec.body) == 0
        self.seen.append(rec.action)
        if rec.action in self.refuse and probe != self.refuse_after_probe:
            return Reply(action_not_supported(rec.action))
        if probe:
            return Reply(registry_response("urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure",
                                           [("XDSRegistryError", "empty request", "Error")]))
        if rec.body.tag == f"{{{NS.QUERY}}}AdhocQueryRequest":
            return Reply(query_response([]))
        return Reply(registry_response())


def action_not_supported(action: str) -> etree._Element:
    env = NS.SOAP12
    fault = etree.Element(f"{{{env}}}Fault", nsmap={"env": env, "wsa": NS.WSA})
    code = etree.SubElement(fault, f"{{{env}}}Code")
    etree.SubElement(code, f"{{{env}}}Value").text = "env:Sender"
    etree.SubElement(etree.SubElement(code, f"{{{env}}}Subcode"), f"{{{env}}}Value").text = "wsa:ActionNotSupported"
    etree.SubElement(etree.SubElement(fault, f"{{{env}}}Reason"), f"{{{env}}}Text").text = f"{action} not served"
    return fault


def run(kit: Path, handler: Serves, tests: list[str], **runner_args: object) -> tuple[Runner, list[Received], list[str]]:
    with FakeSoapEndpoint(handler) as ep, FakeMllpListener() as feed:
        runner = Runner(TestKit(kit), Endpoints(ep.url, ep.url + "/repository", "127.0.0.1", feed.port), **runner_args)  # type: ignore[arg-type]
        try:
            runner.run(tests)
        finally:
            runner.close()
        return runner, ep.received, feed.messages


def test_lifecycle_transactions_are_sent_as_the_toolkit_sends_them(tmp_path: Path) -> None:
    runner, received, _ = run(lifecycle_kit(tmp_path), Serves(), ["L"])
    result = runner.results["L"]
    assert result.passed, [s.failures for s in result.steps]
    real = [r for r in received if len(r.body)]
    assert [r.action for r in real] == [
        "urn:ihe:iti:2007:RegisterDocumentSet-b", "urn:ihe:iti:2010:UpdateDocumentSet",
        "urn:ihe:iti:2018:RestrictedUpdateDocumentSet", "urn:ihe:iti:2010:DeleteDocumentSet",
        "urn:ihe:iti:2017:RemoveDocuments", "urn:ihe:iti:2010:RegisterOnDemandDocumentEntry",
        "urn:ihe:iti:2009:MultiPatientStoredQuery",
    ]
    original = result.section("original").steps[0].assigned
    doc_uuid, doc_uid = original["AssignedUuids"]["Document01"], original["AssignedUids"]["Document01"]
    update = real[1].body.find(f".//{{{RIM}}}ExtrinsicObject")
    # ITI-57: a new entryUUID, the original's lid and uniqueId (NoAssignUids id="Document01").
    assert update.get("lid") == doc_uuid and update.get("id") != doc_uuid and update.get("id").startswith("urn:uuid:")
    assert update.find(f"{{{RIM}}}ExternalIdentifier[@identificationScheme='{UUID.DE_UNIQUE_ID}']").get("value") == doc_uid
    assert real[3].body.find(f".//{{{RIM}}}ObjectRef").get("id") == doc_uuid  # ITI-62 sent as written, linked
    assert real[4].body.findtext(f".//{{{NS.XDSB}}}DocumentUniqueId") == doc_uid  # ITI-86
    pid = result.section("pif").steps[0].reports["$patientid$"]
    assert real[6].body.findtext(f".//{{{RIM}}}Value") == f"('{pid}','{pid}')"  # ITI-51
    # The optional transactions were each probed once, with an empty request naming nothing.
    probes = [r.action for r in received if not len(r.body)]
    assert sorted(probes) == sorted(k.action for k in KINDS.values() if k.optional and k.soap)


def test_an_unserved_option_makes_the_test_not_applicable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    handler = Serves(refuse=frozenset({"urn:ihe:iti:2010:UpdateDocumentSet"}))
    runner, received, feed = run(lifecycle_kit(tmp_path), handler, ["L"])
    result = runner.results["L"]
    assert not result.passed and not result.failed and result.steps == []
    assert "does not serve ITI-57 Update Document Set" in result.not_applicable
    assert [r.action for r in received] == ["urn:ihe:iti:2010:UpdateDocumentSet"] and feed == []  # only the probe
    with FakeSoapEndpoint(handler) as ep, FakeMllpListener() as listener:
        code = main(["run", "--testkit", str(tmp_path / "kit"), "--registry", ep.url, "--repository", ep.url,
                     "--patient-feed", f"127.0.0.1:{listener.port}", "--collection", "reg_mu"])
    out = capsys.readouterr().out
    assert code == 0 and "N/A  L" in out and "1 not applicable" in out


def test_a_refusal_after_a_served_probe_fails(tmp_path: Path) -> None:
    handler = Serves(refuse=frozenset({"urn:ihe:iti:2017:RemoveDocuments"}), refuse_after_probe=True)
    runner, _, _ = run(lifecycle_kit(tmp_path), handler, ["L"])
    result = runner.results["L"]
    assert result.failed and not result.not_applicable
    (failed,) = [s for s in result.steps if not s.passed]
    assert failed.step_id == "rd" and "ITI-86 Remove Documents is not served" in failed.failures[0]


# --- ITI-64 over MLLP --------------------------------------------------------------------------------------

MOVE = {
    "pif": PIF,
    "new": """<TestStep id="register"><ExpectedStatus>Success</ExpectedStatus>
      <PatientIdentityFeedTransaction><XDSb/><CreateNewPatientId/><NoMetadata/></PatientIdentityFeedTransaction></TestStep>""",
    "move": step("move", "PatientMoveTransaction", """<NoPatientId/><NoMetadata/>
      <UseReport reportName="$patientid$" test="M" section="pif" step="step" useAs="$OldXADPID$"/>
      <UseReport reportName="$patientid$" test="M" section="new" step="register" useAs="$NewXADPID$"/>"""),
}


def test_patient_move_sends_adt_a43(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    write_test(kit, "M", MOVE, {}, "reg_xadpid")
    with FakeMllpListener() as feed:
        runner = Runner(TestKit(kit), Endpoints(feed_host="127.0.0.1", feed_port=feed.port))
        runner.run(["M"])
        runner.close()
    result = runner.results["M"]
    assert result.passed, [s.failures for s in result.steps]
    old = result.section("pif").steps[0].reports["$patientid$"]
    new = result.section("new").steps[0].reports["$patientid$"]
    a43 = feed.messages[-1].split("\r")
    assert a43[0].split("|")[8] == "ADT^A43^ADT_A43" and f"PID|||{new}|" in a43[2] and a43[3] == f"MRG|{old}"


def test_a_registry_without_iti64_makes_xadpid_tests_not_applicable(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    write_test(kit, "M", MOVE, {}, "reg_xadpid")

    def only_iti8(message: str) -> tuple[str, str]:
        if "ADT^A43" in message:
            return "AR", "ERR|||201^Unsupported event code^HL70357|E\r"
        return "AA", ""

    with FakeMllpListener(responder=only_iti8) as feed:
        runner = Runner(TestKit(kit), Endpoints(feed_host="127.0.0.1", feed_port=feed.port))
        runner.run(["M"])
        runner.close()
    result = runner.results["M"]
    assert "does not implement ITI-64" in result.not_applicable and "HL7 error 201" in result.not_applicable
    assert len(feed.messages) == 1  # the probe only


# --- orchestration, built-in symbols, AssignedPatientId -----------------------------------------------------


def test_orchestration_gives_12361_the_mpq_patients(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    for t in ("15819", "15820"):
        write_test(kit, t, {"pif": PIF}, {})
    sor = SOR.replace("$patientid$", "$patient_id1$").replace('lid="$lid$" ', "")
    write_test(kit, "12361", {"multi": step("multi", "RegisterTransaction",
               "<NoPatientId/><AssignUuids/><MetadataFile>sor.xml</MetadataFile>")}, {"sor.xml": sor})
    runner, received, _ = run(kit, Serves(), ["12361"])
    assert runner.results["12361"].passed, [s.failures for s in runner.results["12361"].steps]
    mpq1 = runner.results["15819"].section("pif").steps[0].reports["$patientid$"]
    ids = {e.get("value") for e in received[-1].body.iter(f"{{{RIM}}}ExternalIdentifier")
           if e.get("identificationScheme") == UUID.DE_PATIENT_ID}
    assert ids == {mpq1}
    # NoPatientId: the ids sent are still recorded, for a later UseId section="AssignedPatientId".
    assert runner.results["12361"].steps[0].assigned["AssignedPatientId"]["Document01"] == mpq1


def test_date_symbol_in_assertions(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    null = """<TestStep id="n"><NullTransaction><Assertions><DataRef file="THIS" as="output"/>
      <Assert id="today">'$DATE$' = '{d}'</Assert></Assertions></NullTransaction></TestStep>"""
    write_test(kit, "D", {"ok": null.format(d=today), "ko": null.format(d="19990101")}, {})
    runner = Runner(TestKit(kit), Endpoints())
    runner.run(["D"])
    runner.close()
    assert [s.passed for s in runner.results["D"].steps] == [True, False]


# --- XUA ------------------------------------------------------------------------------------------------------

QUERY = f"""<query:AdhocQueryRequest xmlns:query="{NS.QUERY}" xmlns:rim="{RIM}">
 <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
 <rim:AdhocQuery id="urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4">
  <rim:Slot name="$XDSDocumentEntryUniqueId"><rim:ValueList><rim:Value>('1.2')</rim:Value></rim:ValueList></rim:Slot>
 </rim:AdhocQuery></query:AdhocQueryRequest>"""


def test_xua_variant_by_test_name_and_receiver(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    query_step = step("q", "StoredQueryTransaction", "<MetadataFile>query.xml</MetadataFile>", "Fault")
    write_test(kit, "11897_expired", {"approved": query_step}, {"query.xml": QUERY}, "reg_xua")
    write_test(kit, "11966_expired", {"eval": step("q", "StoredQueryTransaction", "<MetadataFile>query.xml</MetadataFile>")},
               {"query.xml": QUERY}, "rep_xua")
    pki = tmp_path / "pki"
    generate().write(pki)
    sent: list[bytes] = []
    with FakeSoapEndpoint(lambda rec: Reply(query_response([]))) as ep:
        runner = Runner(TestKit(kit), Endpoints(ep.url, ep.url), security=XuaSource(pki, "urn:aud"))
        call = runner.client.call

        def spy(*args: object, **kwargs: object) -> object:
            ex = call(*args, **kwargs)  # type: ignore[arg-type]
            sent.append(ex.request_bytes)
            return ex

        runner.client.call = spy  # type: ignore[method-assign]
        runner.run(["11897_expired", "11966_expired"])
        runner.close()
    headers = [etree.fromstring(raw).find(f"{{{NS.SOAP12}}}Header/{{{NS.WSSE}}}Security") for raw in sent]
    expiry = [h.find(f".//{{{NS.SAML2}}}Conditions").get("NotOnOrAfter") for h in headers]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    # 11897_expired (reg_xua) queries the registry: the expired variant. 11966_expired (rep_xua) queries the
    # registry only to check the repository's work: a valid assertion.
    assert expiry[0] < now < expiry[1]
    assert [h.findtext(f".//{{{NS.SAML2}}}Audience") for h in headers] == ["urn:aud", "urn:aud"]


def test_an_xua_test_without_a_pki_fails_with_the_reason(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    write_test(kit, "11990_unsigned", {"submit": PIF}, {}, "reg_xua")
    runner = Runner(TestKit(kit), Endpoints())
    runner.run(["11990_unsigned"])
    result = runner.results["11990_unsigned"]
    assert result.failed and "--xua-pki" in result.first_failure()
