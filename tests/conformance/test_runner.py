"""The kit end to end, over real sockets, against canned endpoints, with hand-made test plans.

A tiny in-memory "vendor" registry/repository (fakes.py) stores what it is sent and answers queries and
retrieves from it; each test then breaks one thing (the plan or the endpoint) and checks that the step that
should fail does fail, with the right reason, and that a test passes only when all its steps pass.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
from lxml import etree

from conformance.__main__ import main
from conformance.prepare import Settings
from conformance.runner import Endpoints, Runner
from conformance.testplan import TestKit
from tests.conformance.fakes import (
    FAILURE,
    RIM,
    SUCCESS,
    FakeMllpListener,
    FakeSoapEndpoint,
    Received,
    Reply,
    query_response,
    registry_response,
)
from xdscore import mtom
from xdscore.vocabulary import NS, UUID

DOC = b"hello conformance\n"

TEMPLATE = f"""
<rs:SubmitObjectsRequest xmlns:rs="urn:oasis:names:tc:ebxml-regrep:registry:xsd:2.1">
 <rim:LeafRegistryObjectList xmlns:rim="urn:oasis:names:tc:ebxml-regrep:rim:xsd:2.1">
  <rim:ExtrinsicObject id="Document01" mimeType="text/plain" objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1">
   <rim:Name><rim:LocalizedString value="Physical"/></rim:Name>
   <rim:ExternalIdentifier value="$patientid$" identificationScheme="{UUID.DE_PATIENT_ID}"/>
   <rim:ExternalIdentifier value="Document01" identificationScheme="{UUID.DE_UNIQUE_ID}"/>
  </rim:ExtrinsicObject>
  <rim:RegistryPackage id="SubmissionSet01">
   <rim:ExternalIdentifier value="SubmissionSet01" identificationScheme="{UUID.SS_UNIQUE_ID}"/>
   <rim:ExternalIdentifier value="1.2.3" identificationScheme="{UUID.SS_SOURCE_ID}"/>
   <rim:ExternalIdentifier value="$patientid$" identificationScheme="{UUID.SS_PATIENT_ID}"/>
  </rim:RegistryPackage>
  <rim:Classification classifiedObject="SubmissionSet01" classificationNode="{UUID.SS_NODE}"/>
  <rim:Association sourceObject="SubmissionSet01" targetObject="Document01" associationType="HasMember"/>
 </rim:LeafRegistryObjectList>
</rs:SubmitObjectsRequest>
"""

QUERY = f"""<query:AdhocQueryRequest xmlns:query="{NS.QUERY}">
 <query:ResponseOption returnComposedObjects="true" returnType="LeafClass"/>
 <rim:AdhocQuery xmlns:rim="{RIM}" id="urn:uuid:e8e3cb2c-e39c-46b9-99e4-c12f57260b83">
  <rim:Slot name="$XDSSubmissionSetUniqueId"><rim:ValueList><rim:Value>'$ssuid$'</rim:Value></rim:ValueList></rim:Slot>
 </rim:AdhocQuery>
</query:AdhocQueryRequest>"""

RETRIEVE = f"""<xdsb:RetrieveDocumentSetRequest xmlns:xdsb="{NS.XDSB}"><xdsb:DocumentRequest>
 <xdsb:RepositoryUniqueId>1.1.1</xdsb:RepositoryUniqueId><xdsb:DocumentUniqueId>$uid$</xdsb:DocumentUniqueId>
