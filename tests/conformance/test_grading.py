"""Graders: a step that should fail does fail (status, error code, counts, patterns, assertions, unknown)."""

from __future__ import annotations

import base64
import hashlib

from lxml import etree

from conformance.grading import assertions, retrieve
from conformance.grading import contents as checks
from conformance.grading import status as statuses
from conformance.metadata import Metadata
from tests.conformance.fakes import (
    FAILURE,
    PARTIAL,
    RIM,
    SUCCESS,
    query_response,
    registry_response,
)
from xdscore.vocabulary import NS, UUID

HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"


def eo(id_: str, status: str = APPROVED) -> etree._Element:
    return etree.Element(f"{{{RIM}}}ExtrinsicObject", id=id_, status=status, objectType="urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1")


def package(id_: str, node: str, status: str = APPROVED) -> etree._Element:
    rp = etree.Element(f"{{{RIM}}}RegistryPackage", id=id_, status=status)
    etree.SubElement(rp, f"{{{RIM}}}Classification", classifiedObject=id_, classificationNode=node)
    return rp


def assoc(source: str, target: str, type_: str = HAS_MEMBER, id_: str | None = None) -> etree._Element:
    return etree.Element(
        f"{{{RIM}}}Association", id=id_ or f"a-{source}-{target}", sourceObject=source, targetObject=target,
        associationType=type_,
    )


def ss_with_one_doc(ss_status: str = APPROVED) -> Metadata:
    return Metadata.of(query_response([package("ss", UUID.SS_NODE, ss_status), eo("d1"), assoc("ss", "d1")]))


def contents(xml: str, md: Metadata) -> list[str]:
    return checks.grade_expected_contents(etree.fromstring(xml), md, lambda el: el.get("value", ""))


# --- ExpectedStatus / errors -------------------------------------------------------------------------------


def test_expected_status_matches() -> None:
    assert statuses.grade_status(["Success"], SUCCESS, [], None) == []
    assert statuses.grade_status(["PartialSuccess"], PARTIAL, [], None) == []


def test_wrong_status_fails() -> None:
    assert statuses.grade_status(["Success"], FAILURE, [], None)
    assert statuses.grade_status(["Failure"], SUCCESS, [], None)


def test_status_without_namespace_fails() -> None:
    assert statuses.grade_status(["Success"], "Success", [], None)


def test_fault_only_passes_when_expected() -> None:
    assert statuses.grade_status(["Fault"], "Fault", [], "Sender: bad") == []
    assert statuses.grade_status(["Success"], "Fault", [], "Sender: bad")
    assert statuses.grade_status(["Fault"], SUCCESS, [], None)


def test_success_with_an_error_fails_but_a_warning_does_not() -> None:
    err = statuses.registry_errors(registry_response(SUCCESS, [("XDSRegistryError", "boom", "Error")]))
    warn = statuses.registry_errors(registry_response(SUCCESS, [("XDSExtraMetadataNotSaved", "x", "Warning")]))
    assert statuses.grade_status(["Success"], SUCCESS, err, None)
    assert statuses.grade_status(["Success"], SUCCESS, warn, None) == []


def test_unknown_expected_status_is_unsupported() -> None:
    assert statuses.grade_status(["Maybe"], SUCCESS, [], None) == ["unsupported: ExpectedStatus Maybe"]


def test_expected_error_message_must_be_present() -> None:
    errors = statuses.registry_errors(registry_response(FAILURE, [("XDSPatientIdDoesNotMatch", "pid", "Error")]))
    assert statuses.grade_error_message("XDSPatientIdDoesNotMatch", ["Failure"], errors) == []
    assert statuses.grade_error_message("XDSUnknownPatientId", ["Failure"], errors)


def test_expected_error_message_is_searched_in_code_context_too() -> None:
    errors = statuses.registry_errors(registry_response(FAILURE, [("XDSRegistryError", "XDSUnknownPatientId: P1", "Error")]))
    assert statuses.grade_error_message("XDSUnknownPatientId", ["Failure"], errors) == []


