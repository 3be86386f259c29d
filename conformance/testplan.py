"""NIST XDS Toolkit test kit reader: tests, sections and `testplan.xml` steps.

Layout (`xdstools2/.../toolkitx/testkit`): `tests/<id>/index.idx` lists the sections in order, each a folder
holding one `testplan.xml`; a test without sections has `testplan.xml` at its top. `collections.txt` names
the actor collections the test belongs to. A `TestStep` carries `ExpectedStatus`, optional
`ExpectedErrorMessage` / `ExpectedErrorCode`, patient-id directives and one transaction element whose
children are the preparation instructions and the checks.

Every element of a step is either understood here or recorded in `unsupported`, which makes the step fail
("unsupported: <element>"): the kit never passes a step it did not fully read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from xdscore.xmlsafe import parse_bytes

# Elements that only document the plan.
_DOCUMENTATION = frozenset({"Rule", "Goal"})
# Instructions every transaction accepts (toolkit BasicTransaction.parseBasicInstruction), minus the ones
# listed as unsupported below.
_BASIC = frozenset(
    {
        "MetadataFile", "AssignUuids", "NoAssignUids", "Report", "UseReport", "ParseMetadata", "NoMetadata",
        "UseId", "Assertions", "XDSb", "NoPatientId", "InteractionSequence",
    }
)
_SUBMISSION: frozenset[str] = frozenset()
_QUERY = frozenset({"ExpectedContents", "CleanParams", "SOAP12", "UseXPath"})
_FEED = frozenset({"CreateNewPatientId", "PatientID"})
# Transaction element -> the instructions it takes besides the basic ones (toolkit parseInstruction of each
# transaction class). Where each is sent and how it is graded: `conformance.transactions.KINDS`.
_PER_TRANSACTION = {
    "RegisterTransaction": _SUBMISSION,
    "ProvideAndRegisterTransaction": frozenset({"Document"}),
    "RegisterODDETransaction": _SUBMISSION,
    "MuTransaction": _SUBMISSION,
    "RmuTransaction": _SUBMISSION,
    "RemoveMetadataTransaction": _SUBMISSION,
    "RdTransaction": _SUBMISSION,
    "StoredQueryTransaction": _QUERY,
    "MPQTransaction": _QUERY,
    "RetrieveTransaction": frozenset(
        {"ExpectedContents", "ExpectedMimeType", "ReferenceDocument", "ReferenceMetadata", "CleanParams", "UseXPath"}
    ),
    "PatientIdentityFeedTransaction": _FEED,
    "PatientMoveTransaction": _FEED,
    "NullTransaction": frozenset(),
}
SUPPORTED_TRANSACTIONS = frozenset(_PER_TRANSACTION)


@dataclass(frozen=True)
class UseId:
    """`<UseId>`: replace `symbol` by a value another step assigned (AssignedUids, AssignedUuids …)."""

    symbol: str
    id: str = ""
    step: str = ""
    section: str = ""
    testdir: str | None = None
    value: str | None = None


@dataclass(frozen=True)
class UseXPath:
    """`<UseXPath testdir step symbol>xpath</UseXPath>`: replace `symbol` by an XPath value of a step's output."""

    symbol: str
    step: str
    xpath: str
    testdir: str | None = None


@dataclass(frozen=True)
class UseReport:
    """`<UseReport>`: replace `use_as` by the value another step reported under `report_name`."""

    report_name: str
    use_as: str
    step: str
    section: str
    test: str | None = None


@dataclass(frozen=True)
class ReportSpec:
    """`<Report name section>xpath</Report>`: publish a value of this step's request or response."""

    name: str
    section: str
    xpath: str


@dataclass(frozen=True)
class Assertion:
    id: str
    xpath: str


@dataclass
class Transaction:
    kind: str
    metadata_file: Path | None = None
    documents: list[tuple[str, Path]] = field(default_factory=list)
    assign_uuids: bool = False
    assign_uids: bool = True
    no_assign_uid_to: str | None = None
    assign_patient_id: bool = True
    parse_metadata: bool = True
    create_new_patient_id: bool = False
    forced_patient_id: str | None = None
    clean_params: bool = False
    use_ids: list[UseId] = field(default_factory=list)
    use_reports: list[UseReport] = field(default_factory=list)
    use_xpaths: list[UseXPath] = field(default_factory=list)
    reports: list[ReportSpec] = field(default_factory=list)
    expected_contents: etree._Element | None = None
    assertions: list[Assertion] = field(default_factory=list)
    reference_documents: list[tuple[str, Path]] = field(default_factory=list)
    reference_metadata: tuple[str, str] | None = None
    expected_mime_type: str | None = None
    unsupported: list[str] = field(default_factory=list)