</xdsb:DocumentRequest></xdsb:RetrieveDocumentSetRequest>"""


def plan(test: str, steps: str) -> str:
    return f"<TestPlan><Test>{test}</Test>{steps}</TestPlan>"


PIF = plan("T/pif", """<TestStep id="step"><ExpectedStatus>Success</ExpectedStatus>
  <PatientIdentityFeedTransaction><XDSb/><NoMetadata/></PatientIdentityFeedTransaction></TestStep>""")

SUBMIT = plan("T/submit", """<TestStep id="submit"><ExpectedStatus>Success</ExpectedStatus>
  <RegisterTransaction><XDSb/><NoPatientId/><AssignUuids/>{extra}
   <UseReport reportName="$patientid$" test="T" section="pif" step="step" useAs="$patientid$"/>
   <MetadataFile>single_doc.xml</MetadataFile>
   <Report name="docid" section="InputMetadata">//*[local-name()='ExtrinsicObject'][1]/@id</Report>
  </RegisterTransaction></TestStep>""")

EVAL = plan("T/eval", """<TestStep id="by_uid"><ExpectedStatus>Success</ExpectedStatus>
  <StoredQueryTransaction><XDSb/>
   <UseId testdir="../submit" id="SubmissionSet01" symbol="$ssuid$" step="submit" section="AssignedUids"/>
   <MetadataFile>query.xml</MetadataFile>
   <ExpectedContents>{contents}</ExpectedContents>
  </StoredQueryTransaction></TestStep>
 <TestStep id="check"><ExpectedStatus>Success</ExpectedStatus>
  <NullTransaction><UseReport reportName="docid" section="submit" step="submit" useAs="$docid$"/>
   <Assertions><DataRef file="THIS" as="output"/>
    <Assert id="approved">//TestStep[@id='by_uid']//*[local-name()='ExtrinsicObject'][@id='$docid$']/@status =
      'urn:oasis:names:tc:ebxml-regrep:StatusType:{status}'</Assert>
   </Assertions></NullTransaction></TestStep>""")


def make_kit(root: Path, extra: str = "", contents: str = "<SSwithOneDoc/><DocApp/>", status: str = "Approved") -> Path:
    test = root / "testkit" / "tests" / "T"
    for section, text in {"pif": PIF, "submit": SUBMIT.format(extra=extra), "eval": EVAL.format(contents=contents, status=status)}.items():
        (test / section).mkdir(parents=True)
        (test / section / "testplan.xml").write_text(text)
    (test / "submit" / "single_doc.xml").write_text(TEMPLATE)
    (test / "eval" / "query.xml").write_text(QUERY)
    (test / "index.idx").write_text("pif\nsubmit\neval\n")
    (test / "collections.txt").write_text("reg\n")
    (test / "readme.txt").write_text("Hand-made register and query test\n")
    return root / "testkit"


class MiniRegistry:
    """Stores submitted objects; answers any stored query with everything stored, marked Approved."""

    def __init__(self, register_reply: etree._Element | None = None):
        self.objects: list[etree._Element] = []
        self.register_reply = register_reply

    def __call__(self, rec: Received) -> Reply:
        if rec.action.endswith("RegisterDocumentSet-b"):
            if self.register_reply is not None:
                return Reply(self.register_reply)
            for o in rec.body.find(f"{{{RIM}}}RegistryObjectList"):
                o = copy.deepcopy(o)
                if etree.QName(o).localname in ("ExtrinsicObject", "RegistryPackage"):
                    o.set("status", "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved")
                self.objects.append(o)
            return Reply(registry_response())
        return Reply(query_response([copy.deepcopy(o) for o in self.objects]))


def run_kit(kit: Path, registry: MiniRegistry, ack: str = "AA") -> tuple[Runner, FakeMllpListener]:
    with FakeSoapEndpoint(registry) as reg, FakeMllpListener(ack) as feed:
        runner = Runner(TestKit(kit), Endpoints(registry=reg.url, feed_host="127.0.0.1", feed_port=feed.port))
        runner.run(["T"])
        runner.close()
    return runner, feed


def failures(runner: Runner) -> dict[str, list[str]]:
    return {f"{s.section}/{s.step_id}": s.failures for s in runner.results["T"].steps if s.failures}


def test_a_conformant_endpoint_passes(tmp_path: Path) -> None:
    registry = MiniRegistry()
    runner, feed = run_kit(make_kit(tmp_path), registry)
    assert failures(runner) == {}
    assert runner.results["T"].passed
    pid = runner.results["T"].section("pif").steps[0].reports["$patientid$"]
    assert f"PID|||{pid}|" in feed.messages[0]
    submitted = {e.get("identificationScheme"): e.get("value") for e in registry.objects[1].iter(f"{{{RIM}}}ExternalIdentifier")}
    assert submitted[UUID.SS_PATIENT_ID] == pid


def test_wrong_status_fails_the_step_and_the_test(tmp_path: Path) -> None:
    registry = MiniRegistry(register_reply=registry_response(FAILURE, [("XDSRegistryError", "nope", "Error")]))
    runner, _ = run_kit(make_kit(tmp_path), registry)
    got = failures(runner)
    assert "expected Success" in got["submit/submit"][0]
    assert not runner.results["T"].passed


def test_wrong_count_fails(tmp_path: Path) -> None:
    runner, _ = run_kit(make_kit(tmp_path, contents='<Documents count="2"/>'), MiniRegistry())
    assert failures(runner) == {"eval/by_uid": ["Documents: Found 1 Documents instead of 2"]}


def test_false_assertion_fails(tmp_path: Path) -> None:
    runner, _ = run_kit(make_kit(tmp_path, status="Deprecated"), MiniRegistry())
    got = failures(runner)
    assert list(got) == ["eval/check"] and got["eval/check"][0].startswith("assertion approved is false")


def test_unknown_element_fails_without_sending(tmp_path: Path) -> None:
    registry = MiniRegistry()
    runner, _ = run_kit(make_kit(tmp_path, extra="<Frobnicate/>"), registry)
    got = failures(runner)
    assert got["submit/submit"] == ["unsupported: RegisterTransaction/Frobnicate"]
    assert registry.objects == []
    assert "not been run" not in " ".join(got.get("eval/by_uid", [])) and got["eval/by_uid"]


def test_refused_patient_feed_fails(tmp_path: Path) -> None:
    runner, _ = run_kit(make_kit(tmp_path), MiniRegistry(), ack="AE")
    assert failures(runner)["pif/step"][0].startswith("status is")


def test_missing_expected_error_code_fails(tmp_path: Path) -> None:
    kit = make_kit(tmp_path)
    p = kit / "tests" / "T" / "submit" / "testplan.xml"
    p.write_text(p.read_text().replace("<ExpectedStatus>Success</ExpectedStatus>",
                                       "<ExpectedStatus>Failure</ExpectedStatus><ExpectedErrorCode>XDSUnknownPatientId</ExpectedErrorCode>"))
    registry = MiniRegistry(register_reply=registry_response(FAILURE, [("XDSRegistryError", "other", "Error")]))
    runner, _ = run_kit(kit, registry)
    assert failures(runner)["submit/submit"] == ["expected errorCode XDSUnknownPatientId, got ['XDSRegistryError']"]


# --- ITI-41 / ITI-43 over MTOM ----------------------------------------------------------------------------


def make_rep_kit(root: Path) -> Path:
    test = root / "kit" / "tests" / "R"
    (test / "submit").mkdir(parents=True)
    (test / "retrieve").mkdir()
    (test / "submit" / "testplan.xml").write_text(plan("R/submit", """<TestStep id="submit">
      <ExpectedStatus>Success</ExpectedStatus><ProvideAndRegisterTransaction><XDSb/><AssignUuids/>
      <MetadataFile>single_doc.xml</MetadataFile><Document id="Document01">doc.txt</Document>
      </ProvideAndRegisterTransaction></TestStep>"""))
    (test / "submit" / "single_doc.xml").write_text(TEMPLATE)
    (test / "submit" / "doc.txt").write_bytes(DOC)
    (test / "retrieve" / "testplan.xml").write_text(plan("R/retrieve", """<TestStep id="retrieve">
      <ExpectedStatus>Success</ExpectedStatus><RetrieveTransaction><XDSb/>
      <UseId testdir="../submit" id="Document01" symbol="$uid$" step="submit" section="AssignedUids"/>
      <MetadataFile>retrieve.xml</MetadataFile><ExpectedMimeType>text/plain</ExpectedMimeType>
      <ReferenceDocument uid="$uid$">../submit/doc.txt</ReferenceDocument>
      </RetrieveTransaction></TestStep>"""))
    (test / "retrieve" / "retrieve.xml").write_text(RETRIEVE)
    (test / "index.idx").write_text("submit\nretrieve\n")
    (test / "collections.txt").write_text("rep\n")
    return root / "kit"


class MiniRepository:
    def __init__(self, corrupt: bool = False):
        self.docs: dict[str, bytes] = {}
        self.corrupt = corrupt
        self.content_types: list[str] = []

    def __call__(self, rec: Received) -> Reply:
        self.content_types.append(rec.content_type)
        if rec.action.endswith("ProvideAndRegisterDocumentSet-b"):
            doc_el = rec.body.find(f"{{{NS.XDSB}}}Document")
            data = mtom.element_content(doc_el, rec.attachments).read()
            uid = next(e.get("value") for e in rec.body.iter(f"{{{RIM}}}ExternalIdentifier")
                   if e.get("identificationScheme") == UUID.DE_UNIQUE_ID)
            self.docs[uid] = data
            return Reply(registry_response())
        uid = rec.body.findtext(f".//{{{NS.XDSB}}}DocumentUniqueId").strip()
        data = self.docs[uid] + (b"!" if self.corrupt else b"")
        resp = etree.Element(f"{{{NS.XDSB}}}RetrieveDocumentSetResponse", nsmap={"xdsb": NS.XDSB})
        resp.append(registry_response(SUCCESS))
        dr = etree.SubElement(resp, f"{{{NS.XDSB}}}DocumentResponse")
        etree.SubElement(dr, f"{{{NS.XDSB}}}RepositoryUniqueId").text = "1.1.1"
        etree.SubElement(dr, f"{{{NS.XDSB}}}DocumentUniqueId").text = uid
        etree.SubElement(dr, f"{{{NS.XDSB}}}mimeType").text = "text/plain"
        doc = etree.SubElement(dr, f"{{{NS.XDSB}}}Document")
        mtom.xop_include(doc, "doc1@fake")
        return Reply(resp, parts=[mtom.Part("doc1@fake", "text/plain", data)])


@pytest.mark.parametrize("corrupt", [False, True])
def test_provide_and_retrieve_over_mtom(tmp_path: Path, corrupt: bool) -> None:
    repo = MiniRepository(corrupt)
    with FakeSoapEndpoint(repo) as ep, FakeMllpListener() as feed:
        endpoints = Endpoints(repository=ep.url, feed_host="127.0.0.1", feed_port=feed.port)
        runner = Runner(TestKit(make_rep_kit(tmp_path)), endpoints, Settings())
        result = runner.run_test("R")
        runner.close()
    assert all(ct.startswith("multipart/related") for ct in repo.content_types)
    assert list(repo.docs.values()) == [DOC]
    if corrupt:
        (step,) = [s for s in result.steps if not s.passed]
        assert step.step_id == "retrieve" and "differ from the submitted document" in step.failures[0]
        assert hashlib.sha1(DOC).hexdigest() in step.failures[0]
    else:
        assert result.passed, [s.failures for s in result.steps]


# --- command line ------------------------------------------------------------------------------------------


def test_cli_exit_status_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kit = make_kit(tmp_path, contents='<Documents count="3"/>')
    with FakeSoapEndpoint(MiniRegistry()) as reg, FakeMllpListener() as feed:
        code = main(["run", "--testkit", str(kit), "--registry", reg.url, "--patient-feed", f"127.0.0.1:{feed.port}",
                     "--collection", "reg", "--junit", str(tmp_path / "j.xml"), "--html", str(tmp_path / "r.html")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL T" in out and "reg" in out and "0 passed" in out
    junit = etree.parse(str(tmp_path / "j.xml")).getroot()
    assert junit.find("testsuite").get("failures") == "1"
    assert "Found 1 Documents instead of 3" in (tmp_path / "r.html").read_text()


def test_cli_exit_zero_when_everything_passes(tmp_path: Path) -> None:
    kit = make_kit(tmp_path)
    with FakeSoapEndpoint(MiniRegistry()) as reg, FakeMllpListener() as feed:
        code = main(["run", "--testkit", str(kit), "--registry", reg.url, "--patient-feed", f"127.0.0.1:{feed.port}", "T"])
    assert code == 0


def test_use_xpath_linkage(tmp_path: Path) -> None:
    kit = make_kit(tmp_path)
    p = kit / "tests" / "T" / "eval" / "testplan.xml"
    use_id = '<UseId testdir="../submit" id="SubmissionSet01" symbol="$ssuid$" step="submit" section="AssignedUids"/>'
    use_xpath = (
        '<UseXPath testdir="../submit" step="submit" symbol="$ssuid$">//InputMetadata//*[local-name()='
        f"'ExternalIdentifier'][@identificationScheme='{UUID.SS_UNIQUE_ID}']/@value</UseXPath>"
    )
    p.write_text(p.read_text().replace(use_id, use_xpath))
    with FakeSoapEndpoint(MiniRegistry()) as reg, FakeMllpListener() as feed:
        runner = Runner(TestKit(kit), Endpoints(registry=reg.url, feed_host="127.0.0.1", feed_port=feed.port))
        runner.run(["T"])
        runner.close()
        query = reg.received[-1].body
    assert failures(runner) == {}
    sent = query.findtext(f".//{{{RIM}}}Value")
    submitted = runner.results["T"].section("submit").steps[0].assigned["AssignedUids"]["SubmissionSet01"]
    assert sent == f"'{submitted}'"