def test_expected_error_message_ignores_warnings() -> None:
    errors = statuses.registry_errors(registry_response(FAILURE, [("XDSUnknownPatientId", "", "Warning")]))
    assert statuses.grade_error_message("XDSUnknownPatientId", ["Failure"], errors)


def test_expected_error_code_missing_fails() -> None:
    errors = statuses.registry_errors(registry_response(FAILURE, [("XDSRegistryError", "x", "Error")]))
    assert statuses.grade_error_code("XDSRepositoryMetadataError", errors)
    assert statuses.grade_error_code("XDSRegistryError", errors) == []


def test_expected_error_code_accepts_a_warning() -> None:
    errors = statuses.registry_errors(registry_response(SUCCESS, [("XDSExtraMetadataNotSaved", "x", "Warning")]))
    assert statuses.grade_error_code("XDSExtraMetadataNotSaved", errors) == []


# --- ExpectedContents ------------------------------------------------------------------------------------


def test_document_count() -> None:
    md = ss_with_one_doc()
    assert contents('<ExpectedContents><Documents count="1"/></ExpectedContents>', md) == []
    assert contents('<ExpectedContents><Documents count="2"/></ExpectedContents>', md) == [
        "Documents: Found 1 Documents instead of 2"
    ]


def test_ss_with_one_doc() -> None:
    assert contents("<ExpectedContents><SSwithOneDoc/></ExpectedContents>", ss_with_one_doc()) == []


def test_ss_with_one_doc_fails_when_ss_not_approved() -> None:
    assert contents("<ExpectedContents><SSwithOneDoc/></ExpectedContents>", ss_with_one_doc(DEPRECATED))


def test_ss_with_one_doc_fails_on_wrong_association_type() -> None:
    md = Metadata.of(query_response([package("ss", UUID.SS_NODE), eo("d1"), assoc("ss", "d1", "HasMember")]))
    failures = contents("<ExpectedContents><SSwithOneDoc/></ExpectedContents>", md)
    assert failures and "HasMember association missing" in failures[0]


def test_doc_app_and_dep() -> None:
    md = Metadata.of(query_response([eo("d1"), eo("d2", DEPRECATED)]))
    assert contents("<ExpectedContents><DocApp/></ExpectedContents>", md)
    assert contents("<ExpectedContents><DocDep/></ExpectedContents>", md)
    assert contents("<ExpectedContents><OneDocDep/><OneDocApp/></ExpectedContents>", md) == []


def test_object_refs_count_and_no_leaf_objects() -> None:
    refs = [etree.Element(f"{{{RIM}}}ObjectRef", id=f"urn:uuid:{i}") for i in range(3)]
    md = Metadata.of(query_response(refs))
    assert contents('<ExpectedContents><ObjectRefs count="3"/></ExpectedContents>', md) == []
    assert contents('<ExpectedContents><ObjectRefs count="2"/></ExpectedContents>', md)
    assert contents('<ExpectedContents><ObjectRefs count="1"/></ExpectedContents>', ss_with_one_doc())


def test_folder_patterns() -> None:
    md = Metadata.of(
        query_response(
            [
                package("ss", UUID.SS_NODE), package("f", UUID.FOLDER_NODE), eo("d1"),
                assoc("ss", "d1"), assoc("ss", "f"), assoc("f", "d1", id_="fd"), assoc("ss", "fd"),
            ]
        )
    )
    assert contents("<ExpectedContents><SSwithOneDocOneFol/><FolApp/></ExpectedContents>", md) == []
    md.objects.pop()  # drop SS → (Folder→Doc) association
    assert contents("<ExpectedContents><SSwithOneDocOneFol/></ExpectedContents>", md)


def test_none() -> None:
    assert contents("<ExpectedContents><None/></ExpectedContents>", Metadata.of(query_response([]))) == []
    assert contents("<ExpectedContents><None/></ExpectedContents>", ss_with_one_doc())