@dataclass
class Step:
    id: str
    expected_status: list[str] = field(default_factory=list)
    expected_error_message: str = ""
    expected_error_code: str = ""
    new_patient_id: bool = False
    alt_patient_id: bool = False
    transaction: Transaction | None = None
    unsupported: list[str] = field(default_factory=list)
    element: etree._Element | None = None


@dataclass
class Section:
    test_id: str
    name: str | None  # None for a test whose testplan.xml is at its top
    directory: Path
    steps: list[Step]

    @property
    def label(self) -> str:
        return f"{self.test_id}/{self.name}" if self.name else self.test_id


@dataclass
class TestDefinition:
    __test__ = False  # not a pytest class
    id: str
    directory: Path
    collections: list[str]
    section_names: list[str | None]
    title: str = ""


def _text(el: etree._Element) -> str:
    return (el.text or "").strip()


def _parse_transaction(el: etree._Element, directory: Path) -> Transaction:
    kind = etree.QName(el).localname
    tx = Transaction(kind=kind)
    if kind not in SUPPORTED_TRANSACTIONS:
        tx.unsupported.append(kind)
        return tx
    allowed = _BASIC | _PER_TRANSACTION[kind]
    for part in el:
        if not isinstance(part.tag, str):
            continue
        name = etree.QName(part).localname
        if name not in allowed:
            tx.unsupported.append(f"{kind}/{name}")
            continue
        if name == "MetadataFile":
            tx.metadata_file = directory / _text(part)
        elif name == "Document":
            tx.documents.append((part.get("id", ""), directory / _text(part)))
        elif name == "AssignUuids":
            tx.assign_uuids = True
            if len(part):
                tx.unsupported.append(f"{kind}/AssignUuids/Exclude")
        elif name == "NoAssignUids":
            target = part.get("id")
            tx.assign_uids = bool(target)
            tx.no_assign_uid_to = target or None
        elif name == "NoPatientId":
            tx.assign_patient_id = False
        elif name == "ParseMetadata":
            tx.parse_metadata = _text(part) != "False"
        elif name == "CreateNewPatientId":
            tx.create_new_patient_id = True
        elif name == "PatientID":
            tx.forced_patient_id = _text(part)
        elif name == "CleanParams":
            tx.clean_params = True
        elif name == "UseId":
            tx.use_ids.append(
                UseId(
                    symbol=part.get("symbol", ""), id=part.get("id", ""), step=part.get("step", ""),
                    section=part.get("section", ""), testdir=part.get("testdir") or None,
                    value=part.get("value") or None,
                )
            )
        elif name == "UseReport":
            tx.use_reports.append(
                UseReport(
                    report_name=part.get("reportName", ""), use_as=part.get("useAs", ""),
                    step=part.get("step", ""), section=part.get("section") or "None", test=part.get("test") or None,
                )
            )
        elif name == "UseXPath":
            if part.get("file"):
                tx.unsupported.append(f"{kind}/UseXPath file=")
            else:
                tx.use_xpaths.append(
                    UseXPath(part.get("symbol", ""), part.get("step", ""), _text(part), part.get("testdir") or None)
                )
        elif name == "Report":
            tx.reports.append(ReportSpec(part.get("name", ""), part.get("section", ""), _text(part)))
        elif name == "ExpectedContents":
            tx.expected_contents = part
        elif name == "Assertions":
            for a in part:
                if not isinstance(a.tag, str):
                    continue
                aname = etree.QName(a).localname
                if aname == "Assert":
                    tx.assertions.append(Assertion(a.get("id", ""), _text(a)))
                elif aname == "DataRef":
                    if (a.get("file"), a.get("as")) != ("THIS", "output"):
                        tx.unsupported.append(f"{kind}/Assertions/DataRef file={a.get('file')}")
                else:
                    tx.unsupported.append(f"{kind}/Assertions/{aname}")
        elif name == "ReferenceDocument":
            tx.reference_documents.append((part.get("uid", ""), directory / _text(part)))
        elif name == "ReferenceMetadata":
            tx.reference_metadata = (part.get("testdir", ""), part.get("step", ""))
        elif name == "ExpectedMimeType":
            tx.expected_mime_type = _text(part)
        # XDSb, NoMetadata, InteractionSequence, SOAP12: nothing to do (XDS.b, SOAP 1.2 are the only modes).
    return tx


