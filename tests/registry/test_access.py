"""The DMP access rules on the registry's ITI-42 (TD2.1) and ITI-18 (TD3.1), transaction level: a real SQL
store, the registry's handlers, a verified Principal as the security hook would set it (the end-to-end test
over HTTPS with signed and DIRECTE VIHFs is tests/test_dmp_access_e2e.py)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from harness.builders import DMP_PATIENT, MASQUE_PS, dmp_submission
from registry.app import Registry
from registry.config import RegistrySettings
from tests.dmp_records import MemoryRecords
from xdscore import soap, xmlsafe
from xdscore.access.record import ActorKind, Authorisation, PatientRecord
from xdscore.model import Code, PatientKey
from xdscore.principal import CodedValue, Principal
from xdscore.queries import ReturnType, encode_request
from xdscore.vocabulary import NS, Action, StoredQueryId
from xdsservice.soapapp import DecodedRequest, RequestContext
from xuatool.header import request

AUTHOR, DOCTOR, STRANGER, BLOCKED = "899900063480", "810000000001", "810000000007", "810000000009"
STRUCTURE = "499900063480001"
MEDECIN = (CodedValue("10", "1.2.250.1.71.1.2.7"), CodedValue("SM26", "1.2.250.1.71.4.2.5"))
PHARMACIEN = (CodedValue("21", "1.2.250.1.71.1.2.7"),)
OTHER_PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
RECORD = PatientRecord(DMP_PATIENT, authorised=(Authorisation(AUTHOR), Authorisation(DOCTOR), Authorisation(BLOCKED)),
                       blocked=frozenset({BLOCKED}))


def vihf(name_id: str, roles: tuple[CodedValue, ...] = MEDECIN, mode: str = "DIRECTE", access: str = "normal",
         structure: str = STRUCTURE) -> Principal:
    return Principal(subject_id=name_id, name_id=name_id, roles=roles, authentication_mode=mode,
                     access_mode=access, structure_id=structure, vihf_version="3.0")


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    # the handlers are called with their Principal: no WS-Security (required by default under dmp) here
    env = {"XDS_PROFILE": "dmp", "XDS_SECURITY": "optional", "XDS_DATA_DIR": str(tmp_path), "XDS_REGISTRY_FEED_PORT": "0",
           "XDS_AUDIT_SENDER_TRANSPORT": "off", "XDS_CONFIG": "/dev/null"}
    reg = Registry(RegistrySettings.load(env), records=MemoryRecords([RECORD, PatientRecord(OTHER_PATIENT)]))
    for patient in (DMP_PATIENT, OTHER_PATIENT):
        key = PatientKey.parse(patient)
        assert key is not None
        with reg.store.write() as tx:
            tx.save_patient(key, patient, {}, "20260101000000")
    yield reg


def call(handler, body: etree._Element, action: str, who: Principal | None) -> etree._Element:  # type: ignore[no-untyped-def]
    decoded = DecodedRequest(soap.read_envelope(xmlsafe.parse_bytes(request(body, action, None))))
    context = RequestContext("127.0.0.1", 1, "http://127.0.0.1/xds/registry", {}, who)
    reply = handler(decoded, context)
    if inspect.isawaitable(reply):  # ITI-42 is a coroutine (it waits for its group commit)
        reply = asyncio.run(reply)
    body_out = reply.body
    return xmlsafe.parse_bytes(body_out) if isinstance(body_out, bytes) else body_out


def submit(reg: Registry, who: Principal | None, **document: object) -> etree._Element:
    return call(reg.on_register, dmp_submission(**document).xml(), Action.REGISTER.value, who)


def query(reg: Registry, who: Principal | None, q: StoredQueryId = StoredQueryId.FindDocuments,
          return_type: ReturnType = ReturnType.LEAF_CLASS, **params: str | list[str]) -> etree._Element:
    params = params or {"$XDSDocumentEntryPatientId": DMP_PATIENT, "$XDSDocumentEntryStatus": [
        "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]}
    return call(reg.on_query, encode_request(q, dict(params), return_type), Action.STORED_QUERY.value, who)


def errors(response: etree._Element) -> list[tuple[str, str]]:
    return [(e.get("errorCode", ""), e.get("codeContext", "")) for e in response.iter(f"{{{NS.RS}}}RegistryError")]


def titles(response: etree._Element) -> list[str]:
    found = []
    for eo in response.iter(f"{{{NS.RIM}}}ExtrinsicObject"):
        name = eo.find(f"{{{NS.RIM}}}Name/{{{NS.RIM}}}LocalizedString")
        classification = [c.get("nodeRepresentation") for c in eo.iter(f"{{{NS.RIM}}}Classification")]
        found.append("signature" if "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1" in classification else
                     (name.get("value", "") if name is not None else "document"))
    return sorted(found)


def test_only_an_author_feeds_and_a_refused_submission_stores_nothing(registry: Registry) -> None:
    assert errors(submit(registry, vihf(DOCTOR))) and "rule 4" in errors(submit(registry, vihf(DOCTOR)))[0][1]
    assert query(registry, vihf(AUTHOR)).find(f"{{{NS.RIM}}}RegistryObjectList") is not None
    assert titles(query(registry, vihf(AUTHOR))) == []
    assert errors(submit(registry, vihf(AUTHOR))) == []
    assert len(titles(query(registry, vihf(AUTHOR)))) == 2


def test_a_patient_without_dmp_and_an_anonymous_caller_are_refused(registry: Registry) -> None:
    unknown = "1840112345678^^^&1.2.250.1.213.1.4.10&ISO^NH"
    key = PatientKey.parse(unknown)
    assert key is not None
    with registry.store.write() as tx:
        tx.save_patient(key, unknown, {}, "20260101000000")
    [(code, context)] = errors(submit(registry, vihf(AUTHOR), patient_id=unknown))
    assert code == "XDSUnknownPatientId" and "has no DMP" in context
    [(code, context)] = errors(submit(registry, None))
    assert code == "XDSRegistryError" and "no anonymous call" in context
    [(code, context)] = errors(query(registry, None))
    assert code == "XDSRegistryError" and "no anonymous call" in context


def test_each_caller_sees_what_the_rules_allow(registry: Registry) -> None:
    assert errors(submit(registry, vihf(AUTHOR))) == []
    masked = dmp_submission(confidentiality_codes=(*dmp_submission().submission().document_entries[0].confidentiality_codes,
                                                   MASQUE_PS))
    assert errors(call(registry.on_register, masked.xml(), Action.REGISTER.value, vihf(AUTHOR))) == []
    # the author: both documents and both signatures; an authorised doctor: the unmasked document only
    assert len(titles(query(registry, vihf(AUTHOR)))) == 4
    assert len(titles(query(registry, vihf(DOCTOR)))) == 1 and "signature" not in titles(query(registry, vihf(DOCTOR)))
    # the patient: both documents (masking is to professionals), no signature (INVISIBLE_PATIENT)
    assert len(titles(query(registry, vihf(DMP_PATIENT.split("^")[0], roles=()))))== 2
    # no authorisation, blocked, AIR without authorisation, indirect metadata search: refused with the rule
    for who, rule in ((vihf(STRANGER), 2), (vihf(BLOCKED), 3), (vihf(STRANGER, mode="INDIRECTE_RENFORCEE"), 2),
                      (vihf(STRUCTURE, roles=(), mode="INDIRECTE"), 12)):
        [(code, context)] = errors(query(registry, who))
        assert code == "XDSRegistryError" and f"rule {rule}," in context, context
    # centre 15: no authorisation needed
    assert len(titles(query(registry, vihf(STRANGER, access="centre_15")))) == 1


def test_hidden_entries_take_their_associations_with_them(registry: Registry) -> None:
    assert errors(submit(registry, vihf(AUTHOR))) == []
    sets = query(registry, vihf(DOCTOR), StoredQueryId.FindSubmissionSets, **{
        "$XDSSubmissionSetPatientId": DMP_PATIENT,
        "$XDSSubmissionSetStatus": ["urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"]})
    [package] = list(sets.iter(f"{{{NS.RIM}}}RegistryPackage"))
    contents = query(registry, vihf(DOCTOR), StoredQueryId.GetSubmissionSetAndContents,
                     **{"$XDSSubmissionSetEntryUUID": package.get("id", "")})
    assert len(titles(contents)) == 1 and "signature" not in titles(contents)
    kinds = sorted(a.get("associationType", "").rsplit(":", 1)[-1] for a in contents.iter(f"{{{NS.RIM}}}Association"))
    assert kinds == ["HasMember"]  # the signature's HasMember is gone with it
    everything = query(registry, vihf(AUTHOR), StoredQueryId.GetSubmissionSetAndContents,
                       **{"$XDSSubmissionSetEntryUUID": package.get("id", "")})
    assert len(list(everything.iter(f"{{{NS.RIM}}}Association"))) == 2


def test_indirect_reference_lookup_of_its_structure_documents(registry: Registry) -> None:
    assert errors(submit(registry, vihf(AUTHOR))) == []
    structure = vihf(STRUCTURE, roles=(), mode="INDIRECTE")
    refs = query(registry, structure, return_type=ReturnType.OBJECT_REF)
    assert errors(refs) == [] and len(list(refs.iter(f"{{{NS.RIM}}}ObjectRef"))) == 2
    other = vihf("499900000000002", roles=(), mode="INDIRECTE", structure="499900000000002")
    assert list(query(registry, other, return_type=ReturnType.OBJECT_REF).iter(f"{{{NS.RIM}}}ObjectRef")) == []


def test_the_records_structure_authorisation_counts_in_air(registry: Registry) -> None:
    assert errors(submit(registry, vihf(AUTHOR))) == []
    records = MemoryRecords([replace(RECORD, authorised=(Authorisation(STRUCTURE, ActorKind.STRUCTURE),))])
    assert registry.access is not None
    registry.access.records = records
    assert len(titles(query(registry, vihf(STRANGER, mode="INDIRECTE_RENFORCEE")))) == 1
    assert errors(query(registry, vihf(STRANGER)))  # DIRECTE: the professional's own authorisation only


def test_pharmacist_does_not_see_what_the_habilitation_matrix_denies(registry: Registry) -> None:
    directives = Code("EXPPAT_3", "1.2.250.1.213.1.1.4.12", "Directives anticipées")
    assert errors(submit(registry, vihf(AUTHOR))) == []
    assert errors(submit(registry, vihf(AUTHOR), type_code=directives)) == []
    pharmacist = "810000000003"
    registry.access.records = MemoryRecords([replace(RECORD, authorised=(Authorisation(pharmacist),))])  # type: ignore[union-attr]
    assert len(titles(query(registry, vihf(pharmacist, roles=PHARMACIEN)))) == 1
    registry.access.records = MemoryRecords([replace(RECORD, authorised=(Authorisation(DOCTOR),))])  # type: ignore[union-attr]
    assert len(titles(query(registry, vihf(DOCTOR)))) == 2
