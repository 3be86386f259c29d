"""Graders: one small function per `Expected*` element of a test step, each returning its failures.

Semantics follow the NIST toolkit (BasicTransaction.eval_expected_status / scanResponseForErrors,
RegistryResponseParser, engine/Validator.run_test_assertion, RetrieveB.validate_retrieve), made strict:
a step passes only when every grader returns no failure, and an element the kit does not know is a failure
"unsupported: <element>" (ITI TF-3 4.2.4 for status / error codes; ITI TF-2b 3.18, 3.43 for responses).

- ExpectedStatus: the response status URN must be one of the expected values (Success / Failure /
  PartialSuccess in their ebRS / IHE namespaces, or Fault for a SOAP fault). When Success is expected no
  RegistryError of severity Error may be present (warnings are allowed).
- ExpectedErrorMessage: the text must occur in the errorCode or codeContext of an Error-severity
  RegistryError, and the expected status must be Failure.
- ExpectedErrorCode: the code must be the errorCode of some RegistryError (any severity).
- ExpectedContents: the patterns of `CONTENT_CHECKS` over the returned metadata.
- Assertions: each XPath 1.0 expression, evaluated over the section log, must be true.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass

from lxml import etree

from conformance.metadata import Metadata, children, local, strip_namespace
from conformance.translate import association_type_v3
from xdscore import mtom
from xdscore.errors import SoapFault
from xdscore.vocabulary import NS

OASIS_STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"
IHE_STATUS = "urn:ihe:iti:2007:ResponseStatusType:"
_STATUS_VALUES = {"success": "Success", "failure": "Failure", "partialsuccess": "PartialSuccess", "fault": "Fault"}


@dataclass(frozen=True)
class RegistryError:
    code: str
    context: str
    severity: str
    location: str

    @property
    def is_error(self) -> bool:
        # severity defaults to Error in rs.xsd
        return not self.severity or self.severity.endswith("Error")


def registry_response(body: etree._Element | None) -> etree._Element | None:
    """The element holding @status and RegistryErrorList (the body itself, or its RegistryResponse child)."""
    if body is None:
        return None
    if local(body) == "RetrieveDocumentSetResponse":
        found = children(body, "RegistryResponse")
        return found[0] if found else None
    return body


def registry_errors(body: etree._Element | None) -> list[RegistryError]:
    holder = registry_response(body)
    if holder is None:
        return []
    out = []
    for rel in children(holder, "RegistryErrorList"):
        for e in children(rel, "RegistryError"):
            out.append(
                RegistryError(e.get("errorCode", ""), e.get("codeContext", ""), e.get("severity", ""), e.get("location", ""))
            )
    return out


def response_status(body: etree._Element | None, fault: str | None) -> str:
    if fault is not None:
        return "Fault"
    holder = registry_response(body)
    return "" if holder is None else holder.get("status", "")


def _status_value(status: str) -> str | None:
    return _STATUS_VALUES.get(status.rsplit(":", 1)[-1].lower())


def grade_status(expected: list[str], status: str, errors: list[RegistryError], fault: str | None) -> list[str]:
    """ExpectedStatus (and the toolkit's rule that an expected Success carries no Error)."""
    if not expected:
        return ["unsupported: TestStep without ExpectedStatus"]
    wanted = []
    for e in expected:
        value = _STATUS_VALUES.get(e.strip().lower())
        if value is None:
            return [f"unsupported: ExpectedStatus {e}"]
        wanted.append(value)
    if status == "Fault":
        return [] if "Fault" in wanted else [f"SOAP Fault received, expected status {' or '.join(wanted)}: {fault}"]
    if "Fault" in wanted:
        return [f"status is {status or '(none)'}, expected a SOAP Fault"]
    actual = _status_value(status)
    ns_ok = status.startswith(OASIS_STATUS) or (actual == "PartialSuccess" and status.startswith(IHE_STATUS))
    if not ns_ok or actual is None:
        return [f"status is {status or '(missing)'}, expected {' or '.join(wanted)} as a ResponseStatusType URN"]
    if actual not in wanted:
        return [f"status is {status}, expected {' or '.join(wanted)}"]
    if wanted == ["Success"]:
        errs = [e for e in errors if e.is_error]
        if errs:
            return [f"Success expected but the response carries errors: {_describe(errs)}"]
    return []


def _describe(errors: list[RegistryError]) -> str:
    return "; ".join(f"{e.code}: {e.context}" for e in errors)


def grade_error_message(expected: str, expected_status: list[str], errors: list[RegistryError]) -> list[str]:
    if not expected:
        return []
    if [s.strip().lower() for s in expected_status] != ["failure"]:
        return ["ExpectedErrorMessage given but ExpectedStatus is not Failure (test plan error)"]
    for e in errors:
        if e.is_error and (expected in e.code or expected in e.context):
            return []
    return [f"expected error {expected} not found; errors returned: {_describe(errors) or 'none'}"]


def grade_error_code(expected: str, errors: list[RegistryError]) -> list[str]:
    if not expected:
        return []
    codes = [e.code for e in errors]
    if expected in codes:
        return []
    return [f"expected errorCode {expected}, got {codes or 'none'}"]


# --- ExpectedContents -------------------------------------------------------------------------------------


class _Checker:
    """Reproduces the toolkit Validator's checks; `errs` collects what failed."""

    def __init__(self, md: Metadata):
        self.m = md
        self.errs: list[str] = []

    def err(self, msg: str) -> None:
        self.errs.append(msg)

    def has_submission_set(self) -> None:
        if self.m.submission_set is None:
            self.err("No Submission Set found")

    def has_no_submission_set(self) -> None:
        if self.m.submission_set is not None:
            self.err("Submission Set found")

    def _count(self, items: list[etree._Element], count: int, what: str) -> None:
        if len(items) != count:
            self.err(f"Found {len(items)} {what} instead of {count}")

    def documents(self, n: int) -> None:
        self._count(self.m.extrinsic_objects, n, "Documents")

    def folders(self, n: int) -> None:
        self._count(self.m.folders, n, "Folders")

    def submission_sets(self, n: int) -> None:
        self._count(self.m.submission_sets, n, "SubmissionSets")

    def associations(self, n: int) -> None:
        self._count(self.m.associations, n, "Associations")

    def object_refs(self, n: int) -> None:
        self._count(self.m.object_refs, n, "ObjectRefs")

    def association(self, source: etree._Element | None, target: etree._Element | None, short: str) -> etree._Element | None:
        return self.association_to_one_of(source, [target] if target is not None else [], short)

    def association_to_one_of(
        self, source: etree._Element | None, targets: list[etree._Element], short: str
    ) -> etree._Element | None:
        sid = source.get("id") if source is not None else None
        tids = [t.get("id") for t in targets]
        full = association_type_v3(short)
        for a in self.m.associations:
            if a.get("sourceObject") == sid and a.get("targetObject") in tids and a.get("associationType") == full:
                return a
        self.err(
            f"{short} association missing between sourceObject {self.m.label(sid)} and targetObject "
            f"{' or '.join(self.m.label(t) for t in tids) or '(none)'} (expected associationType {full})"
        )
        return None

    def _status_is(self, obj: etree._Element, wanted: str, what: str) -> bool:
        status = strip_namespace(obj.get("status"))
        if status != wanted:
            self.err(f"{what} {obj.get('id')} has status {status} instead of '{wanted}'")
            return False
        return True

    def ss_approved(self) -> None:
        ss = self.m.submission_set
        if ss is None:
            self.err("No Submission Set")
        else:
            self._status_is(ss, "Approved", "SubmissionSet")

    def all_status(self, objects: list[etree._Element], wanted: str, what: str) -> None:
        for o in objects:
            if not self._status_is(o, wanted, what):
                return

    def exactly_one_status(self, wanted: str) -> None:
        n = sum(1 for eo in self.m.extrinsic_objects if strip_namespace(eo.get("status")) == wanted)
        if n != 1:
            self.err(f"Found {n} {wanted} ExtrinsicObjects instead of one")

    def unique_relationship(self, short: str) -> None:
        targets = [a.get("targetObject") for a in self.m.associations if strip_namespace(a.get("associationType")) == short]
        if not targets:
            self.err(f"{short} association not found.")
        elif len(set(targets)) != len(targets):
            self.err(f"Multiple {short} associations found for same Document")

    def ss_with_docs(self, n: int) -> None:
        self.has_submission_set()
        self.documents(n)
        self.associations(n)
        if self.errs:
            return
        for eo in self.m.extrinsic_objects:
            self.association(self.m.submission_set, eo, "HasMember")

    def ss_with_one_fol(self) -> None:
        self.has_submission_set()
        self.documents(0)
        self.folders(1)
        if not self.errs:
            self.associations(1)
            self.association(self.m.submission_set, self.m.folders[0], "HasMember")

    def ss_with_docs_one_fol(self, n_docs: int, n_assocs: int) -> None:
        """SSwithOneDocOneFol (1, 4) / SSwithTwoDocOneFol (2, 7): every document in the folder."""
        ss, m = self.m.submission_set, self.m
        self.has_submission_set()
        self.documents(n_docs)
        self.folders(1)
        if self.errs:
            return
        self.associations(n_assocs)
        for eo in m.extrinsic_objects:
            self.association(ss, eo, "HasMember")
        self.association(ss, m.folders[0], "HasMember")
        fd = [a for eo in m.extrinsic_objects if (a := self.association(m.folders[0], eo, "HasMember")) is not None]
        remaining = list(fd)
        for _ in fd:
            found = self.association_to_one_of(ss, remaining, "HasMember")
            if found is None:
                break
            remaining = [r for r in remaining if r.get("id") != found.get("targetObject")]
        if not fd:
            self.association_to_one_of(ss, [], "HasMember")

    def ss_two_doc_one_fol_one_doc_in_fol(self) -> None:
        ss, m = self.m.submission_set, self.m
        self.has_submission_set()
        self.documents(2)
        self.folders(1)
        if self.errs:
            return
        self.associations(5)
        for eo in m.extrinsic_objects:
            self.association(ss, eo, "HasMember")
        self.association(ss, m.folders[0], "HasMember")
        fd = self.association_to_one_of(m.folders[0], m.extrinsic_objects, "HasMember")
        if fd is not None:
            self.association(ss, fd, "HasMember")

    def none(self) -> None:
        self.has_no_submission_set()
        self.documents(0)
        self.folders(0)
        if not self.errs:
            self.associations(0)

    def only_object_refs(self, n: int) -> None:
        self.object_refs(n)
        self.has_no_submission_set()
        self.documents(0)
        self.folders(0)
        self.associations(0)


def _approved_ss_with_docs(c: _Checker, n: int) -> None:
    c.ss_with_docs(n)
    c.ss_approved()


# ExpectedContents child name → check (the int is the element's `count` attribute, -1 when absent).
CONTENT_CHECKS: dict[str, Callable[[_Checker, int], None]] = {
    "SSwithOneDoc": lambda c, n: _approved_ss_with_docs(c, 1),
    "SSwithOneDocOnly": lambda c, n: c.ss_with_docs(1),
    "SSwithTwoDoc": lambda c, n: _approved_ss_with_docs(c, 2),
    "SSwithTwoDocOnly": lambda c, n: c.ss_with_docs(2),
    "SSwithOneFol": lambda c, n: c.ss_with_one_fol(),
    "SSwithOneDocOneFol": lambda c, n: c.ss_with_docs_one_fol(1, 4),
    "SSwithTwoDocOneFol": lambda c, n: c.ss_with_docs_one_fol(2, 7),
    "SSwithTwoDocOneFolOneDocInFol": lambda c, n: c.ss_two_doc_one_fol_one_doc_in_fol(),
    "SSApproved": lambda c, n: c.ss_approved(),
    "NoSubmissionSet": lambda c, n: c.has_no_submission_set(),
    "NoDocument": lambda c, n: c.documents(0),
    "DocApp": lambda c, n: c.all_status(c.m.extrinsic_objects, "Approved", "ExtrinsicObject"),
    "DocDep": lambda c, n: c.all_status(c.m.extrinsic_objects, "Deprecated", "ExtrinsicObject"),
    "OneDocApp": lambda c, n: c.exactly_one_status("Approved"),
    "OneDocDep": lambda c, n: c.exactly_one_status("Deprecated"),
    "FolApp": lambda c, n: c.all_status(c.m.folders, "Approved", "Folder"),
    "FolDep": lambda c, n: c.all_status(c.m.folders, "Deprecated", "Folder"),
    "HasRPLC": lambda c, n: c.unique_relationship("RPLC"),
    "HasXFRM_RPLC": lambda c, n: c.unique_relationship("XFRM_RPLC"),
    "HasAPND": lambda c, n: c.unique_relationship("APND"),
    "None": lambda c, n: c.none(),
    "ObjectRefs": lambda c, n: c.only_object_refs(n),
    "Documents": lambda c, n: c.documents(n),
    "Folders": lambda c, n: c.folders(n),
    "SubmissionSets": lambda c, n: c.submission_sets(n),
    "Associations": lambda c, n: c.associations(n),
}


def grade_expected_contents(
    expected: etree._Element, md: Metadata, resolve_use_id: Callable[[etree._Element], str]
) -> list[str]:
    """ExpectedContents of a stored query: every child check must hold."""
    failures: list[str] = []
    for check in expected:
        if not isinstance(check.tag, str):
            continue
        name = local(check)
        if name == "DocumentEntries":
            failures += _document_entries(check, md, resolve_use_id)
            continue
        fn = CONTENT_CHECKS.get(name)
        if fn is None:
            failures.append(f"unsupported: ExpectedContents/{name}")
            continue
        try:
            count = int(check.get("count", "-1"))
        except ValueError:
            failures.append(f"ExpectedContents/{name} has a non-numeric count {check.get('count')!r}")
            continue
        c = _Checker(md)
        fn(c, count)
        failures += [f"{name}: {e}" for e in c.errs]
    return failures


def _document_entries(
    spec: etree._Element, md: Metadata, resolve_use_id: Callable[[etree._Element], str]
) -> list[str]:
    """DocumentEntries: MustOnlyInclude / Include / Exclude of DocumentEntry (by UseId), DocumentEntryType."""
    failures: list[str] = []
    for part in spec:
        if not isinstance(part.tag, str):
            continue
        mode = local(part)
        if mode == "DocumentEntryType":
            wanted = (part.text or "").strip()
            for eo in md.extrinsic_objects:
                if eo.get("objectType") != wanted:
                    failures.append(f"DocumentEntries: objectType {eo.get('objectType')} of {eo.get('id')} is not {wanted}")
            continue
        if mode not in ("MustOnlyInclude", "Include", "Exclude"):
            failures.append(f"unsupported: ExpectedContents/DocumentEntries/{mode}")
            continue
        matched = 0
        for de in part:
            if not isinstance(de.tag, str):
                continue
            if local(de) != "DocumentEntry":
                failures.append(f"unsupported: ExpectedContents/DocumentEntries/{mode}/{local(de)}")
                continue
            found: etree._Element | None = None
            for instr in de:
                if not isinstance(instr.tag, str):
                    continue
                iname = local(instr)
                if iname == "UseId":
                    wanted_id = resolve_use_id(instr)
                    found = md.extrinsic_object(wanted_id)
                    if found is not None:
                        matched += 1
                    if mode != "Exclude" and found is None:
                        failures.append(f"DocumentEntries/{mode}: {wanted_id} not found in the response")
                    if mode == "Exclude" and found is not None:
                        failures.append(f"DocumentEntries/Exclude: {wanted_id} must not be in the response")
                elif iname == "DocumentEntryType":
                    wanted_type = (instr.text or "").strip()
                    if found is not None and found.get("objectType") != wanted_type:
                        failures.append(
                            f"DocumentEntries: objectType {found.get('objectType')} of {found.get('id')} is not {wanted_type}"
                        )
                else:
                    failures.append(f"unsupported: ExpectedContents/DocumentEntries/{mode}/DocumentEntry/{iname}")
        if mode == "MustOnlyInclude" and matched != len(md.extrinsic_objects):
            failures.append(
                f"DocumentEntries/MustOnlyInclude: {matched} listed entries matched but the response has "
                f"{len(md.extrinsic_objects)} DocumentEntries"
            )
    return failures


# --- Assertions --------------------------------------------------------------------------------------------


def xpath_true(doc: etree._Element, expr: str) -> bool:
    """XPath 1.0 boolean() of an expression's result."""
    result = doc.xpath(expr)
    if isinstance(result, bool):
        return result
    if isinstance(result, float):
        return result != 0 and not math.isnan(result)
    if isinstance(result, str):
        return bool(result)
    return bool(result)


def xpath_string(doc: etree._Element, expr: str) -> str:
    """XPath 1.0 string() of an expression's result (first node's string value)."""
    result = doc.xpath(expr)
    if isinstance(result, list):
        if not result:
            return ""
        first = result[0]
        if isinstance(first, etree._Element):
            return "".join(first.itertext())
        return str(first)
    if isinstance(result, bool):
        return "true" if result else "false"
    if isinstance(result, float):
        return str(int(result)) if result.is_integer() else str(result)
    return str(result)


def grade_assertions(assertions: list[tuple[str, str]], log: etree._Element) -> list[str]:
    failures = []
    for aid, expr in assertions:
        try:
            ok = xpath_true(log, expr)
        except etree.XPathError as exc:
            failures.append(f"assertion {aid}: invalid XPath ({exc})")
            continue
        if not ok:
            failures.append(f"assertion {aid} is false: {' '.join(expr.split())}")
    return failures


# --- ITI-43 Retrieve ---------------------------------------------------------------------------------------


@dataclass
class RetrievedDocument:
    unique_id: str
    repository_id: str
    mime_type: str | None
    data: bytes | None

    @property
    def sha1(self) -> str | None:
        return hashlib.sha1(self.data).hexdigest() if self.data is not None else None


def retrieved_documents(body: etree._Element, attachments: dict[str, mtom.Attachment]) -> tuple[list[RetrievedDocument], list[str]]:
    docs, problems = [], []
    for dr in children(body, "DocumentResponse"):
        uid = (dr.findtext(f"{{{NS.XDSB}}}DocumentUniqueId") or "").strip()
        rep = (dr.findtext(f"{{{NS.XDSB}}}RepositoryUniqueId") or "").strip()
        mime = dr.findtext(f"{{{NS.XDSB}}}mimeType")
        doc_el = dr.find(f"{{{NS.XDSB}}}Document")
        data = None
        if doc_el is not None:
            try:
                data = mtom.element_content(doc_el, attachments).read()
            except SoapFault as exc:
                problems.append(f"document {uid}: {exc.reason}")
        docs.append(RetrievedDocument(uid, rep, mime.strip() if mime else None, data))
    return docs, problems


def grade_retrieve(
    request: etree._Element, body: etree._Element, attachments: dict[str, mtom.Attachment],
    reference: Metadata | None, expected_mime: str | None, reference_docs: dict[str, bytes], expect_all: bool,
) -> list[str]:
    """Returned documents against the request, the reference query metadata and the reference files."""
    if local(body) != "RetrieveDocumentSetResponse":
        return [f"response is {local(body)}, not RetrieveDocumentSetResponse"]
    docs, failures = retrieved_documents(body, attachments)
    by_uid = {d.unique_id: d for d in docs}
    requests = list(request.iter(f"{{{NS.XDSB}}}DocumentRequest"))
    if expect_all and len(requests) != len(docs):
        failures.append(f"requested {len(requests)} documents, got {len(docs)}")
    for dr in requests:
        uid = (dr.findtext(f"{{{NS.XDSB}}}DocumentUniqueId") or "").strip()
        rep = (dr.findtext(f"{{{NS.XDSB}}}RepositoryUniqueId") or "").strip()
        got = by_uid.get(uid)
        if got is None:
            if expect_all:
                failures.append(f"no DocumentResponse for {uid}")
            continue
        if got.repository_id != rep:
            failures.append(f"RepositoryUniqueId {got.repository_id} in the response, {rep} requested")
        if got.data is None:
            failures.append(f"document {uid}: no document data")
            continue
        q_mime = q_hash = q_size = None
        if reference is not None:
            eo = reference.document_by_unique_id(uid)
            if eo is None:
                failures.append(f"document {uid} is not in the reference query output")
            else:
                q_mime, q_hash, q_size = eo.get("mimeType"), Metadata.slot_value(eo, "hash"), Metadata.slot_value(eo, "size")
        wanted_mime = q_mime or expected_mime
        if wanted_mime is not None and wanted_mime != got.mime_type:
            failures.append(f"document {uid}: mimeType {got.mime_type}, expected {wanted_mime}")
        if q_hash is not None and q_hash != got.sha1:
            failures.append(f"document {uid}: hash {got.sha1} of the returned bytes, query metadata says {q_hash}")
        if q_size is not None and q_size != str(len(got.data)):
            failures.append(f"document {uid}: {len(got.data)} bytes returned, query metadata says size {q_size}")
        ref = reference_docs.get(uid)
        if ref is not None and ref != got.data:
            failures.append(
                f"document {uid}: returned bytes (sha1 {got.sha1}) differ from the submitted document "
                f"(sha1 {hashlib.sha1(ref).hexdigest()})"
            )
    return failures