def parse_plan(path: Path, test_id: str, section: str | None) -> Section:
    root = parse_bytes(path.read_bytes(), what=str(path))
    steps: list[Step] = []
    for st in root:
        if not isinstance(st.tag, str) or etree.QName(st).localname != "TestStep":
            continue
        step = Step(id=st.get("id", ""), element=st)
        for part in st:
            if not isinstance(part.tag, str):
                continue
            name = etree.QName(part).localname
            if name in _DOCUMENTATION:
                continue
            if name == "ExpectedStatus":
                step.expected_status.append(_text(part))
            elif name == "ExpectedErrorMessage":
                step.expected_error_message = _text(part)
            elif name == "ExpectedErrorCode":
                step.expected_error_code = _text(part)
            elif name == "NewPatientId":
                step.new_patient_id = True
            elif name == "AltPatientId":
                step.alt_patient_id = True
            elif name.endswith("Transaction"):
                if step.transaction is not None:
                    step.unsupported.append(f"second transaction {name}")
                step.transaction = _parse_transaction(part, path.parent)
            else:
                step.unsupported.append(name)
        steps.append(step)
    return Section(test_id=test_id, name=section, directory=path.parent, steps=steps)


class TestKit:
    """A test kit folder (the one holding `tests/`, or its parent)."""
    __test__ = False  # not a pytest class

    def __init__(self, root: Path):
        root = root.resolve()
        for candidate in (root, root / "testkit"):
            if (candidate / "tests").is_dir():
                self.root = candidate
                break
        else:
            raise FileNotFoundError(f"{root} holds no tests/ folder: not a NIST test kit")
        self.tests_dir = self.root / "tests"
        # Data sets and utilities are plans too (testdata-registry/SingleDocument-Registry …); tests win.
        self.roots = [self.tests_dir, *sorted(p for p in self.root.iterdir() if p.is_dir() and (p.name.startswith("testdata-") or p.name == "utilities"))]
        self._plans: dict[tuple[str, str | None], Section] = {}

    def test_ids(self) -> list[str]:
        return sorted(p.name for p in self.tests_dir.iterdir() if p.is_dir())

    def directory(self, test_id: str) -> Path | None:
        for root in self.roots:
            if (root / test_id).is_dir():
                return root / test_id
        return None

    def has_test(self, test_id: str) -> bool:
        return self.directory(test_id) is not None

    def definition(self, test_id: str) -> TestDefinition:
        d = self.directory(test_id)
        if d is None:
            raise KeyError(f"no test {test_id} in {self.root}")
        collections: list[str] = []
        if (d / "collections.txt").is_file():
            collections = (d / "collections.txt").read_text(errors="replace").split()
        names: list[str | None] = []
        if (d / "index.idx").is_file():
            names = [line.strip() for line in (d / "index.idx").read_text().splitlines() if line.strip()]
        if not names and (d / "testplan.xml").is_file():
            names = [None]
        title = ""
        if (d / "readme.txt").is_file():
            lines = (d / "readme.txt").read_text(errors="replace").strip().splitlines()
            title = lines[0].strip() if lines else ""
        return TestDefinition(test_id, d, collections, names, title)

    def section(self, test_id: str, name: str | None) -> Section:
        key = (test_id, name)
        if key not in self._plans:
            base = self.directory(test_id) or self.tests_dir / test_id
            path = (base / name / "testplan.xml") if name else (base / "testplan.xml")
            if not path.is_file():
                raise FileNotFoundError(f"no testplan.xml for {test_id}/{name or ''}")
            self._plans[key] = parse_plan(path, test_id, name)
        return self._plans[key]

    def locate(self, directory: Path) -> tuple[str, str | None]:
        """Folder of a section → (test id, section name); used to resolve `testdir` attributes."""
        directory = directory.resolve()
        for root in self.roots:
            if directory.is_relative_to(root):
                parts = directory.relative_to(root).parts
                break
        else:
            raise ValueError(f"{directory} is not in the test kit")
        if len(parts) == 1:
            return parts[0], None
        if len(parts) == 2:
            return parts[0], parts[1]
        raise ValueError(f"{directory} is not a test section folder")

    def collection_members(self, collection: str) -> list[str]:
        return [t for t in self.test_ids() if collection in self.definition(t).collections]
