"""Runs NIST test kit tests against live endpoints: sections in index.idx order, step by step.

A test that reads another test's results (`UseReport test=…`, `UseId testdir=../../12346/…`,
`ReferenceMetadata`) gets that test run first, once per session (12346, 12374, 15817 … are data loaders).
`testdir` is resolved as the toolkit resolves it: relative to the folder of the section (or of the test,
for a test without sections) that names it.

Patients (ITI TF-2a 3.8): each test run gets a fresh patient id in the kit's assigning authority, fed to the
registry over MLLP before the first step that submits with it. `PatientIdentityFeedTransaction` feeds the
test's patient (or a new one with `CreateNewPatientId`) and reports it as `$patientid$`; `NewPatientId`
switches the test to a new, fed, patient; `AltPatientId` uses an unfed one for that step only (the
XDSUnknownPatientId case). The toolkit's registry orchestration also gives 12361 the patients of 15819 and
15820 as `$patient_id1$` / `$patient_id2$` (`ORCHESTRATION`).

Actor options: before a test that uses an optional transaction (ITI-57, ITI-92, ITI-62, ITI-86, ITI-61,
ITI-51, ITI-64; `conformance.transactions`), the kit asks the receiver once whether it serves it
(`conformance.steps.probe`); a test whose option is not implemented is reported "not applicable" with the
receiver's answer, and nothing of it is sent.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from conformance import steps
from conformance.grading import assertions
from conformance.prepare import Allocator, PrepareError, Settings
from conformance.results import SectionResult, StepResult, TestResult
from conformance.testplan import Section, Step, TestKit, UseId, UseReport, UseXPath
from conformance.transactions import KINDS
from conformance.transport import SoapClient, send_feed

# Test id -> UseReports the toolkit's orchestration adds to every step of that test (RegOrchestrationBuilder).
ORCHESTRATION: dict[str, tuple[UseReport, ...]] = {
    "12361": (
        UseReport("$patientid$", "$patient_id1$", "step", "pif", "15819"),
        UseReport("$patientid$", "$patient_id2$", "step", "pif", "15820"),
    ),
}

# Collections whose tests need an XUA assertion on their requests (conformance.xua).
XUA_COLLECTIONS = frozenset({"reg_xua", "rep_xua"})

# (test id, its collections, receiver "registry" | "repository", endpoint URL) -> the wsse:Security header
# to send, or None (see conformance.xua).
SecuritySource = Callable[[str, list[str], str, str], etree._Element | None]


@dataclass
class Endpoints:
    registry: str | None = None
    repository: str | None = None
    feed_host: str | None = None
    feed_port: int | None = None


class Runner:
    def __init__(
        self, kit: TestKit, endpoints: Endpoints, settings: Settings | None = None, timeout: float = 60.0,
        security: SecuritySource | None = None,
    ):
        self.kit = kit
        self.endpoints = endpoints
        self.settings = settings or Settings()
        self.allocator = Allocator()
        self.client = SoapClient(timeout=timeout)
        self.security = security
        self.results: dict[str, TestResult] = {}
        self.fed_patients: set[str] = set()
        self.options: dict[str, str | None] = {}  # transaction element -> None (served) or why not
        self._running: list[str] = []

    def close(self) -> None:
        self.client.close()

    # --- tests ---------------------------------------------------------------------------------------

    def run(self, test_ids: list[str]) -> list[TestResult]:
        return [self.run_test(t) for t in test_ids]

    def run_test(self, test_id: str, dependency: bool = False) -> TestResult:
        done = self.results.get(test_id)
        if done is not None:
            if not dependency:
                done.dependency = False
            return done
        started = time.monotonic()
        result = TestResult(test_id=test_id, dependency=dependency)
        if not self.kit.has_test(test_id):
            result.error = f"no test {test_id} in the test kit"
            self.results[test_id] = result
            return result
        definition = self.kit.definition(test_id)
        result.title, result.collections = definition.title, definition.collections
        if self.security is None and XUA_COLLECTIONS & set(definition.collections):
            result.error = "an XUA test: it needs a signed assertion on its requests (run the kit with --xua-pki DIR)"
            self.results[test_id] = result
            return result
        self._running.append(test_id)
        try:
            sections: list[Section] = []
            for name in definition.section_names:
                try:
                    sections.append(_orchestrated(self.kit.section(test_id, name)))
                except (FileNotFoundError, ValueError) as exc:
                    result.error = str(exc)
            result.not_applicable = self.missing_option(sections)
            if not result.not_applicable:
                for dep in self.dependencies(sections):
                    if dep not in self._running:
                        self.run_test(dep, dependency=True)
                run = TestRun(self, result)
                for section in sections:
                    run.run_section(section)
        finally:
            self._running.remove(test_id)
        result.seconds = time.monotonic() - started
        self.results[test_id] = result
        return result

    def missing_option(self, sections: list[Section]) -> str:
        """Why the test is not applicable (an optional transaction the receiver does not serve), or ""."""
        for section in sections:
            for step in section.steps:
                tx = step.transaction
                kind = KINDS.get(tx.kind) if tx is not None else None
                if kind is None or not kind.optional or tx is None or tx.unsupported:
                    continue
                if kind.element not in self.options:
                    self.options[kind.element] = steps.probe(self, kind)
                reason = self.options[kind.element]
                if reason:
                    return reason
        return ""

    def dependencies(self, sections: list[Section]) -> list[str]:
        deps: list[str] = []
        for section in sections:
            for step in section.steps:
                tx = step.transaction
                if tx is None:
                    continue
                targets = [u.test for u in tx.use_reports if u.test]
                dirs = [u.testdir for u in tx.use_ids if u.testdir] + [u.testdir for u in tx.use_xpaths if u.testdir]
                if tx.reference_metadata:
                    dirs.append(tx.reference_metadata[0])
                if tx.expected_contents is not None:
                    dirs += [u.get("testdir") for u in tx.expected_contents.iter("UseId") if u.get("testdir")]
                for d in dirs:
                    try:
                        targets.append(self.kit.locate(section.directory / d)[0])
                    except ValueError:
                        continue
                for t in targets:
                    if t != section.test_id and t not in deps:
                        deps.append(t)
        return deps

    # --- patients ------------------------------------------------------------------------------------

    def new_patient(self) -> str:
        return self.allocator.patient_id(self.settings.patient_aa)

    def feed(self, patient_id: str) -> tuple[bool, str]:
        """Send ADT^A01; True when acknowledged with AA (or CA)."""
        if self.endpoints.feed_host is None or self.endpoints.feed_port is None:
            return False, "no --patient-feed endpoint configured"
        ex = send_feed(self.endpoints.feed_host, self.endpoints.feed_port, patient_id)
        if ex.ack_code in ("AA", "CA"):
            self.fed_patients.add(patient_id)
            return True, ex.ack
        return False, f"patient feed for {patient_id} acknowledged with {ex.ack_code or 'no MSA'}: {ex.ack!r}"


def _orchestrated(section: Section) -> Section:
    extra = ORCHESTRATION.get(section.test_id)
    if not extra:
        return section
    new_steps = []
    for step in section.steps:
        tx = step.transaction
        if tx is not None:
            tx = dataclasses.replace(tx, use_reports=[*extra, *tx.use_reports])
        new_steps.append(dataclasses.replace(step, transaction=tx))
    return dataclasses.replace(section, steps=new_steps)


class TestRun:
    """The state of one test being run: its patient and its section results (the linkage resolver)."""
    __test__ = False  # not a pytest class

    def __init__(self, runner: Runner, result: TestResult):
        self.runner = runner
        self.result = result
        self.patient = runner.new_patient()
        self.patient_param = ""  # the last $patientid$ a UseReport gave this test
        self.section: SectionResult | None = None
        self.section_def: Section | None = None

    # --- linkage (prepare.Resolver) ---------------------------------------------------------------

    def section_result(self, test_id: str, name: str | None) -> SectionResult:
        if test_id == self.result.test_id:
            found = self.result.section(name)
        else:
            other = self.runner.results.get(test_id)
            found = other.section(name) if other else None
        if found is None:
            raise PrepareError(f"section {test_id}/{name or ''} has not been run")
        return found

    def _testdir(self, testdir: str, what: str) -> SectionResult:
        assert self.section_def is not None
        try:
            test_id, name = self.runner.kit.locate(self.section_def.directory / testdir)
        except ValueError as exc:
            raise PrepareError(f"{what} testdir {testdir}: {exc}") from None
        return self.section_result(test_id, name)

    def use_id(self, use: UseId) -> str:
        if use.value:
            return use.value
        assert self.section is not None
        # Without testdir the toolkit looks only at the earlier steps of this section's log.
        source = self._testdir(use.testdir, "UseId") if use.testdir else self.section
        step = source.step(use.step)
        if step is None:
            where = f"{source.test_id}/{source.name or ''}"
            if not use.testdir:
                raise PrepareError(
                    f"UseId without testdir names step {use.step}, which is not an earlier step of {where} "
                    "(test plan error: the toolkit, too, looks only there)"
                )
            raise PrepareError(f"UseId: no step {use.step} in {where}")
        value = step.assigned.get(use.section, {}).get(use.id)
        if not value:
            raise PrepareError(f"UseId: {use.id} not in {use.section} of {source.test_id}/{source.name or ''}/{use.step}")
        return value

    def use_id_element(self, el: etree._Element) -> str:
        return self.use_id(
            UseId(symbol=el.get("symbol", ""), id=el.get("id", ""), step=el.get("step", ""),
                  section=el.get("section", ""), testdir=el.get("testdir") or None, value=el.get("value") or None)
        )

    def use_xpath(self, use: UseXPath) -> str:
        """UseXPath: the XPath string value over the log of `testdir` (or this section), at step `step`."""
        assert self.section is not None
        log = (self._testdir(use.testdir, "UseXPath") if use.testdir else self.section).log()
        step = next((s for s in log if s.get("id") == use.step), None)
        if step is None:
            raise PrepareError(f"UseXPath: no step {use.step} in the referenced log")
        try:
            return assertions.xpath_string(step, use.xpath)
        except etree.XPathError as exc:
            raise PrepareError(f"UseXPath {use.xpath!r}: {exc}") from None

    def use_report(self, use: UseReport) -> str:
        assert self.section is not None
        test_id = use.test or self.result.test_id
        if use.section == "THIS" and test_id == self.result.test_id:
            source = self.section
        else:
            source = self.section_result(test_id, None if use.section == "None" else use.section)
        step = source.step(use.step)
        if step is None:
            raise PrepareError(f"UseReport: no step {use.step} in {test_id}/{use.section}")
        if use.report_name not in step.reports:
            if use.report_name == "$patientid$" and test_id == self.result.test_id:
                # The toolkit keeps $patientid$ as a parameter of the whole test, so a later step may read it
                # back from any step (20001 reads it from a stored query's): the one last used, else the
                # test's own patient.
                return self.patient_param or self.patient
            raise PrepareError(f"UseReport: {test_id}/{use.section}/{use.step} did not report {use.report_name}")
        if use.use_as == "$patientid$":
            self.patient_param = step.reports[use.report_name]
        return step.reports[use.report_name]

    # --- sections and steps -----------------------------------------------------------------------

    def run_section(self, section: Section) -> None:
        self.section_def = section
        self.section = SectionResult(section.test_id, section.name)
        self.result.sections.append(self.section)
        for step in section.steps:
            started = time.monotonic()
            res = self.run_step(step)
            res.seconds = time.monotonic() - started
            res.passed = not res.failures
            self.section.steps.append(res)

    def run_step(self, step: Step) -> StepResult:
        tx = step.transaction
        res = StepResult(self.result.test_id, self.section_def.name if self.section_def else None, step.id,
                         tx.kind if tx else "")
        res.expected = steps.expectations(step)
        unsupported = step.unsupported + (tx.unsupported if tx else [])
        if unsupported:
            res.failures = [f"unsupported: {u}" for u in unsupported]
            return res
        steps.execute(self, step, res)
        return res

    def ensure_fed(self, patient: str) -> None:
        if patient in self.runner.fed_patients:
            return
        ok, detail = self.runner.feed(patient)
        if not ok:
            raise PrepareError(detail)
