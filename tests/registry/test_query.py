"""ITI-18 over real HTTP against `python -m registry`, on SQLite and PostgreSQL: every stored query and
every parameter, with the edge cases of the encoding (OR inside a slot, AND across slots, LIKE, time
range edges) and each error code.

Data set, patient P (documents A-E) and patient Q (document X):

| doc | class | practice | hcft | format | type | conf | events | author         | creation | refIds |
|-----|-------|----------|------|--------|------|------|--------|----------------|----------|--------|
| A   | C1    | P1       | H1   | F1     | T1   | N    | E1 E2  | ^Ford^Harrison | 20041224 | R1     |
| B   | C2    | P2       | H2   | F2     | T2   | R    | E1     | ^Smith^John    | 20051224 | R2     |
| C   | C1    | P1       | H1   | F1     | T1   | N    |        | ^Ford^Henry    | 20061224 |        | (deprecated by D)
| D   | C3    | P1       | H1   | F1     | T1   | N R  | E2     | ^O'Brien^Pat   | 20070101 | R1     | (RPLC C)
| E   | C1    | P2       | H1   | F3     | T1   | N    |        | ^Jones^Ann     | 20080101 |        | (APND A)
Submission 1 = A, B and folder F1 holding A; 2 = C; 3 = D; 4 = E; 5 = X (patient Q).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from lxml import etree

from harness.builders import SubmissionBuilder, new_oid, new_patient_id
from harness.services import Service, feed_patient, start_registry
from xdscore import soap
from xdscore.ebrim import response
from xdscore.model import Author, Code
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, UUID, Action, AssociationType, ErrorCode, ObjectType, ResponseStatus, Status
from xdscore.vocabulary import StoredQueryId as Q

APPROVED, DEPRECATED = Status.APPROVED.value, Status.DEPRECATED.value
S = "9.9.9"  # coding scheme of the test codes
RIM = f"{{{NS.RIM}}}"
ENV = f"{{{NS.SOAP12}}}"


def code(c: str) -> Code:
    return Code(c, S, c)


def cv(c: str, scheme: str = S) -> str:
    return f"{c}^^{scheme}"


DOCS = {
    "A": {"class_code": code("C1"), "practice_setting_code": code("P1"), "healthcare_facility_type_code": code("H1"),
              "format_code": code("F1"), "type_code": code("T1"), "confidentiality_codes": (code("N"),),
              "event_codes": (code("E1"), code("E2")), "authors": (Author(person="^Ford^Harrison^^^"),),
              "creation_time": "20041224", "service_start_time": "200412230800", "service_stop_time": "200412230900",
              "reference_ids": ("R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",)},
    "B": {"class_code": code("C2"), "practice_setting_code": code("P2"), "healthcare_facility_type_code": code("H2"),
              "format_code": code("F2"), "type_code": code("T2"), "confidentiality_codes": (code("R"),),
              "event_codes": (code("E1"),), "authors": (Author(person="^Smith^John^^^"),),
              "creation_time": "20051224", "service_start_time": "20051201", "service_stop_time": "20051202",
              "reference_ids": ("R2^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",)},
    "C": {"class_code": code("C1"), "practice_setting_code": code("P1"), "healthcare_facility_type_code": code("H1"),
              "format_code": code("F1"), "type_code": code("T1"), "confidentiality_codes": (code("N"),),
              "authors": (Author(person="^Ford^Henry^^^"),), "creation_time": "20061224",
              "service_start_time": None, "service_stop_time": None},
    "D": {"class_code": code("C3"), "practice_setting_code": code("P1"), "healthcare_facility_type_code": code("H1"),
              "format_code": code("F1"), "type_code": code("T1"), "confidentiality_codes": (code("N"), code("R")),
              "event_codes": (code("E2"),), "authors": (Author(person="^O'Brien^Pat^^^"),), "creation_time": "20070101",
              "service_start_time": None, "service_stop_time": None,
              "reference_ids": ("R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession",)},
    "E": {"class_code": code("C1"), "practice_setting_code": code("P2"), "healthcare_facility_type_code": code("H1"),
              "format_code": code("F3"), "type_code": code("T1"), "confidentiality_codes": (code("N"),),
              "authors": (Author(person="^Jones^Ann^^^"),), "creation_time": "20080101",
              "service_start_time": None, "service_stop_time": None},
}


@dataclass
class DataSet:
    service: Service
    p: str
    q: str
    uid: dict[str, str] = field(default_factory=dict)  # document / SS / folder uniqueIds by letter
    uuid: dict[str, str] = field(default_factory=dict)


def post(url: str, body: etree._Element, action: str) -> etree._Element:
    env = etree.tostring(soap.request_envelope(body, action), xml_declaration=True, encoding="UTF-8")
    r = httpx.post(url, content=env, headers={"Content-Type": "application/soap+xml; charset=utf-8"}, timeout=30)
    assert r.status_code == 200, r.text
    return etree.fromstring(r.content).find(f"{ENV}Body")[0]


def submit(ds: DataSet, b: SubmissionBuilder) -> None:
    rr = post(ds.service.url, b.xml(), Action.REGISTER.value)
    assert rr.get("status") == ResponseStatus.SUCCESS.value, etree.tostring(rr)


def sub_with(ds: DataSet, patient: str, ss_letter: str, ss_changes: dict | None = None) -> SubmissionBuilder:
    ds.uid[ss_letter] = new_oid()
    return SubmissionBuilder(patient).with_submission_set(unique_id=ds.uid[ss_letter], **(ss_changes or {}))


def add(ds: DataSet, b: SubmissionBuilder, letter: str) -> str:
    ds.uid[letter] = new_oid()
    return b.add_document(f"Doc{letter}", unique_id=ds.uid[letter], **DOCS[letter])


@dataclass
class Result:
    status: str
    errors: list[tuple[str, str, str, str]]
    objects: list[etree._Element]

    @property
    def ids(self) -> list[str]:
        return [o.get("id", "") for o in self.objects]

    def tags(self) -> list[str]:
        return [etree.QName(o).localname for o in self.objects]

    @property
    def codes(self) -> list[str]:
        return [e[0] for e in self.errors]


def run(ds: DataSet, query: Q, params: dict, return_type: ReturnType = ReturnType.OBJECT_REF, home: str | None = None,
        url: str | None = None) -> Result:
    resp = post(url or ds.service.url, encode_request(query, params, return_type, home), Action.STORED_QUERY.value)
    lst = resp.find(f"{RIM}RegistryObjectList")
    assert lst is not None  # always present, even on failure
    return Result(resp.get("status", ""), response.read_errors(resp), list(lst))


@pytest.fixture(scope="module")
def citus_db_url(citus_cluster) -> str:  # type: ignore[no-untyped-def]
    import os

    return os.environ["XDS_TEST_CITUS_URL"] if citus_cluster is None else citus_cluster.create_database("registry_query")


@pytest.fixture(scope="module")
def pg_url(pg_server) -> str:  # type: ignore[no-untyped-def]
    import os

    return os.environ["XDS_TEST_PG_URL"] if pg_server is None else pg_server.create_database("registry_query")


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "citus"])
def ds(request, tmp_path_factory) -> Iterator[DataSet]:  # type: ignore[no-untyped-def]
    url = {"postgresql": "pg_url", "citus": "citus_db_url"}.get(request.param)
    url = request.getfixturevalue(url) if url else None
    service = start_registry(tmp_path_factory.mktemp(f"query-{request.param}"), database_url=url)
    data = DataSet(service, new_patient_id(), new_patient_id())
    feed_patient(service.feed_port, data.p)
    feed_patient(service.feed_port, data.q)
    try:
        _load(data)
        yield data
    finally:
        service.stop()


def _load(ds: DataSet) -> None:
    b = sub_with(ds, ds.p, "SS1", {"source_id": "1.1.1", "submission_time": "20040101",
                                    "authors": (Author(person="^Ford^Harrison^^^"),), "content_type_code": code("CT1")})
    add(ds, b, "A")
    add(ds, b, "B")
    ds.uid["F1"] = new_oid()
    b.add_folder("Folder01", unique_id=ds.uid["F1"], codes=(code("FC1"), code("FC2")))
    member = b.link("Folder01", "DocA", None)
    b.link(b.ss_id, member, None)
    b.objects[0] = b.objects[0].with_slot("urn:example:extra", ("kept",))
    submit(ds, b)
    b = sub_with(ds, ds.p, "SS2", {"source_id": "2.2.2", "submission_time": "20050101", "content_type_code": code("CT2")})
    add(ds, b, "C")
    submit(ds, b)
    for letter in "ABC":
        ds.uuid[letter] = _uuid_of(ds, ds.uid[letter])
    b = sub_with(ds, ds.p, "SS3", {"submission_time": "20060101"})
    add(ds, b, "D")
    b.relate("DocD", ds.uuid["C"], AssociationType.REPLACE)
    submit(ds, b)
    b = sub_with(ds, ds.p, "SS4", {"submission_time": "20070101"})
    add(ds, b, "E")
    b.relate("DocE", ds.uuid["A"], AssociationType.APPEND)
    ds.uid["F2"] = new_oid()
    b.add_folder("Folder02", unique_id=ds.uid["F2"], codes=(code("FC2"),))
    submit(ds, b)
    b = sub_with(ds, ds.q, "SS5")
    ds.uid["X"] = new_oid()
    b.add_document("DocX", unique_id=ds.uid["X"])
    submit(ds, b)
    for letter in "DEX":
        ds.uuid[letter] = _uuid_of(ds, ds.uid[letter])
    for letter in ("F1", "F2"):
        ds.uuid[letter] = run(ds, Q.GetFolders, {"$XDSFolderUniqueId": [ds.uid[letter]]}).ids[0]
    for letter in ("SS1", "SS2", "SS3", "SS4", "SS5"):
        r = run(ds, Q.GetSubmissionSetAndContents, {"$XDSSubmissionSetUniqueId": ds.uid[letter]})
        ds.uuid[letter] = r.ids[0]


def _uuid_of(ds: DataSet, unique_id: str) -> str:
    ids = run(ds, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [unique_id]}).ids
    assert len(ids) == 1
    return ids[0]


def letters(ds: DataSet, ids: list[str]) -> str:
    names = {v: k for k, v in ds.uuid.items()}
    return "".join(sorted(names.get(i, "?") for i in ids))


def find(ds: DataSet, statuses: list[str] | None = None, **params: object) -> str:
    base = {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": statuses or [APPROVED]}
    r = run(ds, Q.FindDocuments, {**base, **{f"$XDSDocumentEntry{k}": v for k, v in params.items()}})
    assert r.status == ResponseStatus.SUCCESS.value, r.errors
    return letters(ds, r.ids)


# --- FindDocuments ---------------------------------------------------------------------------------


def test_find_documents_status(ds: DataSet) -> None:
    assert find(ds) == "ABDE"
    assert find(ds, [DEPRECATED]) == "C"
    assert find(ds, [APPROVED, DEPRECATED]) == "ABCDE"


@pytest.mark.parametrize(
    "param,values,expected",
    [
        ("ClassCode", [cv("C1")], "AE"),
        ("ClassCode", [cv("C1"), cv("C2")], "ABE"),
        ("ClassCode", [cv("C1", "1.2.3")], ""),
        ("TypeCode", [cv("T2")], "B"),
        ("PracticeSettingCode", [cv("P2")], "BE"),
        ("HealthcareFacilityTypeCode", [cv("H2")], "B"),
        ("FormatCode", [cv("F3"), cv("F2")], "BE"),
        ("EventCodeList", [cv("E1"), cv("E2")], "ABD"),
        ("EventCodeList", [[cv("E1")], [cv("E2")]], "A"),
        ("ConfidentialityCode", [cv("R")], "BD"),
        ("ConfidentialityCode", [[cv("N")], [cv("R")]], "D"),
        ("AuthorPerson", ["%Ford%"], "A"),
        ("AuthorPerson", ["^Ford^%", "%Jones%"], "AE"),
        ("AuthorPerson", ["%o'brien%"], "D"),
        ("AuthorPerson", ["^Sm_th^John^^^"], "B"),
        ("AuthorPerson", ["%' OR 1=1 --"], ""),
        ("Type", [ObjectType.ON_DEMAND_DOCUMENT.value], ""),
        ("Type", [ObjectType.STABLE_DOCUMENT.value, ObjectType.ON_DEMAND_DOCUMENT.value], "ABDE"),
    ],
)
def test_find_documents_filters(ds: DataSet, param: str, values: list, expected: str) -> None:
    assert find(ds, **{param: values}) == expected


@pytest.mark.parametrize(
    "span,expected",
    [
        # From is inclusive, To exclusive, at the precision given (NIST 11897 creationtime_*_edge)
        (("20041224", "20051224"), "A"),
        (("20041124", "20041224"), ""),
        (("20041224", None), "ABDE"),
        (("2005", None), "BDE"),
        ((None, "200412"), ""),
        ((None, "2006"), "AB"),
    ],
)
def test_find_documents_creation_time(ds: DataSet, span: tuple, expected: str) -> None:
    params = {}
    if span[0]:
        params["CreationTimeFrom"] = span[0]
    if span[1]:
        params["CreationTimeTo"] = span[1]
    assert find(ds, **params) == expected


def test_find_documents_service_times(ds: DataSet) -> None:
    assert find(ds, ServiceStartTimeFrom="200412230800") == "AB"
    assert find(ds, ServiceStartTimeFrom="200412230801") == "B"
    assert find(ds, ServiceStopTimeTo="20051202") == "A"
    assert find(ds, ServiceStopTimeFrom="20051202", ServiceStopTimeTo="20051203") == "B"


def test_unknown_and_obsolete_parameters_are_ignored(ds: DataSet) -> None:
    """NIST 11897 practicesetting_scheme: the pre-2009 ...CodeScheme parameters are ignored, not refused."""
    assert find(ds, PracticeSettingCode=[cv("P2")], PracticeSettingCodeScheme=[S]) == "BE"


def test_find_documents_quoted_time_accepted(ds: DataSet) -> None:
    """CP-ITI-1260: a time sent as a quoted string is read like a number."""
    req = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED]})
    adhoc = req.find(f"{RIM}AdhocQuery")
    slot = etree.SubElement(adhoc, f"{RIM}Slot", name="$XDSDocumentEntryCreationTimeFrom")
    etree.SubElement(etree.SubElement(slot, f"{RIM}ValueList"), f"{RIM}Value").text = "'2007'"
    resp = post(ds.service.url, req, Action.STORED_QUERY.value)
    ids = [o.get("id") for o in resp.find(f"{RIM}RegistryObjectList")]
    assert letters(ds, ids) == "DE"


def test_find_documents_by_reference_id(ds: DataSet) -> None:
    ref = "R1^^^&1.2.3&ISO^urn:ihe:iti:xds:2013:accession"
    r = run(ds, Q.FindDocumentsByReferenceId, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED],
                                                 "$XDSDocumentEntryReferenceIdList": [ref]})
    assert letters(ds, r.ids) == "AD"
    r = run(ds, Q.FindDocumentsByReferenceId, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED]})
    assert r.codes == [ErrorCode.XDSStoredQueryMissingParam.value]


def test_leaf_class_returns_objects_as_registered(ds: DataSet) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED, DEPRECATED],
                                  "$XDSDocumentEntryClassCode": [cv("C1")]}, ReturnType.LEAF_CLASS)
    assert r.tags() == ["ExtrinsicObject"] * 3
    by_id = {o.get("id"): o for o in r.objects}
    a, c = by_id[ds.uuid["A"]], by_id[ds.uuid["C"]]
    assert a.get("status") == APPROVED and c.get("status") == DEPRECATED
    assert a.get("lid") == ds.uuid["A"] and a.find(f"{RIM}VersionInfo").get("versionName") == "1"
    events = [cl.get("nodeRepresentation") for cl in a.iterfind(f"{RIM}Classification") if cl.get("classificationScheme") == UUID.DE_EVENT_CODE]
    assert events == ["E1", "E2"]
    assert [e.get("value") for e in a.iterfind(f"{RIM}ExternalIdentifier") if e.get("identificationScheme") == UUID.DE_UNIQUE_ID] == [ds.uid["A"]]


# --- errors ---------------------------------------------------------------------------------------


def test_missing_required_parameter(ds: DataSet) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p})
    assert r.status == ResponseStatus.FAILURE.value and r.codes == [ErrorCode.XDSStoredQueryMissingParam.value]
    assert r.objects == []


def test_single_valued_parameter_twice(ds: DataSet) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": [[ds.p], [ds.q]], "$XDSDocumentEntryStatus": [APPROVED]})
    assert r.codes == [ErrorCode.XDSStoredQueryParamNumber.value]
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": [ds.p, ds.q], "$XDSDocumentEntryStatus": [APPROVED]})
    assert r.codes == [ErrorCode.XDSStoredQueryParamNumber.value]
    r = run(ds, Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [ds.uuid["A"]], "$XDSDocumentEntryUniqueId": [ds.uid["A"]]})
    assert r.codes == [ErrorCode.XDSStoredQueryParamNumber.value]


def test_non_repeatable_multi_valued_parameter_in_two_slots(ds: DataSet) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED],
                                  "$XDSDocumentEntryClassCode": [[cv("C1")], [cv("C2")]]})
    assert r.codes == [ErrorCode.XDSStoredQueryParamNumber.value]


def test_unknown_stored_query(ds: DataSet) -> None:
    req = encode_request(Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED]})
    req.find(f"{RIM}AdhocQuery").set("id", "urn:uuid:00000000-0000-0000-0000-000000000000")
    resp = post(ds.service.url, req, Action.STORED_QUERY.value)
    assert [e[0] for e in response.read_errors(resp)] == [ErrorCode.XDSUnknownStoredQuery.value]


@pytest.mark.parametrize(
    "params",
    [
        {"$XDSDocumentEntryClassCode": ["a^^"]},  # NIST 11897 classcode_scheme_mismatch
        {"$XDSDocumentEntryClassCode": ["DEMO-Lab"]},
        {"$XDSDocumentEntryCreationTimeFrom": "200413"},
        {"$XDSDocumentEntryType": ["urn:uuid:not-a-type"]},
    ],
    ids=["empty-scheme", "no-scheme", "bad-time", "bad-type"],
)
def test_malformed_parameters_fail(ds: DataSet, params: dict) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": [APPROVED], **params})
    assert r.status == ResponseStatus.FAILURE.value and r.codes == [ErrorCode.XDSRegistryError.value]


def test_malformed_patient_id(ds: DataSet) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": "12345", "$XDSDocumentEntryStatus": [APPROVED]})
    assert r.codes == [ErrorCode.XDSRegistryError.value]


def test_status_must_be_a_status_urn(ds: DataSet) -> None:
    r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": ds.p, "$XDSDocumentEntryStatus": ["Approved"]})
    assert r.codes == [ErrorCode.XDSRegistryError.value]


def test_result_not_single_patient(ds: DataSet) -> None:
    """NIST 12368: LeafClass may not span patients; ObjectRef may."""
    params = {"$XDSDocumentEntryEntryUUID": [ds.uuid["A"], ds.uuid["X"]]}
    r = run(ds, Q.GetDocuments, params, ReturnType.LEAF_CLASS)
    assert r.status == ResponseStatus.FAILURE.value and r.codes == [ErrorCode.XDSResultNotSinglePatient.value]
    assert len(run(ds, Q.GetDocuments, params).ids) == 2


def test_too_many_results(tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = start_registry(tmp_path, env={"XDS_REGISTRY_MAX_QUERY_RESULTS": "2"})
    try:
        p = new_patient_id()
        feed_patient(service.feed_port, p)
        b = SubmissionBuilder(p).with_submission_set()
        for _ in range(3):
            b.add_document()
        post(service.url, b.xml(), Action.REGISTER.value)
        ds = DataSet(service, p, p)
        r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": p, "$XDSDocumentEntryStatus": [APPROVED]})
        assert r.status == ResponseStatus.FAILURE.value and r.codes == [ErrorCode.XDSTooManyResults.value]
        r = run(ds, Q.FindDocuments, {"$XDSDocumentEntryPatientId": p, "$XDSDocumentEntryStatus": [APPROVED],
                                      "$XDSDocumentEntryCreationTimeTo": "2000"})
        assert r.status == ResponseStatus.SUCCESS.value
    finally:
        service.stop()


def test_metadata_level(ds: DataSet) -> None:
    assert len(run(ds, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [ds.uid["A"]], "$MetadataLevel": "2"}).ids) == 1
    r = run(ds, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [ds.uid["A"]], "$MetadataLevel": "3"})
    assert r.codes == [ErrorCode.XDSRegistryError.value]


def test_home_community_id_echoed(ds: DataSet) -> None:
    home = "urn:oid:1.2.3.4.5"
    r = run(ds, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [ds.uid["A"]]}, ReturnType.LEAF_CLASS, home=home)
    assert [o.get("home") for o in r.objects] == [home]
    r = run(ds, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [ds.uid["A"]]}, home=home)
    assert [o.get("home") for o in r.objects] == [home]


# --- the other queries ----------------------------------------------------------------------------


def test_find_submission_sets(ds: DataSet) -> None:
    base = {"$XDSSubmissionSetPatientId": ds.p, "$XDSSubmissionSetStatus": [APPROVED]}
    assert letters(ds, run(ds, Q.FindSubmissionSets, base).ids) == "SS1SS2SS3SS4"
    assert letters(ds, run(ds, Q.FindSubmissionSets, {**base, "$XDSSubmissionSetSourceId": ["2.2.2", "3.3.3"]}).ids) == "SS2"
    r = run(ds, Q.FindSubmissionSets, {**base, "$XDSSubmissionSetSubmissionTimeFrom": "2005",
                                        "$XDSSubmissionSetSubmissionTimeTo": "20070101"})
    assert letters(ds, r.ids) == "SS2SS3"
    assert letters(ds, run(ds, Q.FindSubmissionSets, {**base, "$XDSSubmissionSetAuthorPerson": "%Harrison%"}).ids) == "SS1"
    assert letters(ds, run(ds, Q.FindSubmissionSets, {**base, "$XDSSubmissionSetContentType": [cv("CT2")]}).ids) == "SS2"
    r = run(ds, Q.FindSubmissionSets, {**base, "$XDSSubmissionSetAuthorPerson": [["%a%"], ["%b%"]]})
    assert r.codes == [ErrorCode.XDSStoredQueryParamNumber.value]
    leaf = run(ds, Q.FindSubmissionSets, {**base, "$XDSSubmissionSetSourceId": ["1.1.1"]}, ReturnType.LEAF_CLASS)
    ss = leaf.objects[0]
    assert ss.get("status") == APPROVED and ss.get("lid") == ss.get("id") and ss.find(f"{RIM}VersionInfo") is not None
    assert [s.get("name") for s in ss.iterfind(f"{RIM}Slot")] == ["submissionTime", "urn:example:extra"]


def test_find_folders(ds: DataSet) -> None:
    base = {"$XDSFolderPatientId": ds.p, "$XDSFolderStatus": [APPROVED]}
    assert letters(ds, run(ds, Q.FindFolders, base).ids) == "F1F2"
    assert letters(ds, run(ds, Q.FindFolders, {**base, "$XDSFolderCodeList": [cv("FC1"), cv("FC2")]}).ids) == "F1F2"
    assert letters(ds, run(ds, Q.FindFolders, {**base, "$XDSFolderCodeList": [[cv("FC1")], [cv("FC2")]]}).ids) == "F1"
    leaf = run(ds, Q.FindFolders, base, ReturnType.LEAF_CLASS)
    times = [[v.text for v in o.iterfind(f"{RIM}Slot/{RIM}ValueList/{RIM}Value")] for o in leaf.objects]
    assert all(len(t) == 1 and len(t[0]) == 14 for t in times)
    t1 = times[0][0]
    assert letters(ds, run(ds, Q.FindFolders, {**base, "$XDSFolderLastUpdateTimeFrom": t1}).ids).startswith("F1")
    assert run(ds, Q.FindFolders, {**base, "$XDSFolderLastUpdateTimeTo": "2000"}).ids == []


def test_get_all(ds: DataSet) -> None:
    st = {"$patientId": ds.p, "$XDSSubmissionSetStatus": [APPROVED], "$XDSFolderStatus": [APPROVED]}
    r = run(ds, Q.GetAll, {**st, "$XDSDocumentEntryStatus": [APPROVED]})
    named = [i for i in r.ids if i in ds.uuid.values()]
    assert letters(ds, named) == "ABDEF1F2SS1SS2SS3SS4"
    leaf = run(ds, Q.GetAll, {**st, "$XDSDocumentEntryStatus": [APPROVED, DEPRECATED]}, ReturnType.LEAF_CLASS)
    assert leaf.tags().count("ExtrinsicObject") == 5 and leaf.tags().count("RegistryPackage") == 6
    assert leaf.tags().count("Association") >= 9
    r = run(ds, Q.GetAll, {**st, "$XDSDocumentEntryStatus": [APPROVED], "$XDSDocumentEntryFormatCode": [cv("F3")]})
    assert letters(ds, [i for i in r.ids if i in ds.uuid.values()]).count("E") == 1
    assert not {ds.uuid["A"], ds.uuid["B"]} & set(r.ids)


def test_get_documents(ds: DataSet) -> None:
    assert letters(ds, run(ds, Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": [ds.uuid["A"], ds.uuid["C"]]}).ids) == "AC"
    assert letters(ds, run(ds, Q.GetDocuments, {"$XDSDocumentEntryUniqueId": [ds.uid["B"]]}).ids) == "B"
    assert letters(ds, run(ds, Q.GetDocuments, {"$XDSDocumentEntryLogicalID": [ds.uuid["D"]]}).ids) == "D"
    r = run(ds, Q.GetDocuments, {"$XDSDocumentEntryEntryUUID": ["urn:uuid:00000000-0000-4000-8000-000000000000"]}, ReturnType.LEAF_CLASS)
    assert r.status == ResponseStatus.SUCCESS.value and r.objects == [] and r.errors == []
    assert run(ds, Q.GetDocuments, {}).codes == [ErrorCode.XDSStoredQueryMissingParam.value]


def test_get_folders(ds: DataSet) -> None:
    assert letters(ds, run(ds, Q.GetFolders, {"$XDSFolderEntryUUID": [ds.uuid["F1"]]}).ids) == "F1"
    assert letters(ds, run(ds, Q.GetFolders, {"$XDSFolderUniqueId": [ds.uid["F2"]]}).ids) == "F2"
    assert letters(ds, run(ds, Q.GetFolders, {"$XDSFolderLogicalID": [ds.uuid["F1"], ds.uuid["F2"]]}).ids) == "F1F2"


def _assoc(objects: list[etree._Element]) -> list[tuple[str, str, str]]:
    return sorted(
        (o.get("associationType", "").rsplit(":", 1)[1], o.get("sourceObject", ""), o.get("targetObject", ""))
        for o in objects
        if etree.QName(o).localname == "Association"
    )


def test_get_associations(ds: DataSet) -> None:
    r = run(ds, Q.GetAssociations, {"$uuid": [ds.uuid["A"]]}, ReturnType.LEAF_CLASS)
    types = [a[0] for a in _assoc(r.objects)]
    assert sorted(types) == ["APND", "HasMember", "HasMember"]
    assert all(a.get("status") == APPROVED for a in r.objects)


def test_get_documents_and_associations(ds: DataSet) -> None:
    r = run(ds, Q.GetDocumentsAndAssociations, {"$XDSDocumentEntryUniqueId": [ds.uid["C"]]}, ReturnType.LEAF_CLASS)
    assert r.tags() == ["ExtrinsicObject", "Association", "Association"]
    assert sorted(a[0] for a in _assoc(r.objects)) == ["HasMember", "RPLC"]


def test_get_submission_sets(ds: DataSet) -> None:
    r = run(ds, Q.GetSubmissionSets, {"$uuid": [ds.uuid["A"], ds.uuid["E"]]}, ReturnType.LEAF_CLASS)
    assert letters(ds, [o.get("id") for o in r.objects if etree.QName(o).localname == "RegistryPackage"]) == "SS1SS4"
    assert [a[0] for a in _assoc(r.objects)] == ["HasMember", "HasMember"]


def test_get_submission_set_and_contents(ds: DataSet) -> None:
    r = run(ds, Q.GetSubmissionSetAndContents, {"$XDSSubmissionSetUniqueId": ds.uid["SS1"]}, ReturnType.LEAF_CLASS)
    named = [o.get("id") for o in r.objects if o.get("id") in ds.uuid.values()]
    assert letters(ds, named) == "ABF1SS1"
    # SS→A, SS→B, SS→F1, F1→A and SS→(F1→A)
    assert len(_assoc(r.objects)) == 5
    r = run(ds, Q.GetSubmissionSetAndContents, {"$XDSSubmissionSetEntryUUID": ds.uuid["SS1"],
                                                  "$XDSDocumentEntryConfidentialityCode": [cv("R")]})
    named = [i for i in r.ids if i in ds.uuid.values()]
    assert letters(ds, named) == "BF1SS1"
    assert run(ds, Q.GetSubmissionSetAndContents, {"$XDSSubmissionSetUniqueId": "1.2.3.999"}).ids == []


def test_get_folder_and_contents(ds: DataSet) -> None:
    r = run(ds, Q.GetFolderAndContents, {"$XDSFolderUniqueId": ds.uid["F1"]}, ReturnType.LEAF_CLASS)
    assert letters(ds, [o.get("id") for o in r.objects if o.get("id") in ds.uuid.values()]) == "AF1"
    assert _assoc(r.objects) == [("HasMember", ds.uuid["F1"], ds.uuid["A"])]
    r = run(ds, Q.GetFolderAndContents, {"$XDSFolderEntryUUID": ds.uuid["F1"], "$XDSDocumentEntryFormatCode": [cv("F9")]})
    assert r.ids == [ds.uuid["F1"]]


def test_get_folders_for_document(ds: DataSet) -> None:
    assert letters(ds, run(ds, Q.GetFoldersForDocument, {"$XDSDocumentEntryUniqueId": ds.uid["A"]}).ids) == "F1"
    assert run(ds, Q.GetFoldersForDocument, {"$XDSDocumentEntryEntryUUID": ds.uuid["B"]}).ids == []


def test_get_related_documents(ds: DataSet) -> None:
    r = run(ds, Q.GetRelatedDocuments, {"$XDSDocumentEntryUniqueId": ds.uid["A"],
                                         "$AssociationTypes": [AssociationType.APPEND.value]}, ReturnType.LEAF_CLASS)
    assert letters(ds, [o.get("id") for o in r.objects if etree.QName(o).localname == "ExtrinsicObject"]) == "AE"
    assert _assoc(r.objects) == [("APND", ds.uuid["E"], ds.uuid["A"])]
    r = run(ds, Q.GetRelatedDocuments, {"$XDSDocumentEntryEntryUUID": ds.uuid["C"],
                                         "$AssociationTypes": [AssociationType.REPLACE.value, AssociationType.APPEND.value]})
    assert letters(ds, [i for i in r.ids if i in ds.uuid.values()]) == "CD"
    r = run(ds, Q.GetRelatedDocuments, {"$XDSDocumentEntryEntryUUID": ds.uuid["B"],
                                         "$AssociationTypes": [AssociationType.REPLACE.value]})
    assert r.ids == []
    r = run(ds, Q.GetRelatedDocuments, {"$XDSDocumentEntryEntryUUID": ds.uuid["B"]})
    assert r.codes == [ErrorCode.XDSStoredQueryMissingParam.value]


def test_query_body_must_be_adhoc_query_request(ds: DataSet) -> None:
    env = etree.tostring(soap.request_envelope(etree.Element("{urn:x}Nope"), Action.STORED_QUERY.value))
    r = httpx.post(ds.service.url, content=env, headers={"Content-Type": "application/soap+xml"})
    fault = soap.read_fault(etree.fromstring(r.content))
    assert r.status_code == 400 and fault is not None and "AdhocQueryRequest" in fault.reason


# --- malformed values, limits, LIKE, HasMember (issues 14 and 18) ----------------------------------------


def raw_query(ds: DataSet, query: Q, slots: list[tuple[str, str]]) -> tuple[int, Result]:
    """A query whose Slot values are written as given (no encoding), and the HTTP status of its answer."""
    req = etree.Element(f"{{{NS.QUERY}}}AdhocQueryRequest", nsmap={"query": NS.QUERY, "rim": NS.RIM})
    etree.SubElement(req, f"{{{NS.QUERY}}}ResponseOption", returnType="ObjectRef")
    adhoc = etree.SubElement(req, f"{RIM}AdhocQuery", id=query.value)
    for name, text in slots:
        slot = etree.SubElement(adhoc, f"{RIM}Slot", name=name)
        etree.SubElement(etree.SubElement(slot, f"{RIM}ValueList"), f"{RIM}Value").text = text
    env = etree.tostring(soap.request_envelope(req, Action.STORED_QUERY.value), xml_declaration=True, encoding="UTF-8")
    r = httpx.post(ds.service.url, content=env, headers={"Content-Type": "application/soap+xml"}, timeout=60)
    body = etree.fromstring(r.content).find(f"{ENV}Body")[0]
    lst = body.find(f"{RIM}RegistryObjectList")
    return r.status_code, Result(body.get("status", ""), response.read_errors(body), list(lst) if lst is not None else [])


@pytest.mark.parametrize(
    ("name", "text"),
    [("$XDSDocumentEntryCreationTimeFrom", "-"), ("$XDSDocumentEntryCreationTimeFrom", "--1"),
     ("$XDSDocumentEntryCreationTimeTo", "'yesterday'"), ("$MetadataLevel", "²"),
     ("$XDSDocumentEntryClassCode", "(1)"), ("$XDSDocumentEntryEventCodeList", "('e^^s'")],
)
def test_a_malformed_value_is_an_error_naming_the_parameter(ds: DataSet, name: str, text: str) -> None:
    base = [("$XDSDocumentEntryPatientId", f"'{ds.p}'"), ("$XDSDocumentEntryStatus", f"('{APPROVED}')")]
    status, r = raw_query(ds, Q.FindDocuments, [*base, (name, text)])
    assert status == 200 and r.status == ResponseStatus.FAILURE.value
    assert [(e[0], e[3]) for e in r.errors] == [(ErrorCode.XDSRegistryError.value, name)]


def test_an_unknown_association_type_is_an_error(ds: DataSet) -> None:
    status, r = raw_query(ds, Q.GetRelatedDocuments, [("$XDSDocumentEntryEntryUUID", f"'{ds.uuid['A']}'"),
                                                      ("$AssociationTypes", "('urn:example:AssociationType:Nope')")])
    assert status == 200 and [(e[0], e[3]) for e in r.errors] == [(ErrorCode.XDSRegistryError.value, "$AssociationTypes")]


@pytest.mark.parametrize(
    ("name", "slots", "limit"),
    [
        ("$XDSDocumentEntryAuthorPerson", [("(" + ",".join(f"'%a{i}%'" for i in range(496)) + ")")], "query_max_values"),
        ("$XDSDocumentEntryEventCodeList", [f"('e{i}^^s')" for i in range(1000)], "query_max_parameters"),
        ("$XDSDocumentEntryAuthorPerson", ["('" + "%a" * 30000 + "')"], "query_max_like_length"),
    ],
    ids=["496-author-values", "1000-and-ed-slots", "60000-character-like"],
)
def test_query_limits(ds: DataSet, name: str, slots: list[str], limit: str) -> None:
    """Issue 18: each of these used to reach SQLite ("Expression tree is too large", "LIKE pattern too
    complex"); the decoder now refuses them, naming the parameter (or the query) and the limit."""
    base = [("$XDSDocumentEntryPatientId", f"'{ds.p}'"), ("$XDSDocumentEntryStatus", f"('{APPROVED}')")]
    status, r = raw_query(ds, Q.FindDocuments, [*base, *((name, s) for s in slots)])
    assert status == 200 and r.status == ResponseStatus.FAILURE.value
    ((code, context, _, location),) = r.errors
    assert code == ErrorCode.XDSRegistryError.value and limit in context
    assert location in (name, "")


def test_and_ed_slots_limit_names_the_parameter(ds: DataSet) -> None:
    base = [("$XDSDocumentEntryPatientId", f"'{ds.p}'"), ("$XDSDocumentEntryStatus", f"('{APPROVED}')")]
    slots = [("$XDSDocumentEntryEventCodeList", f"('e{i}^^s')") for i in range(40)]
    _, r = raw_query(ds, Q.FindDocuments, [*base, *slots])
    assert [(e[0], e[3]) for e in r.errors] == [(ErrorCode.XDSRegistryError.value, "$XDSDocumentEntryEventCodeList")]
    assert "query_max_slots" in r.errors[0][1]


def test_like_matches_a_literal_backslash(ds: DataSet) -> None:
    patient = new_patient_id()
    feed_patient(ds.service.feed_port, patient)
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document("DocW", authors=(Author(person="^DOMAIN\\jdoe^^^^"),))
    b.add_document("DocV", authors=(Author(person="^DOMAINXjdoe^^^^"),))
    submit(ds, b)
    base = {"$XDSDocumentEntryPatientId": patient, "$XDSDocumentEntryStatus": [APPROVED]}
    r = run(ds, Q.FindDocuments, {**base, "$XDSDocumentEntryAuthorPerson": ["%DOMAIN\\jdoe%"]}, ReturnType.LEAF_CLASS)
    assert r.status == ResponseStatus.SUCCESS.value and len(r.objects) == 1
    assert "DOMAIN\\jdoe" in etree.tostring(r.objects[0]).decode()
    r = run(ds, Q.FindDocuments, {**base, "$XDSDocumentEntryAuthorPerson": ["%DOMAIN_jdoe%"]})
    assert len(r.ids) == 2  # `_` stays a wildcard
    r = run(ds, Q.FindDocuments, {**base, "$XDSDocumentEntryAuthorPerson": ["%jdoe\\"]})
    assert r.status == ResponseStatus.SUCCESS.value and r.ids == []  # a trailing backslash is no error either


def test_get_related_documents_has_member_is_not_a_document_relationship(ds: DataSet) -> None:
    has_member = AssociationType.HAS_MEMBER.value
    r = run(ds, Q.GetRelatedDocuments, {"$XDSDocumentEntryEntryUUID": ds.uuid["B"], "$AssociationTypes": [has_member]})
    assert r.status == ResponseStatus.SUCCESS.value and r.ids == []
    r = run(ds, Q.GetRelatedDocuments, {"$XDSDocumentEntryEntryUUID": ds.uuid["A"],
                                         "$AssociationTypes": [has_member, AssociationType.APPEND.value]},
            ReturnType.LEAF_CLASS)
    assert letters(ds, [o.get("id") for o in r.objects if etree.QName(o).localname == "ExtrinsicObject"]) == "AE"
    assert _assoc(r.objects) == [("APND", ds.uuid["E"], ds.uuid["A"])]
