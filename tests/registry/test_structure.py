"""ebRIM structure of what the registry receives (ITI-42, ITI-18) over real HTTP: the ebRS 3.0 schema first,
then the nested-reference rule; each refusal is an XDSRegistryMetadataError (ITI-18: XDSRegistryError)
naming the element, and nothing is stored.

The shapes of the NIST message-validator fixtures `soap-pnr-element-order.xml` (rim:Name between the Slots)
and `pnr-bad-uplink.xml` (a nested Classification naming another classifiedObject), rebuilt here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from harness.builders import SubmissionBuilder, new_oid, new_patient_id
from harness.services import Service, feed_patient, start_registry
from xdscore import soap
from xdscore.ebrim import response
from xdscore.queries import encode_request
from xdscore.vocabulary import NS, UUID, Action, ErrorCode, ResponseStatus, Status, StoredQueryId

RIM = f"{{{NS.RIM}}}"
ENV = f"{{{NS.SOAP12}}}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    service = start_registry(Path(tmp_path_factory.mktemp("structure")))
    patient = new_patient_id()
    feed_patient(service.feed_port, patient)
    yield service, patient
    service.stop()


def post(url: str, body: etree._Element, action: str = Action.REGISTER.value) -> etree._Element:
    env = etree.tostring(soap.request_envelope(body, action), xml_declaration=True, encoding="UTF-8")
    r = httpx.post(url, content=env, headers={"Content-Type": "application/soap+xml"}, timeout=30)
    assert r.status_code == 200, r.text
    return etree.fromstring(r.content).find(f"{ENV}Body")[0]


def _document(sor: etree._Element) -> etree._Element:
    return next(sor.iter(f"{RIM}ExtrinsicObject"))


def name_between_slots(sor: etree._Element) -> None:
    eo = _document(sor)
    name = eo.find(f"{RIM}Name")
    eo.remove(name)
    eo.insert(1, name)  # after the first Slot, before the others: soap-pnr-element-order.xml


def classification_before_slots(sor: etree._Element) -> None:
    eo = _document(sor)
    c = eo.find(f"{RIM}Classification")
    eo.remove(c)
    eo.insert(0, c)


def bad_uplink(sor: etree._Element) -> None:
    c = _document(sor).find(f"{RIM}Classification")
    c.set("classifiedObject", c.get("classifiedObject", "") + "1")  # pnr-bad-uplink.xml: Document011


def identifier_uplink(sor: etree._Element) -> None:
    ei = next(e for e in _document(sor).iter(f"{RIM}ExternalIdentifier") if e.get("identificationScheme") == UUID.DE_UNIQUE_ID)
    ei.set("registryObject", "SubmissionSet01")


def unknown_rim_object(sor: etree._Element) -> None:
    etree.SubElement(sor.find(f"{RIM}RegistryObjectList"), f"{RIM}Person", id="p1")


def foreign_element(sor: etree._Element) -> None:
    etree.SubElement(sor.find(f"{RIM}RegistryObjectList"), "{urn:example:other}Thing")


def two_names(sor: etree._Element) -> None:
    eo = _document(sor)
    eo.insert(list(eo).index(eo.find(f"{RIM}Name")) + 1, etree.fromstring(etree.tostring(eo.find(f"{RIM}Name"))))


@pytest.mark.parametrize(
    ("change", "element"),
    [
        (name_between_slots, "rim:Slot"),
        (classification_before_slots, "rim:Slot"),
        (two_names, "rim:Name"),
        (bad_uplink, "rim:Classification"),
        (identifier_uplink, "rim:ExternalIdentifier"),
        (unknown_rim_object, "rim:Person"),
        (foreign_element, "{urn:example:other}Thing"),
    ],
    ids=["name-between-slots", "classification-before-slots", "two-names", "classification-uplink",
         "identifier-uplink", "rim-person-in-the-list", "foreign-element-in-the-list"],
)
def test_malformed_ebrim_is_a_metadata_error_naming_the_element(
    registry: tuple[Service, str], change: Callable[[etree._Element], None], element: str
) -> None:
    service, patient = registry
    ss_uid = new_oid()
    b = SubmissionBuilder(patient).with_submission_set(unique_id=ss_uid)
    b.add_document("Document01")
    sor = b.xml()
    change(sor)
    rr = post(service.url, sor)
    assert rr.get("status") == ResponseStatus.FAILURE.value
    errors = response.read_errors(rr)
    assert errors and all(code == ErrorCode.XDSRegistryMetadataError.value for code, _, _, _ in errors), errors
    assert any(element in context for _, context, _, _ in errors), errors
    # nothing stored
    query = encode_request(StoredQueryId.GetSubmissionSetAndContents, {"$XDSSubmissionSetUniqueId": ss_uid})
    answer = post(service.url, query, Action.STORED_QUERY.value)
    assert answer.get("status") == ResponseStatus.SUCCESS.value and len(answer.find(f"{RIM}RegistryObjectList")) == 0


def test_the_unchanged_submission_is_accepted(registry: tuple[Service, str]) -> None:
    service, patient = registry
    b = SubmissionBuilder(patient).with_submission_set()
    b.add_document("Document01")
    assert post(service.url, b.xml()).get("status") == ResponseStatus.SUCCESS.value


def test_a_schema_invalid_query_is_a_registry_error(registry: tuple[Service, str]) -> None:
    service, patient = registry
    query = encode_request(StoredQueryId.FindDocuments, {"$XDSDocumentEntryPatientId": patient,
                                                         "$XDSDocumentEntryStatus": [Status.APPROVED.value]})
    slot = query.find(f".//{RIM}Slot")
    del slot.attrib["name"]  # rim:Slot/@name is required
    answer = post(service.url, query, Action.STORED_QUERY.value)
    ((code, context, _, _),) = response.read_errors(answer)
    assert code == ErrorCode.XDSRegistryError.value and "rim:Slot" in context and "name" in context


def test_a_query_value_longer_than_256_characters_is_accepted(registry: tuple[Service, str]) -> None:
    """ebRIM's LongName limit is not applied to query parameters (see xdsservice.schema_validation)."""
    service, _ = registry
    uuids = [f"urn:uuid:00000000-0000-4000-8000-{i:012d}" for i in range(20)]
    query = encode_request(StoredQueryId.GetDocuments, {"$XDSDocumentEntryEntryUUID": uuids})
    assert len(query.find(f".//{RIM}Value").text) > 256
    answer = post(service.url, query, Action.STORED_QUERY.value)
    assert answer.get("status") == ResponseStatus.SUCCESS.value, response.read_errors(answer)