def test_unknown_expected_contents_element_is_unsupported() -> None:
    assert contents("<ExpectedContents><SSwithSevenDocs/></ExpectedContents>", ss_with_one_doc()) == [
        "unsupported: ExpectedContents/SSwithSevenDocs"
    ]


def test_document_entries_must_only_include() -> None:
    md = Metadata.of(query_response([eo("d1"), eo("d2")]))
    spec = """<ExpectedContents><DocumentEntries><MustOnlyInclude><DocumentEntry>
              <UseId value="{v}"/></DocumentEntry></MustOnlyInclude></DocumentEntries></ExpectedContents>"""
    assert contents(spec.format(v="d1"), md)  # d2 is also there
    assert contents(spec.format(v="d3"), Metadata.of(query_response([eo("d1")])))
    assert contents(spec.format(v="d1"), Metadata.of(query_response([eo("d1")]))) == []


# --- Assertions --------------------------------------------------------------------------------------------


def test_assertion_true_and_false() -> None:
    log = etree.fromstring("<TestResults><TestStep id='q'><Result><x status='A'/></Result></TestStep></TestResults>")
    assert assertions.grade_assertions([("ok", "//TestStep[@id='q']//x/@status = 'A'")], log) == []
    assert assertions.grade_assertions([("ko", "count(//x) = 2")], log)
    assert assertions.grade_assertions([("bad", "//x[")], log)


# --- Retrieve ----------------------------------------------------------------------------------------------


def _retrieve(data: bytes, mime: str = "text/plain") -> tuple[etree._Element, etree._Element]:
    x = NS.XDSB
    request = etree.fromstring(
        f"<x:RetrieveDocumentSetRequest xmlns:x='{x}'><x:DocumentRequest><x:RepositoryUniqueId>1.1</x:RepositoryUniqueId>"
        "<x:DocumentUniqueId>2.2</x:DocumentUniqueId></x:DocumentRequest></x:RetrieveDocumentSetRequest>"
    )
    body = etree.fromstring(
        f"<x:RetrieveDocumentSetResponse xmlns:x='{x}'><x:DocumentResponse><x:RepositoryUniqueId>1.1</x:RepositoryUniqueId>"
        f"<x:DocumentUniqueId>2.2</x:DocumentUniqueId><x:mimeType>{mime}</x:mimeType>"
        f"<x:Document>{base64.b64encode(data).decode()}</x:Document></x:DocumentResponse></x:RetrieveDocumentSetResponse>"
    )
    return request, body


def _reference(data: bytes) -> Metadata:
    de = eo("d1")
    de.set("mimeType", "text/plain")
    for name, value in (("hash", hashlib.sha1(data).hexdigest()), ("size", str(len(data)))):
        slot = etree.SubElement(de, f"{{{RIM}}}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = value
    etree.SubElement(de, f"{{{RIM}}}ExternalIdentifier", identificationScheme=UUID.DE_UNIQUE_ID, value="2.2")
    return Metadata.of(query_response([de]))


def test_retrieve_matches_the_reference_query_metadata() -> None:
    request, body = _retrieve(b"abc")
    assert retrieve.grade_retrieve(request, body, {}, _reference(b"abc"), None, {}, True) == []


def test_retrieve_with_other_bytes_or_mime_type_fails() -> None:
    request, body = _retrieve(b"abd")
    failures = retrieve.grade_retrieve(request, body, {}, _reference(b"abc"), None, {}, True)
    assert any("hash" in f for f in failures)
    request, body = _retrieve(b"abc", mime="text/xml")
    assert retrieve.grade_retrieve(request, body, {}, _reference(b"abc"), None, {}, True)
    assert retrieve.grade_retrieve(request, body, {}, None, "text/plain", {}, True)


def test_retrieve_missing_document_fails_when_success_expected() -> None:
    request, _ = _retrieve(b"abc")
    empty = etree.fromstring(f"<x:RetrieveDocumentSetResponse xmlns:x='{NS.XDSB}'/>")
    assert retrieve.grade_retrieve(request, empty, {}, None, None, {}, True)
    assert retrieve.grade_retrieve(request, empty, {}, None, None, {}, False) == []
