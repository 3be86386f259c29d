"""Results of a run: one record per step, section and test, and the section log the assertions read.

The section log mirrors the toolkit's `log.xml` closely enough for the test kit's XPath assertions and
reports: `TestResults/TestStep[@id]/<Transaction>/{InputMetadata, Result, AssignedUids, …}`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from lxml import etree


@dataclass
class StepResult:
    test_id: str
    section: str | None
    step_id: str
    kind: str
    passed: bool = False
    failures: list[str] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)  # human-readable expectations, for the report
    request: etree._Element | None = None  # InputMetadata: the request body as sent
    response: etree._Element | None = None  # Result: the response body (or the SOAP Fault)
    wire_request: bytes = b""
    wire_response: bytes = b""
    endpoint: str = ""
    assigned: dict[str, dict[str, str]] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def log_element(self) -> etree._Element:
        step = etree.Element("TestStep", id=self.step_id, status="Pass" if self.passed else "Fail")
        tx = etree.SubElement(step, self.kind or "NoTransaction", step=self.step_id)
        if self.request is not None:
            etree.SubElement(tx, "InputMetadata").append(copy.deepcopy(self.request))
        if self.response is not None:
            etree.SubElement(tx, "Result").append(copy.deepcopy(self.response))
        for name, mapping in self.assigned.items():
            sec = etree.SubElement(tx, name)
            for symbol, value in mapping.items():
                etree.SubElement(sec, "Assign", symbol=symbol, id=value)
        return step


@dataclass
class SectionResult:
    test_id: str
    name: str | None
    steps: list[StepResult] = field(default_factory=list)

    def step(self, step_id: str) -> StepResult | None:
        for s in reversed(self.steps):
            if s.step_id == step_id:
                return s
        return None

    def log(self, current: StepResult | None = None) -> etree._Element:
        root = etree.Element("TestResults", test=self.test_id, section=self.name or "")
        for s in self.steps:
            root.append(s.log_element())
        if current is not None and current not in self.steps:
            root.append(current.log_element())
        return root


@dataclass
class TestResult:
    __test__ = False  # not a pytest class
    test_id: str
    title: str = ""
    collections: list[str] = field(default_factory=list)
    sections: list[SectionResult] = field(default_factory=list)
    dependency: bool = False  # run only because a selected test relies on its data
    error: str = ""  # a failure outside any step (unknown test, no section)
    not_applicable: str = ""  # why the test does not apply to the actor under test (an option it lacks)
    seconds: float = 0.0

    @property
    def steps(self) -> list[StepResult]:
        return [s for sec in self.sections for s in sec.steps]

    @property
    def passed(self) -> bool:
        steps = self.steps
        return not self.error and not self.not_applicable and bool(steps) and all(s.passed for s in steps)

    @property
    def failed(self) -> bool:
        return not self.passed and not self.not_applicable

    @property
    def verdict(self) -> str:
        return "PASS" if self.passed else "N/A" if self.not_applicable else "FAIL"

    def section(self, name: str | None) -> SectionResult | None:
        for sec in self.sections:
            if sec.name == name:
                return sec
        return None

    def first_failure(self) -> str:
        if self.error:
            return self.error
        if self.not_applicable:
            return self.not_applicable
        if not self.steps:
            return "no step to run"
        for s in self.steps:
            if not s.passed:
                where = f"{s.section}/{s.step_id}" if s.section else s.step_id
                return f"{where}: {s.failures[0] if s.failures else 'failed'}"
        return ""
