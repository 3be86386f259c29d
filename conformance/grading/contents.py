"""ExpectedContents of a stored query: the toolkit Validator's metadata patterns over the returned objects.

ITI TF-2a 3.18 (what a stored query returns), ITI TF-3 4.2 (SubmissionSet, Folder, Association types);
toolkit `engine/Validator.java` (ss1Doc, ss2Doc, sswithOneFol, docApp, hasRPLC …). Each child element of
ExpectedContents names one check of `CONTENT_CHECKS` (its `count` attribute is the int argument), or is
`DocumentEntries` (MustOnlyInclude / Include / Exclude by UseId). An unknown child is a failure
"unsupported: ExpectedContents/<name>".
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from conformance.metadata import Metadata, local, strip_namespace
from conformance.translate import association_type_v3


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


