"""Which patient each test runs with, as the NIST toolkit's Conformance Tool assigns them (conformance.runner).

Hand-made kits with the toolkit's PIF loaders (15817, 15817b, 15818) against the canned registry of
test_runner: the `$patientid$` run parameter of a registry test is 15817's patient, it goes into every
submission and replaces `$patientid$` before any UseReport (NIST 20000e: submitted under the test's patient,
versioned under "15818's" with NoPatientId: one patient), every passing step reports it (NIST 20001), the data
loaders 12346 / 12374 run with 15818's / 15817b's patient, repository tests share one patient.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from conformance.runner import Endpoints, Runner
from conformance.testplan import TestKit
from tests.conformance.fakes import RIM, FakeMllpListener, FakeSoapEndpoint
from tests.conformance.test_runner import QUERY, TEMPLATE, MiniRegistry, plan
from xdscore.vocabulary import UUID

PIF = """<TestStep id="step"><ExpectedStatus>Success</ExpectedStatus>
  <PatientIdentityFeedTransaction><XDSb/><NoMetadata/></PatientIdentityFeedTransaction></TestStep>"""


def _register(step: str, use_report: str, no_patient: bool = False) -> str:
    return f"""<TestStep id="{step}"><ExpectedStatus>Success</ExpectedStatus>
  <RegisterTransaction><XDSb/>{'<NoPatientId/>' if no_patient else ''}<AssignUuids/>{use_report}
   <MetadataFile>single_doc.xml</MetadataFile></RegisterTransaction></TestStep>"""


def _from(loader: str, use_as: str = "$patientid$") -> str:
    return f'<UseReport reportName="$patientid$" test="{loader}" section="pif" step="step" useAs="{use_as}"/>'


def _test(kit: Path, test_id: str, collection: str, sections: dict[str, str]) -> None:
    folder = kit / "tests" / test_id
    for name, steps in sections.items():
        (folder / name).mkdir(parents=True)
        (folder / name / "testplan.xml").write_text(plan(f"{test_id}/{name}", steps))
        (folder / name / "single_doc.xml").write_text(TEMPLATE)
        (folder / name / "query.xml").write_text(QUERY)
    (folder / "index.idx").write_text("\n".join(sections) + "\n")
    (folder / "collections.txt").write_text(collection + "\n")
    (folder / "readme.txt").write_text(f"hand-made {test_id}\n")


def make_kit(root: Path) -> Path:
    kit = root / "testkit"
    for loader in ("15817", "15817b", "15818"):
        _test(kit, loader, "", {"pif": PIF})
    # NIST 20000e's shape: the test's patient, then "15818's" patient with NoPatientId.
    _test(kit, "E", "reg_mu", {
        "first": _register("submit", _from("15818")),
        "second": _register("submit", _from("15818"), no_patient=True),
        "eval": """<TestStep id="by_uid"><ExpectedStatus>Success</ExpectedStatus><StoredQueryTransaction><XDSb/>
   <UseId testdir="../first" id="SubmissionSet01" symbol="$ssuid$" step="submit" section="AssignedUids"/>
   <MetadataFile>query.xml</MetadataFile></StoredQueryTransaction></TestStep>""",
        # NIST 20001's shape: $patientid$ read back from a query step, which has no Report of its own.
        "check": """<TestStep id="check"><NullTransaction>
   <UseReport reportName="$patientid$" section="eval" step="by_uid" useAs="$pid$"/>
   <Assertions><DataRef file="THIS" as="output"/><Assert id="same">'$pid$' = '$patientid$'</Assert></Assertions>
   </NullTransaction></TestStep>""",
    })
    _test(kit, "A", "reg", {"submit": _register("submit", _from("15817b", "$other$"))})
    _test(kit, "12346", "", {"submit": _register("submit", _from("15818"))})
    _test(kit, "12374", "", {"submit": _register("submit", "")})
    _test(kit, "R1", "rep", {"submit": _register("submit", "")})
    _test(kit, "R2", "rep_rd", {"submit": _register("submit", "")})
    return kit


def run(tmp_path: Path, tests: list[str]) -> tuple[Runner, dict[str, set[str]], list[str]]:
    """Run `tests`; the patient ids each test submitted with (from the requests the registry received)."""
    registry = MiniRegistry()
    with FakeSoapEndpoint(registry) as reg, FakeMllpListener() as feed:
        runner = Runner(TestKit(make_kit(tmp_path)), Endpoints(registry=reg.url, repository=reg.url,
                                                                feed_host="127.0.0.1", feed_port=feed.port))
        runner.run(tests)
        runner.close()
        received = [r.body for r in reg.received if r.action.endswith("RegisterDocumentSet-b")]
    sent: dict[str, set[str]] = {}
    for result in runner.results.values():
        for step in result.steps:
            if step.kind == "RegisterTransaction" and step.request is not None:
                body = next(b for b in received if etree.tostring(b) == etree.tostring(step.request))
                sent.setdefault(result.test_id, set()).update(
                    e.get("value") for e in body.iter(f"{{{RIM}}}ExternalIdentifier")
                    if e.get("identificationScheme") in (UUID.DE_PATIENT_ID, UUID.SS_PATIENT_ID)
                )
    return runner, sent, feed.messages


def loader_patient(runner: Runner, loader: str) -> str:
    return runner.results[loader].steps[0].reports["$patientid$"]


def test_a_registry_test_runs_with_15817s_patient_in_every_section(tmp_path: Path) -> None:
    runner, sent, _ = run(tmp_path, ["E"])
    result = runner.results["E"]
    assert result.passed, {f"{s.section}/{s.step_id}": s.failures for s in result.steps if s.failures}
    register_pid = loader_patient(runner, "15817")
    assert loader_patient(runner, "15818") != register_pid
    # the UseReport of 15818's $patientid$ finds nothing left to replace: one patient, 15817's
    assert sent["E"] == {register_pid}
    assert result.section("eval").steps[0].reports["$patientid$"] == register_pid


def test_other_symbols_from_a_loader_still_get_its_patient(tmp_path: Path) -> None:
    runner, sent, _ = run(tmp_path, ["A"])
    assert sent["A"] == {loader_patient(runner, "15817")}
    assert runner.results["A"].steps[0].request is not None
    assert loader_patient(runner, "15817b") != loader_patient(runner, "15817")


def test_data_loaders_run_with_the_orchestrations_patients(tmp_path: Path) -> None:
    runner, sent, _ = run(tmp_path, ["12346", "12374"])
    assert sent["12346"] == {loader_patient(runner, "15818")}
    assert sent["12374"] == {loader_patient(runner, "15817b")}


def test_repository_tests_share_one_fed_patient(tmp_path: Path) -> None:
    runner, sent, feeds = run(tmp_path, ["R1", "R2"])
    assert len(sent["R1"]) == 1 and sent["R1"] == sent["R2"]
    (pid,) = sent["R1"]
    assert sum(f"PID|||{pid}|" in m for m in feeds) == 1
    assert "15817" not in runner.results
